import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isSluiceError } from '../../kernel/errors.js';
import type { StagePlan } from '../../pipeline/pipeline.js';
import type { AuditTrail } from '../../audit/ports/audit-trail.js';
import type { Actor, AuditDraft, DesiredStage, JourneyEvent, JourneyLog } from './journey-log.js';

const ENGINE: Actor = { kind: 'system', reason: 'a step ended' };
const bob: Actor = { kind: 'token', id: 't-2', name: 'bob', role: 'approver' };

const stagePlan = { name: 'one', after: [], target: 'local', env: {}, config: {}, verify: [], approval: false, bakeMs: 0, autoPromote: true } as unknown as StagePlan;
const created = (version: string): JourneyEvent => ({
  type: 'journey.created',
  release: { version, digest: `sha256:${version}` },
  plan: { app: 'a', artifact: { output: 'd' }, commit: { budgetMs: 1000, steps: [] }, stages: [stagePlan] },
});
const started = (step: string): JourneyEvent => ({ type: 'step.started', stage: 'one', step, key: `k/${step}` });
const desired = (version: string, weight?: number): DesiredStage => ({
  stage: 'one',
  stable: { release: { version, digest: `sha256:${version}` }, journeyId: 'j1' },
  canary: weight === undefined ? null : { release: { version: 'next', digest: 'sha256:next' }, journeyId: 'j2', weight },
  plan: stagePlan,
});

/**
 * The contract of the JourneyLog port. `open` gives a fresh, empty log; `reopen` (for a durable one) closes it and
 * opens the same one again. An adapter runs it in one line: `journeyLogContract('mine', () => openMine())`.
 */
type Log = JourneyLog & Pick<AuditTrail, 'auditRecords'> & { close(): Promise<void> };
const approval = (stage: string): AuditDraft => ({ actor: bob, action: 'stage.approve', reason: 'looks good', links: { release: '1.0.0', stage }, outcome: 'done' });

export function journeyLogContract(name: string, open: () => Promise<Log>, reopen?: (l: Log) => Promise<Log>) {
  describe(`journey log contract: ${name}`, () => {
    let log: Log;
    before(async () => {
      log = await open();
    });
    after(() => log.close());

    it('starts a journey at position 0, appends after the expected position, and rejects a stale writer without writing', async () => {
      const first = await log.appendEvents('j1', -1, [created('1.0.0')], 1_700_000_000_000, ENGINE);
      assert.deepEqual(first.map((e) => [e.seq, e.type, e.journeyId, e.at]), [[0, 'journey.created', 'j1', 1_700_000_000_000]]);
      const out = await log.appendEvents('j1', 0, [started('a'), started('b')], 1_700_000_001_000, ENGINE);
      assert.deepEqual(out.map((e) => [e.seq, e.type]), [[1, 'step.started'], [2, 'step.started']]);
      assert.ok(out[1]!.id > out[0]!.id && out[0]!.id > first[0]!.id);
      await assert.rejects(log.appendEvents('j1', 1, [started('c')], 0, ENGINE), (e) => isSluiceError(e) && e.code === 'CONFLICT');
      assert.equal((await log.loadEvents('j1')).length, 3);
    });

    it('lets exactly one of two concurrent writers at the same position in', async () => {
      const results = await Promise.allSettled([log.appendEvents('j1', 2, [started('x')], 1, ENGINE), log.appendEvents('j1', 2, [started('y')], 1, ENGINE)]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(isSluiceError(rejected.reason) && rejected.reason.code === 'CONFLICT');
      assert.equal((await log.loadEvents('j1')).length, 4);
    });

    it('orders events of all journeys globally and pages through them', async () => {
      await log.appendEvents('j2', -1, [created('2.0.0'), started('a')], 1_700_000_003_000, ENGINE);
      const all = await log.loadEvents();
      assert.equal(all.length, 6);
      assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort((a, b) => a - b));
      const page1 = await log.eventsAfter(0, 4);
      const page2 = await log.eventsAfter(page1.at(-1)!.id, 4);
      assert.deepEqual([...page1, ...page2], all);
      assert.deepEqual((await log.loadEvents('j2')).map((e) => e.journeyId), ['j2', 'j2']);
    });

    it('keeps who caused each event, and the audit records written with them; a refused append writes neither', async () => {
      const before = await log.auditRecords(0, 100);
      const [e] = await log.appendEvents('j3', -1, [{ type: 'stage.approved', stage: 'one', by: 'bob' }], 1_700_000_004_000, bob, [], [approval('one')]);
      assert.deepEqual(e!.actor, bob);
      await assert.rejects(log.appendEvents('j3', -1, [started('again')], 1_700_000_005_000, bob, [], [approval('two')]), (x) => isSluiceError(x) && x.code === 'CONFLICT');
      const added = (await log.auditRecords(0, 100)).slice(before.length);
      assert.deepEqual(added.map((r) => [r.action, r.links.stage, r.actor, r.at]), [['stage.approve', 'one', bob, 1_700_000_004_000]]);
      assert.deepEqual((await log.loadEvents('j3')).map((x) => [x.type, x.actor]), [['stage.approved', bob]]);
      assert.deepEqual((await log.loadEvents('j1'))[0]!.actor, ENGINE);
    });

    it('keeps the desired state written with the events that change it, and nothing of a write that was refused', async () => {
      assert.deepEqual(await log.desiredStages(), []);
      await log.appendEvents('j1', 3, [started('deploy')], 5, ENGINE, [desired('1.0.0')]);
      assert.deepEqual(await log.desiredStages(), [desired('1.0.0')]);
      await assert.rejects(log.appendEvents('j1', 3, [started('z')], 6, ENGINE, [desired('9.9.9')], [approval('z')]));
      assert.deepEqual(await log.desiredStages(), [desired('1.0.0')], 'a refused append changes no desired state');
      await log.appendEvents('j1', 4, [started('traffic')], 7, ENGINE, [desired('1.0.0', 10)]);
      assert.deepEqual(await log.desiredStages(), [desired('1.0.0', 10)]);
      await log.replaceDesiredStages([{ ...desired('1.0.0'), stage: 'two' }]);
      assert.deepEqual((await log.desiredStages()).map((d) => d.stage), ['two']);
      await log.replaceDesiredStages([desired('1.0.0', 10)]);
    });

    if (reopen)
      it('keeps events and desired state across a close and reopen', async () => {
        const before = await log.loadEvents();
        const d = await log.desiredStages();
        log = await reopen(log);
        assert.deepEqual(await log.loadEvents(), before);
        assert.deepEqual(await log.desiredStages(), d);
      });
  });
}
