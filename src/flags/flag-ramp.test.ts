import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFlagSet } from './flag-compiler.js';
import { checkRampPlan, decideRamp, type RampInput, type RampPlan, type RampRun, type RampStatus, rampDueAt, rampMayOwn, rampMeasurement, rampTargeting } from './flag-ramp.js';

const plan = (over: Partial<RampPlan> = {}): RampPlan => {
  const r = checkRampPlan({ treatment: 'on', control: 'off', steps: [1, 5, 25, 100], waitMs: 30_000, ...over }, ['on', 'off'], 'flag f in prod');
  assert.ok('plan' in r, JSON.stringify(r));
  return { ...r.plan, ...over };
};
const run = (status: RampStatus, step = 1, over: Partial<RampRun> = {}): RampRun => ({
  status,
  step,
  percent: status === 'regressed' ? 0 : [1, 5, 25, 100][step]!,
  startedAt: 0,
  stepStartedAt: 1_000,
  holds: 0,
  verdicts: [],
  before: { defaultVariant: 'off' },
  ...over,
});
const verdict = (outcome: 'pass' | 'fail' | 'inconclusive' | 'nodata'): RampInput => ({ kind: 'verdict', verdict: { outcome, score: outcome === 'pass' ? 100 : 0, reason: `r-${outcome}` } });

