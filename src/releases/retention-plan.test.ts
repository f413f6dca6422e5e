import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JourneySim, shopPlan } from '../../test/helpers/journey-sim.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import { type KeepReason, retentionPlan } from './retention-plan.js';

const TWO = shopPlan(`  staging:
    verify: { acceptance: t }
  prod:
    after: staging
    verify: { smoke: t }
`);

/** Creates and runs releases one after another, a minute apart. */
function ship(s: JourneySim, versions: string[]): void {
  for (const v of versions) {
    s.now += 60_000;
    s.create(v);
    s.run();
  }
}

const records = (s: JourneySim) => s.all().map((j) => ({ ...j.release, createdAt: j.createdAt, journeyId: j.id }));

/** A stage's kept releases by version, with why, for readable assertions. */
const kept = (m: Map<string, KeepReason> | undefined) =>
  Object.fromEntries([...(m ?? [])].map(([digest, why]) => [digest.replace('sha256:', ''), why]).sort(([a], [b]) => a!.localeCompare(b!)));

describe('retention plan', () => {
  it('keeps the newest N releases each stage ran, and the artifacts of those only', () => {
    const s = new JourneySim(TWO);
    ship(s, ['1', '2', '3', '4', '5', '6', '7']);
    const plan = retentionPlan({ journeys: s.all(), releases: records(s), keep: 3 });
    for (const stage of ['staging', 'prod']) assert.deepEqual(kept(plan.stages.get(stage)), { 5: 'newest', 6: 'rollback-target', 7: 'serving' }, stage);
    assert.deepEqual(kept(plan.artifacts), { 5: 'newest', 6: 'rollback-target', 7: 'serving' });
    // A larger setting keeps more; the plan is not fixed at three.
    assert.deepEqual(Object.keys(kept(retentionPlan({ journeys: s.all(), releases: records(s), keep: 5 }).stages.get('prod'))), ['3', '4', '5', '6', '7']);
  });

  it('counts per stage: a stage that ran fewer releases keeps older ones another stage let go', () => {
    const s = new JourneySim(TWO);
    ship(s, ['1', '2']);
    // From 3 on, prod waits for a person; nothing gets past staging.
    const gated = shopPlan(`  staging:
    verify: { acceptance: t }
  prod:
    after: staging
    autoPromote: false
`);
    for (const v of ['3', '4', '5']) {
      s.now += 60_000;
      s.create(v, gated);
      s.run();
    }
    assert.deepEqual(['3', '4', '5'].map((v) => s.get(v).stages.prod!.status), ['awaiting-promotion', 'awaiting-promotion', 'awaiting-promotion']);
    const plan = retentionPlan({ journeys: s.all(), releases: records(s), keep: 2 });
    // staging ran 1 to 5 and keeps two; 3 is done there, though its journey still waits for prod.
    assert.deepEqual(kept(plan.stages.get('staging')), { 4: 'rollback-target', 5: 'serving' });
    // prod ran only 1 and 2, and keeps both; 3, 4 and 5 may still be promoted into it.
    assert.deepEqual(kept(plan.stages.get('prod')), { 1: 'rollback-target', 2: 'serving', 3: 'in-flight', 4: 'in-flight', 5: 'in-flight' });
    assert.deepEqual(kept(plan.artifacts), { 1: 'rollback-target', 2: 'serving', 3: 'in-flight', 4: 'rollback-target', 5: 'serving' });
  });

  it('with N = 1 still keeps what is served and the rollback target of every stage', () => {
    const s = new JourneySim(TWO);
    ship(s, ['1', '2', '3']);
    const plan = retentionPlan({ journeys: s.all(), releases: records(s), keep: 1 });
    assert.deepEqual(kept(plan.stages.get('prod')), { 2: 'rollback-target', 3: 'serving' });
    assert.deepEqual(kept(plan.artifacts), { 2: 'rollback-target', 3: 'serving' });
  });

  it('after a rollback keeps what the stage went back to, and the failed release\'s artifact for a retry', () => {
    const s = new JourneySim(TWO);
    ship(s, ['1', '2', '3']);
    s.outcome = (r) => (r.key === '4/prod/verify:smoke' ? { ok: false, reason: 'exit code 1' } : { ok: true });
    ship(s, ['4']);
    assert.equal(s.get('4').stages.prod!.status, 'rolled-back');
    const plan = retentionPlan({ journeys: s.all(), releases: records(s), keep: 1 });
    // prod serves 3 again; 4 ran there, but longer ago than the rollback. staging serves 4, and may go back to 3.
    assert.deepEqual(kept(plan.stages.get('prod')), { 3: 'serving' });
    assert.deepEqual(kept(plan.stages.get('staging')), { 3: 'rollback-target', 4: 'serving' });
    assert.equal(plan.artifacts.get('sha256:4'), 'serving');
    assert.equal(plan.artifacts.has('sha256:2'), false, 'nothing needs 2 any more');
  });

  it('keeps a canary, the stable it is compared with, and what the stage rolls back to, with N = 1', () => {
    const canaryPlan = parsePipeline(`app: shop
artifact: { output: dist }
defaults:
  local: { start: node server.js }
stages:
  prod:
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
`);
    const s = new JourneySim(canaryPlan);
    ship(s, ['1', '2']);
    // 1 went out all at once (nothing ran before it); 2 rolls out as a canary and waits at its pause until resumed.
    assert.equal(s.get('2').stages.prod!.status, 'paused');
    s.append('2', { type: 'stage.resumed', stage: 'prod', by: 'ops', step: 'canary:1' });
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
    ship(s, ['3']);
    assert.equal(s.get('3').stages.prod!.status, 'paused', '3 rolls out as a canary and waits');
    const plan = retentionPlan({ journeys: s.all(), releases: records(s), keep: 1 });
    assert.deepEqual(kept(plan.stages.get('prod')), { 1: 'rollback-target', 2: 'serving', 3: 'canary' });
    assert.deepEqual(kept(plan.artifacts), { 1: 'rollback-target', 2: 'serving', 3: 'canary' });
  });

  it('keeps the artifact of a release whose journey is not loaded yet, and of the newest releases created', () => {
    const s = new JourneySim(TWO);
    s.outcome = (r) => (r.stage === 'commit' ? { ok: false } : { ok: true });
    const withCommit = shopPlan(`  prod:
    verify: { smoke: t }
`, `commit: { steps: { unit: t } }`);
    for (const v of ['1', '2', '3']) {
      s.now += 60_000;
      s.create(v, withCommit);
      s.run();
    }
    assert.equal(s.get('3').status, 'failed');
    const fresh = { version: '4', digest: 'sha256:4', createdAt: s.now + 1, journeyId: 'not-loaded' };
    const plan = retentionPlan({ journeys: s.all(), releases: [...records(s), fresh], keep: 2 });
    // No stage ever ran 1, 2 or 3; 3 may still be retried, 4 is about to start.
    assert.deepEqual(kept(plan.artifacts), { 3: 'recent-release', 4: 'in-flight' });
  });

  it('refuses a setting below 1', () => {
    assert.throws(() => retentionPlan({ journeys: [], releases: [], keep: 0 }), /at least 1/);
  });
});
