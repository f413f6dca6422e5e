import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../kernel/actor.js';
import { verifyTrail } from '../audit-trail-check.js';
import { type AuditDraft, type AuditTrail, EMPTY_HEAD } from './audit-trail.js';

type Trail = AuditTrail & { close(): Promise<void> };
const alice: Actor = { kind: 'token', id: 't-1', name: 'alice', role: 'approver' };
const engine: Actor = { kind: 'system', reason: 'the verify step failed' };
const draft = (action: string, actor: Actor, links: Record<string, string>, reason = ''): AuditDraft => ({ actor, action, reason, links, outcome: 'done' });

/**
 * The contract of the AuditTrail port: one chain, appended only, with its head; filters; and, given `second` (another
 * writer on the same data, e.g. another process's connection to one PostgreSQL), concurrent appends that stay one line.
 */
export function auditTrailContract(
  name: string,
  open: () => Promise<Trail>,
  options: { reopen?: (t: Trail) => Promise<Trail>; second?: () => Promise<Trail> } = {},
) {
  describe(`audit trail contract: ${name}`, () => {
    let trail: Trail;
    before(async () => {
      trail = await open();
    });
    after(() => trail.close());

    it('starts empty, and chains each record to the one before, with the head at the last', async () => {
      assert.deepEqual(await trail.auditHead(), EMPTY_HEAD);
      assert.deepEqual(await verifyTrail(trail), { ok: true, count: 0, head: EMPTY_HEAD });
      const first = await trail.appendAudit([draft('release.create', alice, { release: '1.0.0', journey: 'j1' })], 1_700_000_000_123);
      const more = await trail.appendAudit(
        [draft('stage.deploy', engine, { release: '1.0.0', stage: 'staging' }, '1.0.0 replaces nothing'), { ...draft('stage.approve', alice, { release: '1.0.0', stage: 'prod' }, 'ok'), detail: { nested: { b: 1, a: [1, 'x'] } } }],
        1_700_000_001_000,
      );
      const all = [...first, ...more];
      assert.deepEqual(all.map((r) => r.seq), [1, 2, 3]);
      assert.equal(all[0]!.prevHash, EMPTY_HEAD.hash);
      assert.equal(all[1]!.prevHash, all[0]!.hash);
      assert.equal(all[2]!.prevHash, all[1]!.hash);
      assert.deepEqual(await trail.auditHead(), { seq: 3, hash: all[2]!.hash });
      assert.deepEqual(await trail.auditRecords(0, 10), all, 'stored as appended, detail and links included');
      assert.deepEqual(await trail.auditRecords(1, 1), [all[1]]);
      assert.deepEqual(await verifyTrail(trail), { ok: true, count: 3, head: { seq: 3, hash: all[2]!.hash } });
    });

    it('lists by actor, action, release, stage and time, the newest `limit` in chain order', async () => {
      const seqs = async (f: Parameters<AuditTrail['listAudit']>[0]) => (await trail.listAudit(f)).map((r) => r.seq);
      assert.deepEqual(await seqs({ limit: 10 }), [1, 2, 3]);
      assert.deepEqual(await seqs({ limit: 2 }), [2, 3]);
      assert.deepEqual(await seqs({ limit: 10, actor: 'alice' }), [1, 3]);
      assert.deepEqual(await seqs({ limit: 10, actor: 'sluice' }), [2]);
      assert.deepEqual(await seqs({ limit: 10, action: 'stage.approve' }), [3]);
      assert.deepEqual(await seqs({ limit: 10, release: '1.0.0', stage: 'staging' }), [2]);
      assert.deepEqual(await seqs({ limit: 10, since: 1_700_000_000_500 }), [2, 3]);
      assert.deepEqual(await seqs({ limit: 10, actor: 'nobody' }), []);
    });

    it('appends concurrently as one line', async () => {
      await Promise.all(Array.from({ length: 8 }, (_, i) => trail.appendAudit([draft('token.create', alice, { token: `t${i}` })], 1_700_000_002_000 + i)));
      const v = await verifyTrail(trail);
      assert.equal(v.ok, true, JSON.stringify(v));
      assert.equal(v.count, 11);
    });

    if (options.second)
      it('stays one line with two writers on the same data appending at once', async () => {
        const other = await options.second!();
        try {
          const writes = Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? trail : other).appendAudit([draft('stage.pause', alice, { stage: `s${i}` }), draft('stage.resume', alice, { stage: `s${i}` })], 1_700_000_003_000 + i),
          );
          await Promise.all(writes);
          const v = await verifyTrail(other);
          assert.equal(v.ok, true, JSON.stringify(v));
          assert.equal(v.count, 51);
          assert.deepEqual((await trail.auditRecords(0, 100)).map((r) => r.seq), Array.from({ length: 51 }, (_, i) => i + 1));
        } finally {
          await other.close();
        }
      });

    if (options.reopen)
      it('keeps the chain and its head across a close and reopen', async () => {
        const records = await trail.auditRecords(0, 1000);
        const head = await trail.auditHead();
        trail = await options.reopen!(trail);
        assert.deepEqual(await trail.auditRecords(0, 1000), records);
        assert.deepEqual(await trail.auditHead(), head);
        assert.equal((await verifyTrail(trail)).ok, true);
      });
  });
}