describe('ramp decider', () => {
  const statuses: (RampStatus | undefined)[] = [undefined, 'running', 'paused', 'regressed', 'completed', 'aborted'];
  const inputs: Array<[string, RampInput]> = [
    ['start', { kind: 'start', before: { defaultVariant: 'off' } }],
    ['pause', { kind: 'pause', reason: 'p' }],
    ['resume', { kind: 'resume' }],
    ['abort', { kind: 'abort', reason: 'a' }],
    ['pass', verdict('pass')],
    ['fail', verdict('fail')],
    ['inconclusive', verdict('inconclusive')],
    ['nodata', verdict('nodata')],
  ];
  /** What every (status, input) pair leads to at a due time, on a middle step: the event, or a refusal. */
  const expected: Record<string, Record<string, string>> = {
    none: { start: 'ramp.started', pause: 'refused', resume: 'refused', abort: 'refused', pass: 'refused', fail: 'refused', inconclusive: 'refused', nodata: 'refused' },
    running: { start: 'refused', pause: 'ramp.paused', resume: 'refused', abort: 'ramp.aborted', pass: 'ramp.stepped', fail: 'ramp.regressed', inconclusive: 'ramp.held', nodata: 'ramp.held' },
    paused: { start: 'refused', pause: 'refused', resume: 'ramp.resumed', abort: 'ramp.aborted', pass: 'refused', fail: 'refused', inconclusive: 'refused', nodata: 'refused' },
    regressed: { start: 'ramp.started', pause: 'refused', resume: 'refused', abort: 'ramp.aborted', pass: 'refused', fail: 'refused', inconclusive: 'refused', nodata: 'refused' },
    completed: { start: 'ramp.started', pause: 'refused', resume: 'refused', abort: 'refused', pass: 'refused', fail: 'refused', inconclusive: 'refused', nodata: 'refused' },
    aborted: { start: 'ramp.started', pause: 'refused', resume: 'refused', abort: 'refused', pass: 'refused', fail: 'refused', inconclusive: 'refused', nodata: 'refused' },
  };

  it('answers every status and input as the table says (a due judgement, a middle step)', () => {
    const p = plan();
    for (const s of statuses)
      for (const [name, input] of inputs) {
        const r = s === undefined ? undefined : run(s);
        const d = decideRamp(p, r, 1_000 + 30_000, input);
        const got = d.ok ? d.event : 'refused';
        assert.equal(got, expected[s ?? 'none']![name], `${s ?? 'none'} + ${name}`);
        if (!d.ok) assert.match(d.refusal, /ramp|judge/, 'a refusal says why');
      }
  });

  it('a verdict before the step is due is refused, whatever it is', () => {
    for (const [, input] of inputs.filter(([n]) => ['pass', 'fail', 'inconclusive', 'nodata'].includes(n))) {
      const d = decideRamp(plan(), run('running'), 1_000 + 29_999, input);
      assert.equal(d.ok, false);
      assert.ok(!d.ok && /due at/.test(d.refusal));
    }
  });

  it('start serves the first step; pass moves to the next step and restarts the wait; the step before 100 % passing completes', () => {
    const p = plan();
    const s = decideRamp(p, undefined, 500, { kind: 'start', before: { defaultVariant: 'off', targeting: { fractional: [['on', 10], ['off', 90]] } } });
    assert.ok(s.ok);
    assert.deepEqual([s.run.status, s.run.step, s.run.percent, s.run.stepStartedAt, s.serve], ['running', 0, 1, 500, { split: 1 }]);
    let r = s.run;
    for (const [i, pct] of [5, 25].entries()) {
      const at = rampDueAt(p, r);
      const d = decideRamp(p, r, at, verdict('pass'));
      assert.ok(d.ok);
      assert.deepEqual([d.event, d.run.step, d.run.percent, d.run.stepStartedAt, d.serve, d.notify], ['ramp.stepped', i + 1, pct, at, { split: pct }, false]);
      r = d.run;
    }
    const done = decideRamp(p, r, rampDueAt(p, r), verdict('pass'));
    assert.ok(done.ok);
    // 100 % is never judged: nobody would be left on the control to compare with.
    assert.deepEqual([done.event, done.run.status, done.run.step, done.run.percent, done.serve], ['ramp.completed', 'completed', 3, 100, 'complete']);
    assert.equal(done.run.verdicts.length, 3);
  });

  it('fail with zero goes back to 0 % and notifies; with pause it holds the percentage, paused, and notifies; the reason carries the judge\'s', () => {
    const zero = decideRamp(plan(), run('running', 2), 31_000, verdict('fail'));
    assert.ok(zero.ok);
    assert.deepEqual([zero.run.status, zero.run.percent, zero.serve, zero.notify], ['regressed', 0, { split: 0 }, true]);
    assert.match(zero.run.reason!, /on worse than off at 25 %: r-fail/);
    const paused = decideRamp(plan({ onRegression: 'pause' }), run('running', 2), 31_000, verdict('fail'));
    assert.ok(paused.ok);
    assert.deepEqual([paused.event, paused.run.status, paused.run.percent, paused.serve, paused.notify], ['ramp.regressed', 'paused', 25, { split: 25 }, true]);
  });

  it('no verdict holds the step for another wait, at most maxHolds times, then pauses with the reason', () => {
    const p = plan({ maxHolds: 2 });
    let r = run('running');
    for (const n of [1, 2]) {
      const d = decideRamp(p, r, rampDueAt(p, r), verdict(n === 1 ? 'nodata' : 'inconclusive'));
      assert.ok(d.ok);
      assert.deepEqual([d.event, d.run.holds, d.run.percent, d.notify], ['ramp.held', n, 5, false]);
      assert.equal(rampDueAt(p, d.run), 1_000 + (n + 1) * 30_000, 'judged again after another wait');
      r = d.run;
    }
    const d = decideRamp(p, r, rampDueAt(p, r), verdict('nodata'));
    assert.ok(d.ok);
    assert.deepEqual([d.event, d.run.status, d.run.percent, d.notify], ['ramp.paused', 'paused', 5, true]);
    assert.match(d.run.reason!, /no verdict after 3 judgements of the step at 5 %/);
  });

  it('resume restarts the wait from now and clears the reason; abort restores what was there before', () => {
    const d = decideRamp(plan(), run('paused', 1, { reason: 'x', holds: 2 }), 99_000, { kind: 'resume' });
    assert.ok(d.ok);
    assert.deepEqual([d.run.status, d.run.stepStartedAt, d.run.holds, d.run.reason], ['running', 99_000, 0, undefined]);
    const a = decideRamp(plan(), run('running'), 5, { kind: 'abort', reason: 'enough' });
    assert.ok(a.ok);
    assert.deepEqual([a.run.status, a.serve, a.run.reason], ['aborted', 'restore', 'enough']);
  });

  it('keeps only the newest verdicts', () => {
    const p = plan({ maxHolds: 20 });
    let r = run('running');
    for (let i = 0; i < 15; i++) {
      const d = decideRamp(p, r, rampDueAt(p, r), verdict('nodata'));
      assert.ok(d.ok);
      r = d.run;
    }
    assert.equal(r.verdicts.length, 10);
  });
});

