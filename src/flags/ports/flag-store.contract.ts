import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditTrail } from '../../audit/ports/audit-trail.js';
import type { FlagChange, FlagStore } from './flag-store.js';

/** The contract of the FlagStore port, on a store that keeps the audit trail too (a change and its records go together). */
export function flagStoreContract(name: string, open: () => Promise<{ flags: FlagStore; audit: AuditTrail; close(): Promise<void> }>) {
  describe(`flag store contract: ${name}`, () => {
    let s: { flags: FlagStore; audit: AuditTrail; close(): Promise<void> };
    before(async () => {
      s = await open();
    });
    after(() => s.close());
    const actor = { kind: 'token', id: 't1', name: 'alice', role: 'deployer' } as const;
    const change = (over: Partial<FlagChange>): FlagChange => ({ events: [], actor, reason: '', links: {}, stages: {}, audit: [], ...over });
    const audit = (action: string) => ({ actor, action, reason: 'why', links: { stage: 'prod' }, outcome: 'done' as const });

    it('writes a change: the projection, its events, a revision per stage touched, and its audit records', async () => {
      assert.deepEqual(await s.flags.flagSnapshot(), { defs: {}, stages: {} });
      const def = { key: 'checkout', type: 'boolean' as const, variants: { on: true, off: false }, description: 'new checkout', owner: 'shop', changedAt: 10 };
      const r = await s.flags.changeFlags(10, () => ({
        result: 'made',
        change: change({
          events: [{ type: 'flag.define', flag: 'checkout', data: def }],
          reason: 'launch',
          links: { release: '1.2.0' },
          defs: { put: [def] },
          stages: { prod: { put: { checkout: { config: { state: 'DISABLED', defaultVariant: 'off' }, changedAt: 10 } }, segments: { testers: { in: [1, [1]] } } }, staging: {} },
          audit: [audit('flag.define')],
        }),
      }));
      assert.deepEqual(r, { result: 'made', revisions: { prod: 1, staging: 1 } });
      const snap = await s.flags.flagSnapshot();
      assert.deepEqual(snap.defs.checkout, def);
      assert.deepEqual(snap.stages.prod, {
        revision: 1,
        segments: { testers: { in: [1, [1]] } },
        segmentFileHashes: {},
        flags: { checkout: { config: { state: 'DISABLED', defaultVariant: 'off' }, changedAt: 10 } },
      });
      assert.equal(snap.stages.staging?.revision, 1);
      const events = await s.flags.flagEvents({ limit: 10 });
      assert.equal(events.length, 1);
      assert.deepEqual({ ...events[0], id: 0 }, { id: 0, type: 'flag.define', flag: 'checkout', data: def, actor, reason: 'launch', links: { release: '1.2.0' }, revisions: { prod: 1, staging: 1 }, at: 10 });
      assert.deepEqual((await s.audit.auditRecords(0, 10)).map((x) => [x.action, x.at]), [['flag.define', 10]]);
    });

    it('writes nothing of a change its decision refuses', async () => {
      await assert.rejects(
        s.flags.changeFlags(20, () => {
          throw new Error('refused');
        }),
        /refused/,
      );
      assert.equal((await s.flags.flagSnapshot()).stages.prod?.revision, 1);
      assert.equal((await s.flags.flagEvents({ limit: 10 })).length, 1);
      assert.equal((await s.audit.auditRecords(0, 10)).length, 1);
    });

    it('runs changes one at a time: each decision sees the one before it', async () => {
      const toggle = (at: number) =>
        s.flags.changeFlags(at, (now) => {
          const cur = now.stages.prod!.flags.checkout!.config;
          const next = { ...cur, state: cur.state === 'ENABLED' ? 'DISABLED' as const : 'ENABLED' as const };
          return {
            result: now.stages.prod!.revision,
            change: change({ events: [{ type: 'flag.set', stage: 'prod', flag: 'checkout', data: next }], stages: { prod: { put: { checkout: { config: next, changedAt: at } } } }, audit: [audit('flag.set')] }),
          };
        });
      const seen = await Promise.all([toggle(30), toggle(31), toggle(32)]);
      assert.deepEqual(seen.map((x) => x.result).sort(), [1, 2, 3]);
      const snap = await s.flags.flagSnapshot();
      assert.equal(snap.stages.prod?.revision, 4);
      assert.equal(snap.stages.prod?.flags.checkout?.config.state, 'ENABLED', 'three toggles from off');
      assert.deepEqual(snap.stages.prod?.segments, { testers: { in: [1, [1]] } }, 'segments not given stay');
      assert.equal((await s.audit.auditRecords(0, 10)).length, 4);
    });

    it('lists events by flag and by stage (declarations, which touch every stage, included), newest last', async () => {
      await s.flags.changeFlags(40, () => ({
        result: null,
        change: change({ events: [{ type: 'flag.set', stage: 'staging', flag: 'other', data: {} }], stages: { staging: { put: { other: { config: { state: 'ENABLED', defaultVariant: 'a' }, changedAt: 40, fileHash: 'h1' } } } } }),
      }));
      assert.deepEqual((await s.flags.flagEvents({ stage: 'staging', limit: 10 })).map((e) => [e.type, e.flag]), [['flag.define', 'checkout'], ['flag.set', 'other']]);
      assert.deepEqual((await s.flags.flagEvents({ flag: 'checkout', limit: 2 })).map((e) => e.type), ['flag.set', 'flag.set'], 'the newest two');
      assert.equal((await s.flags.flagEvents({ flag: 'checkout', limit: 10 })).length, 4);
      assert.equal((await s.flags.flagSnapshot()).stages.staging?.flags.other?.fileHash, 'h1');
      await s.flags.changeFlags(41, () => ({ result: null, change: change({ defs: { remove: ['checkout'] }, stages: { prod: { remove: ['checkout'] } } }) }));
      const snap = await s.flags.flagSnapshot();
      assert.equal(snap.defs.checkout, undefined);
      assert.deepEqual(snap.stages.prod?.flags, {});
      assert.equal(snap.stages.prod?.revision, 5);
    });

    it('keeps read keys by hash, revokes them once, with their audit records', async () => {
      await s.flags.createFlagKey({ id: 'k1', stage: 'prod', name: 'shop', hash: 'a'.repeat(64), createdAt: 50 }, [audit('flag-key.create')]);
      await s.flags.createFlagKey({ id: 'k2', stage: 'staging', name: 'shop', hash: 'b'.repeat(64), createdAt: 51 }, []);
      assert.deepEqual((await s.flags.listFlagKeys('prod')).map((k) => k.id), ['k1']);
      assert.equal((await s.flags.listFlagKeys()).length, 2);
      assert.equal(await s.flags.revokeFlagKey('k1', 60, [audit('flag-key.revoke')]), true);
      assert.equal(await s.flags.revokeFlagKey('k1', 61, [audit('flag-key.revoke')]), false);
      assert.equal((await s.flags.listFlagKeys('prod'))[0]?.revokedAt, 60);
      const actions = (await s.audit.auditRecords(0, 100)).map((r) => r.action);
      assert.deepEqual(actions.slice(-2), ['flag-key.create', 'flag-key.revoke']);
    });

    it('adds evaluation counts per stage, flag and variant, errors apart, keeping the last time', async () => {
      await s.flags.recordEvaluations([
        { stage: 'prod', flag: 'checkout', variant: 'on', count: 3, lastAt: 100 },
        { stage: 'prod', flag: 'checkout', variant: null, count: 1, lastAt: 90 },
      ]);
      await s.flags.recordEvaluations([{ stage: 'prod', flag: 'checkout', variant: 'on', count: 2, lastAt: 80 }]);
      assert.deepEqual(await s.flags.evaluationStats(), [{ stage: 'prod', flag: 'checkout', lastAt: 100, variants: { on: 5, '(error)': 1 } }]);
    });
  });
}
