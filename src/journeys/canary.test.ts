import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JourneySim, type SimOutcome } from '../../test/helpers/journey-sim.js';
import { desiredStages } from './desired-state.js';
import { abortCommand, guardTripCommand, pauseCommand, promoteCommand, resumeCommand } from './journey-commands.js';
import { liveReleases, type StepRun } from './journey-decider.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import type { TokenActor } from '../kernel/actor.js';

const person = (name: string): TokenActor => ({ kind: 'token', id: `token-${name}`, name, role: 'admin' });

const PLAN = parsePipeline(`app: shop
artifact: { output: dist }
analyses:
  errors:
    interval: 1s
    count: 3
    thresholds:
      - { name: error-rate, metric: error-rate, max: 0.05 }
defaults:
  local: { start: node server.js, instances: 2 }
stages:
  prod:
    verify: { smoke: t }
    strategy:
      canary:
        steps:
          - setWeight: 20
          - analysis: errors
          - pause: { duration: 30s }
          - setWeight: 60
          - pause: {}
        analysis: errors
`);

// Background analyses run until cancelled: hold them, like the real runner.
const holdBackground = (r: StepRun): SimOutcome => (r.step === 'canary:background' ? 'hold' : { ok: true });

const blueGreen = (autoSwitch: boolean) =>
  parsePipeline(`app: shop
artifact: { output: dist }
defaults:
  local: { start: node server.js, instances: 3 }
stages:
  prod:
    verify: { smoke: t }
    bake: 10s
    strategy:
      blueGreen: { autoSwitch: ${autoSwitch} }
`);

describe('blue-green rollouts', () => {
  it('starts the full new version, verifies it at the preview host, then switches, then bakes', () => {
    const plan = blueGreen(true);
    assert.equal(plan.stages[0]!.canary?.instances, 3);
    const s = new JourneySim(PLAN);
    s.create('1', plan);
    s.run();
    s.executed.length = 0;
    const runs: StepRun[] = [];
    s.outcome = (r) => {
      runs.push(r);
      return { ok: true };
    };
    s.create('2', plan);
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
    assert.deepEqual(s.executed, ['2/prod/deploy (canary)', '2/prod/verify:smoke', '2/prod/promote', '2/prod/bake-check']);
    const verify = runs.find((r) => r.step === 'verify:smoke')!;
    assert.equal(verify.effect.kind === 'command' && verify.effect.preview, true, 'verified at the preview host');
  });

  it('a failed preview verification never switches: the new version is stopped', () => {
    const s = new JourneySim(PLAN);
    s.create('1', blueGreen(true));
    s.run();
    s.outcome = (r) => (r.key === '2/prod/verify:smoke' ? { ok: false, reason: 'exit code 1' } : { ok: true });
    s.create('2', blueGreen(true));
    s.run();
    assert.equal(s.get('2').stages.prod!.status, 'rolled-back');
    assert.ok(!s.get('2').stages.prod!.steps.promote);
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '1');
  });

  it('autoSwitch false waits for a person between verification and the switch', () => {
    const s = new JourneySim(PLAN);
    s.create('1', blueGreen(false));
    s.run();
    s.create('2', blueGreen(false));
    s.run();
    assert.equal(s.get('2').stages.prod!.status, 'paused');
    assert.equal(s.get('2').stages.prod!.steps['verify:smoke']!.status, 'passed');
    s.command(resumeCommand(s.get('2'), 'prod', 'lead'));
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
  });
});

