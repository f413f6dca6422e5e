import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JourneySim, shopPlan } from '../../test/helpers/journey-sim.js';
import { buildBoard } from './board.js';
import { isSluiceError } from '../kernel/errors.js';
import { approveCommand, promoteCommand, rejectCommand, retryCommand, rollbackCommand } from './journey-commands.js';
import { decide, laneWait, liveReleases } from './journey-decider.js';
import { reduceJourney } from './journey-reducer.js';
import type { TokenActor } from '../kernel/actor.js';

const person = (name: string): TokenActor => ({ kind: 'token', id: `token-${name}`, name, role: 'admin' });

const plan = shopPlan;

const THREE = plan(`  integ:
    verify: { integration: t1 }
  staging:
    after: integ
    verify: { integration: t1, acceptance: t2 }
  prod:
    after: staging
    verify: { smoke: t3 }
`);

describe('journey reducer and decider', () => {
  it('carries a release through every stage in order, each step once', () => {
    const s = new JourneySim(THREE);
    s.create('1.0.0');
    s.run();
    const j = s.get('1.0.0');
    assert.equal(j.status, 'succeeded');
    assert.deepEqual(s.executed, [
      '1.0.0/integ/deploy',
      '1.0.0/integ/verify:integration',
      '1.0.0/staging/deploy',
      '1.0.0/staging/verify:integration',
      '1.0.0/staging/verify:acceptance',
      '1.0.0/prod/deploy',
      '1.0.0/prod/verify:smoke',
    ]);
    assert.equal(liveReleases([j]).get('prod')?.release?.version, '1.0.0');
  });

  it('fails a stage on a failed verify, rolls it back to what it ran before, and stops there', () => {
    const s = new JourneySim(THREE);
    s.create('1.0.0');
    s.run();
    s.outcome = (r) =>
      r.key === '2.0.0/staging/verify:acceptance' ? { ok: false, reason: 'exit code 1' } : { ok: true };
    s.create('2.0.0');
    s.run();
    const j = s.get('2.0.0');
    assert.equal(j.status, 'failed');
    assert.equal(j.stages.staging!.status, 'rolled-back');
    assert.equal(j.stages.prod!.status, 'skipped');
    assert.deepEqual(j.failure, { stage: 'staging', reason: 'verify:acceptance failed: exit code 1' });
    const rollback = s.executed.find((k) => k === '2.0.0/staging/rollback');
    assert.ok(rollback);
    const live = liveReleases([...s.states.values()]);
    assert.equal(live.get('staging')?.release?.version, '1.0.0');
    assert.equal(live.get('prod')?.release?.version, '1.0.0');
    assert.equal(live.get('integ')?.release?.version, '2.0.0');
    assert.ok(!s.executed.includes('2.0.0/prod/deploy'));
  });

  it('rolls a first release back to nothing', () => {
    const s = new JourneySim(THREE, (r) =>
      r.step === 'deploy' && r.stage === 'integ' ? { ok: false, reason: 'unhealthy' } : { ok: true },
    );
    s.create('1.0.0');
    s.run();
    const j = s.get('1.0.0');
    assert.equal(j.stages.integ!.status, 'rolled-back');
    assert.equal(j.stages.integ!.previous, null);
    assert.equal(liveReleases([j]).get('integ')?.release, null);
  });

  it('a failed rollback leaves the stage failed with both reasons', () => {
    const s = new JourneySim(THREE, (r) =>
      r.stage === 'integ' && r.step !== 'deploy' ? { ok: false, reason: `${r.step} broke` } : { ok: true },
    );
    s.create('1.0.0');
    s.run();
    const st = s.get('1.0.0').stages.integ!;
    assert.equal(st.status, 'failed');
    assert.match(st.failure!, /verify:integration failed: verify:integration broke; rollback failed: rollback broke/);
    assert.equal(s.get('1.0.0').status, 'failed');
  });

  it('runs commit steps in parallel, warns at 80% of the budget and fails past it', () => {
    const p = plan('  a: {}\n', 'commit:\n  budget: 100s\n  steps: { lint: l, unit: u }\n');
    const s = new JourneySim(THREE, (r) => (r.step === 'unit' ? 'hold' : { ok: true }));
    s.create('1.0.0', p);
    const wake1 = s.settle();
    const started = s.get('1.0.0').commit.stepOrder;
    assert.deepEqual(started, ['lint', 'unit']);
    assert.equal(wake1, 1_000_000 + 80_000);
    s.now = wake1!;
    const wake2 = s.settle();
    assert.deepEqual(s.get('1.0.0').commit.warnings, ['commit stage has used 80% of its 100s budget']);
    assert.equal(wake2, 1_000_000 + 100_000);
    s.now = wake2!;
    s.settle();
    const j = s.get('1.0.0');
    assert.equal(j.commit.status, 'failed');
    assert.equal(j.commit.steps.unit!.reason, 'commit budget of 100s exceeded');
    assert.equal(j.status, 'failed');
    assert.equal(j.stages.a!.status, 'skipped');
  });

  it('waits for all parents (fan-in) before entering a stage', () => {
    const p = plan('  a: {}\n  b: {}\n  c:\n    after: [a, b]\n');
    const s = new JourneySim(THREE, (r) => (r.key === '1/b/deploy' ? 'hold' : { ok: true }));
    s.create('1', p);
    s.settle();
    assert.equal(s.get('1').stages.a!.status, 'passed');
    assert.equal(s.get('1').stages.c!.status, 'waiting');
    s.outcome = () => ({ ok: true });
    s.run();
    assert.equal(s.get('1').status, 'succeeded');
  });

  it('region waves: in sequence a failure in the first wave stops the second; in parallel both go at once', () => {
    const waves = plan(`  staging: {}
  prod-us:
    after: staging
    env: { DATA_RESIDENCY: us }
  prod-eu:
    after: prod-us
    env: { DATA_RESIDENCY: eu }
`);
    assert.deepEqual(
      waves.stages.map((x) => [x.name, x.env.DATA_RESIDENCY ?? '']),
      [
        ['staging', ''],
        ['prod-us', 'us'],
        ['prod-eu', 'eu'],
      ],
    );
    const seq = new JourneySim(THREE, (r) => (r.key === '1/prod-us/deploy' ? { ok: false, reason: 'unhealthy' } : { ok: true }));
    seq.create('1', waves);
    seq.run();
    assert.equal(seq.get('1').stages['prod-us']!.status, 'rolled-back');
    assert.equal(seq.get('1').stages['prod-eu']!.status, 'skipped');
    assert.ok(!seq.executed.some((k) => k.startsWith('1/prod-eu/')));

    const parallel = plan(`  staging: {}
  prod-us:
    after: staging
  prod-eu:
    after: staging
`);
    const par = new JourneySim(THREE, (r) => (r.step === 'deploy' && r.stage !== 'staging' ? 'hold' : { ok: true }));
    par.create('1', parallel);
    par.settle();
    assert.equal(par.get('1').stages['prod-us']!.status, 'deploying');
    assert.equal(par.get('1').stages['prod-eu']!.status, 'deploying', 'both regions deploy at once');
  });

  it('bakes for the configured time, then checks health', () => {
    const p = plan('  a:\n    bake: 30s\n');
    const s = new JourneySim(THREE);
    s.create('1', p);
    const wake = s.settle();
    assert.equal(s.get('1').stages.a!.status, 'baking');
    assert.equal(wake, 1_000_000 + 30_000);
    assert.ok(!s.executed.includes('1/a/bake-check'));
    s.now = wake!;
    s.settle();
    assert.ok(s.executed.includes('1/a/bake-check'));
    assert.equal(s.get('1').status, 'succeeded');
  });

  it('waits for approval, and a rejection rolls back with the comment', () => {
    const p = plan('  a:\n    approval: true\n  b:\n    after: a\n');
    const s = new JourneySim(THREE);
    s.create('1', p);
    s.run();
    assert.equal(s.get('1').stages.a!.status, 'awaiting-approval');
    assert.equal(s.get('1').status, 'running');
    assert.throws(() => approveCommand(s.get('1'), 'b', person('lead')), /at b: the stage is waiting, not awaiting-approval/);
    const c = approveCommand(s.get('1'), undefined, person('lead'), 'looks good');
    s.append(c.journeyId, c.event);
    s.run();
    assert.equal(s.get('1').status, 'succeeded');

    s.create('2', p);
    s.run();
    assert.throws(() => rejectCommand(s.get('2'), 'a', person('lead'), ' '), /needs a comment/);
    const r = rejectCommand(s.get('2'), 'a', person('lead'), 'copy is wrong');
    s.append(r.journeyId, r.event);
    s.run();
    assert.equal(s.get('2').stages.a!.status, 'rolled-back');
    assert.equal(s.get('2').failure?.reason, 'rejected by lead: copy is wrong');
  });

  it('waits for a person when autoPromote is false', () => {
    const p = plan('  a: {}\n  b:\n    after: a\n    autoPromote: false\n');
    const s = new JourneySim(THREE);
    s.create('1', p);
    s.run();
    assert.equal(s.get('1').stages.b!.status, 'awaiting-promotion');
    assert.throws(() => promoteCommand(s.get('1'), 'a', person('me'), s.now), /INVALID_STATE|not awaiting-promotion/);
    const c = promoteCommand(s.get('1'), undefined, person('me'), s.now);
    s.append(c.journeyId, c.event);
    s.run();
    assert.equal(s.get('1').status, 'succeeded');
  });

  it('lets one journey hold a stage at a time, and a newer release supersedes an older one waiting for it', () => {
    const s = new JourneySim(THREE, (r) => (r.key === '1/staging/verify:acceptance' ? 'hold' : { ok: true }));
    s.create('1');
    s.settle();
    s.create('2');
    s.create('3');
    s.settle();
    // 1 holds staging. 2 and 3 both pass integ and wait for staging: the newer one wins, the older stops.
    assert.equal(s.get('1').stages.staging!.status, 'verifying');
    assert.equal(s.get('2').status, 'superseded');
    assert.equal(s.get('2').stages.staging!.status, 'skipped');
    assert.equal(s.get('3').stages.staging!.status, 'ready');
    s.outcome = () => ({ ok: true });
    s.run();
    assert.equal(s.get('1').status, 'succeeded');
    assert.equal(s.get('2').status, 'superseded');
    assert.equal(s.get('2').supersededBy, '3');
    assert.equal(s.get('3').status, 'succeeded');
    assert.ok(!s.executed.includes('2/staging/deploy'));
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '3');
  });

  it('a stage with lane maxAhead 1 takes the next release, in order and none superseded, only once the one ahead has reached the last stage', () => {
    const LANE = plan(`  integ:
    verify: { integration: t1 }
  staging:
    after: integ
    lane: { maxAhead: 1 }
    verify: { acceptance: t2 }
  prod:
    after: staging
    verify: { smoke: t3 }
`);
    // Release 1 stays in prod's smoke test until told; 2 and 3 come meanwhile.
    const held = new Set(['1/prod/verify:smoke']);
    const s = new JourneySim(LANE, (r) => (held.has(r.key) ? 'hold' : { ok: true }));
    s.create('1');
    s.settle();
    // Each passes integ (which has no lane) before the next comes, and waits for staging.
    s.create('2');
    s.settle();
    s.create('3');
    s.settle();
    assert.equal(s.get('1').stages.prod!.status, 'verifying');
    const staging = LANE.stages.find((x) => x.name === 'staging')!;
    for (const v of ['2', '3']) {
      assert.equal(s.get(v).status, 'running', `${v} waits, not superseded`);
      assert.equal(s.get(v).stages.staging!.status, 'ready');
    }
    assert.deepEqual(laneWait(s.get('2'), staging, [...s.states.values()]), { ahead: ['1'], before: [] });
    assert.deepEqual(laneWait(s.get('3'), staging, [...s.states.values()]), { ahead: ['1'], before: ['2'] });

    // 1 reaches prod: 2 enters staging, and 3 waits for 2 to reach prod in turn.
    held.delete('1/prod/verify:smoke');
    held.add('2/prod/verify:smoke');
    s.settle();
    assert.equal(s.get('1').status, 'succeeded');
    assert.equal(s.get('2').stages.prod!.status, 'verifying');
    assert.equal(s.get('3').stages.staging!.status, 'ready');
    assert.deepEqual(laneWait(s.get('3'), staging, [...s.states.values()]), { ahead: ['2'], before: [] });

    // A release ahead that fails frees its place too.
    s.outcome = (r) => (r.key === '2/prod/verify:smoke' ? { ok: false, reason: 'smoke failed' } : { ok: true });
    s.run();
    assert.equal(s.get('2').status, 'failed');
    assert.equal(s.get('3').status, 'succeeded');
    assert.deepEqual(
      s.executed.filter((k) => k.endsWith('/staging/deploy')),
      ['1/staging/deploy', '2/staging/deploy', '3/staging/deploy'],
    );
  });

  /** Releases 1 and 2, both through every stage. */
  const twoReleases = () => {
    const s = new JourneySim(THREE);
    for (const v of ['1', '2']) {
      s.create(v);
      s.run();
    }
    return s;
  };

  it('a manual rollback restores the previous release and cannot be repeated on top of itself', () => {
    const s = twoReleases();
    const all = () => [...s.states.values()];
    const c = rollbackCommand(all(), 'prod', 'oncall', 'latency');
    assert.equal(c.journeyId, '2');
    s.append(c.journeyId, c.event);
    s.run();
    assert.equal(liveReleases(all()).get('prod')?.release?.version, '1');
    assert.equal(s.get('2').stages.prod!.status, 'rolled-back');
    assert.equal(s.get('2').status, 'failed');
    assert.throws(() => rollbackCommand(all(), 'prod', 'oncall', ''), /already rolled back to 1/);
    assert.throws(
      () => rollbackCommand(all(), 'nope', 'oncall', ''),
      (e) => isSluiceError(e) && e.code === 'NOT_FOUND',
    );
    // The board shows what each stage serves.
    const board = buildBoard(THREE, all());
    assert.deepEqual(
      board.stages.map((x) => [x.name, x.live?.version]),
      [
        ['integ', '2'],
        ['staging', '2'],
        ['prod', '1'],
      ],
    );
  });

  it('a manual rollback stays rolled back until someone retries the same release, which runs again from that stage', () => {
    const s = twoReleases();
    s.append('2', rollbackCommand([...s.states.values()], 'prod', 'oncall', 'latency').event);
    s.run();
    s.run();
    assert.equal(s.get('2').status, 'failed');
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '1', 'nothing promotes it back by itself');
    assert.throws(() => retryCommand(s.get('1'), 'oncall'), /only a failed journey can be retried/);
    const before = s.executed.length;
    s.append('2', retryCommand(s.get('2'), 'oncall').event);
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
    assert.equal(s.get('2').attempt, 1);
    assert.deepEqual(s.executed.slice(before), ['2/prod/deploy@1', '2/prod/verify:smoke@1']);
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '2');
  });

  it('resumes a step that was running when the process died, without starting it again', () => {
    const s = new JourneySim(THREE, (r) => (r.key === '1/integ/deploy' ? 'hold' : { ok: true }));
    s.create('1');
    s.settle();
    // "Restart": rebuild the state from the log alone; the running step comes back as started, to be resumed.
    const rebuilt = reduceJourney(s.logs.get('1')!);
    const d = decide(rebuilt, { now: s.now, journeys: [rebuilt] });
    assert.deepEqual(
      d.run.map((r) => [r.key, r.started]),
      [['1/integ/deploy', true]],
    );
    assert.equal(d.append.length, 0);
  });

  it('ignores duplicate and out-of-order facts', () => {
    const s = new JourneySim(THREE);
    s.create('1');
    s.run();
    const before = s.get('1');
    s.append('1', {
      type: 'step.finished',
      stage: 'integ',
      step: 'deploy',
      key: '1/integ/deploy',
      ok: false,
      exitCode: 1,
    });
    s.append('1', { type: 'stage.entered', stage: 'integ', previous: { version: 'x', digest: 'y' } });
    s.append('1', { type: 'step.started', stage: 'nope', step: 'x', key: 'k' });
    assert.equal(s.get('1').status, before.status);
    assert.deepEqual(s.get('1').stages, before.stages);
  });
});