describe('ramp plan', () => {
  const bad = (over: Record<string, unknown>, re: RegExp) => {
    const r = checkRampPlan({ treatment: 'on', control: 'off', steps: [1, 5, 25, 100], waitMs: 30_000, ...over } as never, ['on', 'off'], 'flag f in prod');
    assert.ok('problems' in r, JSON.stringify(over));
    assert.match(r.problems.join('\n'), re);
  };
  it('refuses unknown variants, steps not increasing or not ending at 100, a wait out of bounds, a bad variantKey, with what and where', () => {
    bad({ treatment: 'maybe' }, /flag f in prod: ramp treatment: "maybe" is not a variant of the flag \(its variants: on, off\)/);
    bad({ control: 'on' }, /both on/);
    bad({ steps: [1, 5, 5, 100] }, /strictly increasing/);
    bad({ steps: [1, 5, 50] }, /must end at 100/);
    bad({ steps: [0, 100] }, /whole percentage from 1 to 100/);
    bad({ steps: [] }, /give 2 to 20 percentages/);
    bad({ steps: [100] }, /give 2 to 20 percentages, the last 100/);
    bad({ waitMs: 1_000 }, /wait: 1000 ms is out of bounds: from 5 s to 7 days/);
    bad({ waitMs: 8 * 86_400_000 }, /out of bounds/);
    bad({ variantKey: 'query:uid' }, /not header:<name> or cookie:<name>/);
    bad({ bucketBy: '1 2' }, /not a context attribute name/);
  });
  it('defaults: error-rate, increase, critical; targetingKey; zero; 3 holds', () => {
    const p = plan();
    assert.deepEqual(p.compare, [{ name: 'error-rate', metric: 'error-rate', direction: 'increase', critical: true }]);
    assert.deepEqual([p.bucketBy, p.onRegression, p.maxHolds], ['targetingKey', 'zero', 3]);
  });
  it('says which measurement applies', () => {
    assert.equal(rampMeasurement({ variantKey: 'header:X-User-Id' }), 'the router, counting requests by header x-user-id');
    assert.equal(rampMeasurement({}), "the provider's reports (Sluice's OpenFeature provider with its hook)");
  });
  it('may own no targeting or a plain fractional, nothing else', () => {
    assert.equal(rampMayOwn(undefined), true);
    assert.equal(rampMayOwn({ fractional: [['on', 10], ['off', 90]] }), true);
    assert.equal(rampMayOwn({ if: [{ $ref: 'testers' }, 'on', null] }), false);
  });
});

describe('ramp targeting', () => {
  const serve = (percent: number, bucketBy = 'targetingKey') => {
    const r = compileFlagSet({ flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: rampTargeting('f', { treatment: 'on', control: 'off', bucketBy }, percent) } } });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    return r.set;
  };
  const users = Array.from({ length: 5000 }, (_, i) => `user-${i}`);

  it('growing the percentage only ever adds users: everyone on at p stays on at every p\' > p (the real bucketing)', () => {
    for (const by of ['targetingKey', 'email']) {
      const steps = [0, 1, 5, 25, 50, 100];
      let prev = new Set<string>();
      for (const p of steps) {
        const set = serve(p, by);
        const on = new Set(users.filter((u) => set.evaluate<boolean>('f', 'boolean', false as boolean, by === 'targetingKey' ? { targetingKey: u } : { email: u }).value === true));
        for (const u of prev) assert.ok(on.has(u), `${u} was on at the previous step and is off at ${p} % (by ${by})`);
        assert.ok(Math.abs(on.size / users.length - p / 100) < 0.03, `${on.size} of ${users.length} on at ${p} %`);
        prev = on;
      }
    }
  });
  it('0 % serves nobody the treatment, 100 % everybody', () => {
    assert.ok(users.every((u) => serve(0).evaluate<boolean>('f', 'boolean', true as boolean, { targetingKey: u }).value === false));
    assert.ok(users.every((u) => serve(100).evaluate<boolean>('f', 'boolean', false as boolean, { targetingKey: u }).value === true));
  });
});
