import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import { verifyTrail } from '../audit/audit-trail-check.js';
import type { TokenActor } from '../kernel/actor.js';
import { systemClock } from '../kernel/clock.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import type { EffectRunner } from './effect-runner.js';
import { Executor } from './executor.js';
import { approveCommand } from './journey-commands.js';

const plan = parsePipeline(`app: a
artifact: { output: d }
stages:
  staging:
    target: command
    command: { deploy: "true" }
    verify: { check: "true" }
  prod:
    after: staging
    target: command
    command: { deploy: "true" }
    approval: true
`);
const alice: TokenActor = { kind: 'token', id: 't-1', name: 'alice', role: 'approver' };
// Every step passes, but 2.0.0's verification.
const runner: EffectRunner = { run: async (r, j) => ({ ok: !(r.step.startsWith('verify') && j.release.version === '2.0.0'), exitCode: 0 }) };

async function journey(store: MemoryStore, ex: Executor, version: string) {
  const id = `j-${version}`;
  await store.createRelease({ version, digest: `sha256:${version}`, createdAt: 1, journeyId: id }, { type: 'journey.created', release: { version, digest: `sha256:${version}` }, plan }, alice);
  await ex.track(id);
  return id;
}
const settled = async (ex: Executor, id: string, until: (status: string, prod: string | undefined) => boolean) => {
  while (!until(ex.get(id)!.status, ex.get(id)!.stages.prod?.status)) await sleep(5);
};

describe('who causes what the executor appends', () => {
  it("names the person's token on their command, and Sluice with the reason on what it does; audits both with the events", async () => {
    const store = new MemoryStore();
    const ex = new Executor({ store, clock: systemClock, runner });
    const id = await journey(store, ex, '1.0.0');
    await settled(ex, id, (_, prod) => prod === 'awaiting-approval');
    const draft = { actor: alice, action: 'stage.approve', reason: 'ok', links: { release: '1.0.0' }, outcome: 'done' as const };
    await ex.command((all) => approveCommand(all.find((j) => j.id === id)!, 'prod', alice), alice, draft);
    await settled(ex, id, (status) => status !== 'running');
    const events = await store.loadEvents(id);
    assert.deepEqual(events[0]!.actor, alice, 'the release was created by alice');
    const approved = events.find((e) => e.type === 'stage.approved')!;
    assert.deepEqual(approved.actor, alice);
    const reasons = events.filter((e) => e.actor.kind === 'system').map((e) => (e.actor.kind === 'system' ? e.actor.reason : ''));
    assert.ok(reasons.includes('decided after the release was created'));
    assert.ok(reasons.includes('the verify:check step of staging ended'));
    assert.equal(events.filter((e) => e.actor.kind === 'token').length, 2, 'only the creation and the approval are alice\'s');
    const records = await store.auditRecords(0, 100);
    assert.deepEqual(
      records.map((r) => [r.action, r.actor.kind, r.links.stage, r.links.journey]),
      [['stage.deploy', 'system', 'staging', id], ['stage.deploy', 'system', 'prod', id], ['stage.approve', 'token', 'prod', id]],
      'the approval is linked to the journey and the stage the command picked',
    );
    await ex.stop();
  });

  it('audits an automatic rollback as Sluice\'s, with the failure as its reason', async () => {
    const store = new MemoryStore();
    const ex = new Executor({ store, clock: systemClock, runner });
    await journey(store, ex, '1.0.0');
    await settled(ex, 'j-1.0.0', (_, prod) => prod === 'awaiting-approval');
    await ex.command((all) => approveCommand(all.find((j) => j.id === 'j-1.0.0')!, 'prod', alice), alice);
    await settled(ex, 'j-1.0.0', (status) => status !== 'running');
    const id = await journey(store, ex, '2.0.0');
    await settled(ex, id, (status) => status !== 'running');
    const rollback = (await store.listAudit({ limit: 10, action: 'stage.rollback' }))[0]!;
    assert.deepEqual(rollback.actor, { kind: 'system', reason: 'decided after the verify:check step of staging ended' });
    assert.deepEqual(rollback.links, { release: '2.0.0', journey: id, stage: 'staging' });
    assert.match(rollback.reason, /^back to 1\.0\.0: /);
    assert.equal((await store.listAudit({ limit: 10, action: 'stage.approve' })).length, 0, 'a command without a draft writes no record');
    assert.equal((await verifyTrail(store)).ok, true);
    await ex.stop();
  });
});