describe('canary rollouts', () => {
  it('a first release has nothing to compare with: it deploys all at once', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    assert.equal(s.get('1').status, 'succeeded');
    assert.deepEqual(s.executed, ['1/prod/deploy', '1/prod/verify:smoke']);
  });

  it('walks the steps: weights, analysis, timed pause, manual pause; then promotes and verifies', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.executed.length = 0;
    s.create('2');
    s.run();
    const j = () => s.get('2');
    assert.equal(j().stages.prod!.status, 'paused', 'waits at the pause without duration');
    assert.deepEqual(s.executed, ['2/prod/deploy (canary)', '2/prod/canary:0@20', '2/prod/canary:1', '2/prod/canary:3@60']);
    const pause = j().stages.prod!.steps['canary:2']!;
    assert.equal(pause.finishedAt! - pause.startedAt, 30_000, 'the timed pause lasted 30s');
    assert.equal(j().stages.prod!.steps['canary:background']!.status, 'running');
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '1', 'the canary does not serve the stage yet');
    s.command(resumeCommand(j(), 'prod', 'lead'));
    s.run();
    assert.equal(j().status, 'succeeded');
    // The background analysis gives its verdict on the whole rollout before the promotion.
    assert.deepEqual(s.executed.slice(4), ['2/prod/canary:background', '2/prod/promote', '2/prod/verify:smoke']);
    assert.equal(j().stages.prod!.steps['canary:background']!.reason, 'rollout complete');
    assert.equal(j().stages.prod!.steps['canary:background']!.reason, 'rollout complete');
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '2');
  });

  it('a failing analysis rolls back at once: background analysis cancelled, no further step', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.outcome = (r) => (r.step === 'canary:background' ? 'hold' : r.step === 'canary:1' ? { ok: false, reason: 'error-rate 0.3 > 0.05' } : { ok: true });
    s.create('2');
    s.run();
    const st = s.get('2').stages.prod!;
    assert.equal(st.status, 'rolled-back');
    assert.equal(st.failure, 'canary:1 failed: error-rate 0.3 > 0.05');
    assert.equal(st.steps['canary:background']!.reason, 'cancelled: the stage is rolling back');
    assert.ok(!st.steps['canary:2'] && !st.steps.promote);
    assert.ok(s.executed.includes('2/prod/rollback'));
    assert.equal(liveReleases([...s.states.values()]).get('prod')?.release?.version, '1');
  });

  it('a failing background analysis rolls back mid-pause', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.create('2');
    s.settle(); // up to the timed pause
    assert.equal(s.get('2').stages.prod!.steps['canary:2']!.status, 'running');
    const bg = s.get('2').stages.prod!.steps['canary:background']!;
    s.append('2', { type: 'step.finished', stage: 'prod', step: 'canary:background', key: bg.key, ok: false, exitCode: null, reason: 'error-rate failed' });
    s.run();
    const st = s.get('2').stages.prod!;
    assert.equal(st.status, 'rolled-back');
    assert.equal(st.failure, 'canary:background failed: error-rate failed');
    assert.equal(st.steps['canary:2']!.reason, 'cancelled: the stage is rolling back');
  });

  it('an inconclusive analysis waits for a person; resume goes on, abort rolls back', () => {
    for (const decision of ['resume', 'abort'] as const) {
      const s = new JourneySim(PLAN, (r) => (r.step === 'canary:background' ? 'hold' : r.step === 'canary:1' ? { ok: true, inconclusive: true, reason: 'score 80' } : { ok: true }));
      s.create('1');
      s.run();
      s.create('2');
      s.run();
      assert.equal(s.get('2').stages.prod!.status, 'paused');
      assert.equal(s.get('2').stages.prod!.steps['canary:1']!.status, 'inconclusive');
      assert.ok(!s.get('2').stages.prod!.steps['canary:2']);
      if (decision === 'resume') {
        s.command(resumeCommand(s.get('2'), undefined, 'lead'));
        s.run();
        assert.ok(s.get('2').stages.prod!.steps['canary:2'], 'went on to the next step');
      } else {
        s.command(abortCommand(s.get('2'), undefined, 'lead', 'not convinced'));
        s.run();
        assert.equal(s.get('2').stages.prod!.status, 'rolled-back');
        assert.equal(s.get('2').failure?.reason, 'rolled back by lead: not convinced');
      }
    }
  });

  it('the background analysis judges the whole rollout at its end: a failing verdict rolls back instead of promoting', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.concluded = () => ({ ok: false, reason: 'analysis errors failed: comparison Fail' });
    s.create('2');
    s.run();
    s.command(resumeCommand(s.get('2'), 'prod', 'lead'));
    s.run();
    const st = s.get('2').stages.prod!;
    assert.equal(st.status, 'rolled-back');
    assert.equal(st.failure, 'canary:background failed: analysis errors failed: comparison Fail');
    assert.ok(!st.steps.promote, 'never promoted');
  });

  it('an inconclusive verdict of the background analysis waits for a person before the promotion', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.concluded = () => ({ ok: true, inconclusive: true, reason: 'score 80' });
    s.create('2');
    s.run();
    s.command(resumeCommand(s.get('2'), 'prod', 'lead'));
    s.run();
    assert.equal(s.get('2').stages.prod!.status, 'paused');
    assert.ok(!s.get('2').stages.prod!.steps.promote);
    const resumed = resumeCommand(s.get('2'), 'prod', 'lead');
    assert.deepEqual(resumed.event, { type: 'stage.resumed', stage: 'prod', by: 'lead', step: 'canary:background' });
    s.command(resumed);
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
  });

  it("a guard trip reported by the data plane rolls the canary's stage back, once, and only for that version", () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.create('2');
    s.settle();
    const trip = { stage: 'prod', version: '2', reason: '12 of the canary\'s last 20 answers were errors' };
    assert.equal(guardTripCommand(s.all(), { ...trip, version: '1' }), undefined, 'the stable version is never tripped');
    s.command(guardTripCommand(s.all(), trip)!);
    assert.equal(guardTripCommand(s.all(), trip), undefined, 'recorded once');
    s.run();
    const st = s.get('2').stages.prod!;
    assert.equal(st.status, 'rolled-back');
    assert.equal(st.failure, `the data plane's guard cut the canary off: ${trip.reason}`);
    assert.equal(liveReleases(s.all()).get('prod')?.release?.version, '1');
  });

  it('desired state: the stable release, and the canary with the weight of the last weight step started', () => {
    const s = new JourneySim(PLAN, (r) => (r.step === 'canary:background' || r.step === 'canary:1' ? 'hold' : { ok: true }));
    s.create('1');
    s.run();
    const first = desiredStages(s.all()).get('prod')!;
    assert.deepEqual([first.stable?.release.version, first.canary], ['1', null]);
    s.create('2');
    s.settle();
    const during = desiredStages(s.all()).get('prod')!;
    assert.equal(during.stable?.release.version, '1');
    assert.deepEqual(during.canary && [during.canary.release.version, during.canary.weight, during.canary.journeyId], ['2', 20, '2']);
    s.command(abortCommand(s.get('2'), 'prod', 'lead', 'no'));
    assert.equal(desiredStages(s.all()).get('prod')!.canary, null, 'rolling back takes the canary\'s users away at once');
  });

  it('a promoted canary is the stable release, no longer a canary, while the stage verifies it', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.create('2');
    s.settle();
    s.outcome = (r) => (r.step === 'verify:smoke' ? 'hold' : holdBackground(r));
    s.command(promoteCommand(s.get('2'), 'prod', person('lead'), s.now, true));
    s.run();
    assert.equal(s.get('2').stages.prod!.steps['verify:smoke']?.status, 'running');
    const d = desiredStages(s.all()).get('prod')!;
    assert.deepEqual([d.stable?.release.version, d.canary], ['2', null], 'a restart now must not start the canary again');
  });

  it('promote --full skips the remaining steps', () => {
    const s = new JourneySim(PLAN, holdBackground);
    s.create('1');
    s.run();
    s.create('2');
    s.settle();
    s.command(promoteCommand(s.get('2'), 'prod', person('lead'), s.now, true));
    s.run();
    assert.equal(s.get('2').status, 'succeeded');
    assert.ok(!s.get('2').stages.prod!.steps['canary:3'], 'no further weight step');
  });

  it('pause holds the rollout before its next step; resume lets it go on', () => {
    const s = new JourneySim(PLAN, (r) => (r.step === 'canary:background' || r.step === 'canary:1' ? 'hold' : { ok: true }));
    s.create('1');
    s.run();
    s.create('2');
    s.settle();
    s.command(pauseCommand(s.get('2'), 'prod', 'oncall'));
    s.outcome = holdBackground;
    s.run();
    const st = s.get('2').stages.prod!;
    assert.equal(st.status, 'paused');
    assert.equal(st.steps['canary:1']!.status, 'passed', 'the running analysis finished');
    assert.ok(!st.steps['canary:2'], 'the next step did not start');
    assert.throws(() => pauseCommand(s.get('2'), 'prod', 'x'), /paused, not rolling-out/);
    s.command(resumeCommand(s.get('2'), 'prod', 'oncall'));
    s.settle();
    assert.ok(s.get('2').stages.prod!.steps['canary:2']);
  });
});
