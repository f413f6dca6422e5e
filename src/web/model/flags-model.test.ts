import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFlagSet } from '../../flags/flag-compiler.js';
import {
  flagStageOrder,
  formatPercent,
  fractionalOf,
  historyRows,
  jsonErrorOffset,
  parseTargeting,
  problemsOf,
  type RampShape,
  rampStatusText,
  rampSteps,
  rolloutOf,
  targetingText,
  treatmentVariants,
} from './flags-model.js';

const bool = { type: 'boolean' as const, variants: { on: true, off: false } };
const colour = { type: 'string' as const, variants: { red: '#f00', green: '#0f0', blue: '#00f' } };
/** The shop's new-checkout in prod: testers always, then 10% of shoppers. */
const shopProd = { if: [{ $ref: 'testers' }, 'on', { fractional: [{ var: 'targetingKey' }, ['on', 10], ['off', 90]] }] };

describe('the rollout percentage of a fractional split', () => {
  it('is the treatment’s share when the targeting is a split, or ends in one', () => {
    assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting: { fractional: [['on', 25], ['off', 75]] } })?.percent, 25);
    assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting: shopProd })?.percent, 10);
    // A chain of conditions: the last else is the split.
    const chain = { if: [{ '==': [1, 2] }, 'off', { in: ['x', ['y']] }, 'on', { fractional: ['email', ['on', 1], ['off', 3]] }] };
    assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting: chain })?.percent, 25);
    const nested = { if: [{ '==': [1, 2] }, 'off', { if: [{ '==': [1, 1] }, 'on', { fractional: [['on', 1], ['off', 1]] }] }] };
    assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting: nested })?.percent, 50);
  });

  it('counts a boolean flag’s treatment by its value, whatever the default, and other flags by every variant but the default', () => {
    assert.deepEqual(treatmentVariants({ type: 'boolean', variants: { yes: true, no: false } }, 'yes'), ['yes']);
    assert.equal(rolloutOf(bool, { defaultVariant: 'on', targeting: { fractional: [['on', 30], ['off', 70]] } })?.percent, 30);
    const r = rolloutOf(colour, { defaultVariant: 'red', targeting: { fractional: [['red', 50], ['green', 30], ['blue', 20]] } });
    assert.deepEqual(r?.treatment, ['green', 'blue']);
    assert.equal(r?.percent, 50);
  });

  it('follows flagd’s weights: a bucket without one weighs 1, a negative one 0; a null bucket serves the default', () => {
    assert.deepEqual(fractionalOf({ fractional: [['on'], ['off'], ['off']] })?.map((b) => formatPercent(b.percent)), ['33.33%', '33.33%', '33.33%']);
    assert.deepEqual(fractionalOf({ fractional: [['on', 5], ['off', -3]] }), [{ variant: 'on', percent: 100 }, { variant: 'off', percent: 0 }]);
    assert.equal(rolloutOf(bool, { defaultVariant: 'on', targeting: { fractional: [[null, 40], ['off', 60]] } })?.percent, 40);
    assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting: { fractional: [[null, 40], ['off', 60]] } })?.percent, 0);
  });

  it('gives no percentage rather than a guess: no split, an if with no else, a computed variant or weight, weights of nothing', () => {
    for (const targeting of [
      undefined,
      null,
      { in: [{ var: 'marketplace' }, ['DE', 'FR']] },
      { if: [{ $ref: 'testers' }, 'on', null] },
      { if: [{ $ref: 'testers' }, { fractional: [['on', 1]] }] },
      { fractional: [[{ if: [true, 'on', 'off'] }, 1]] },
      { fractional: [['on', 1.5]] },
      { fractional: [['on', 0], ['off', 0]] },
      { fractional: ['email'] },
      { fractional: [] },
      { $ref: 'rollout' },
    ])
      assert.equal(rolloutOf(bool, { defaultVariant: 'off', targeting }), undefined, JSON.stringify(targeting));
  });

  it('agrees with what the flag evaluator serves, over many targeting keys', () => {
    const targeting = { fractional: [['on', 20], ['off', 80]] };
    const compiled = compileFlagSet({ flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting } } });
    assert.ok(compiled.ok);
    let on = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if ((compiled.set.evaluate('f', 'boolean', false, { targetingKey: `user-${i}` }).value as unknown) === true) on++;
    const share = (on * 100) / n;
    const expected = rolloutOf(bool, { defaultVariant: 'off', targeting })!.percent;
    assert.ok(Math.abs(share - expected) < 1.5, `served ${share}% on, the page says ${expected}%`);
  });
});

describe('the flags table and the flag’s editor', () => {
  it('orders stages as the board shows them (by the DAG, then the file), then stages only the flags know', () => {
    const board = [
      { name: 'prod', after: ['staging'] },
      { name: 'integ', after: [] },
      { name: 'staging', after: ['integ'] },
    ];
    assert.deepEqual(flagStageOrder(board, ['staging', 'prod', 'integ']), ['integ', 'staging', 'prod']);
    assert.deepEqual(flagStageOrder(board, ['prod', 'qa', 'integ']), ['integ', 'prod', 'qa']);
    assert.deepEqual(flagStageOrder([], ['b', 'a']), ['b', 'a']);
  });

  it('reads the targeting field: JSON, empty or null for none, and says where the JSON breaks', () => {
    assert.deepEqual(parseTargeting(' {"in": ["a", ["a"]]} '), { ok: true, targeting: { in: ['a', ['a']] } });
    assert.deepEqual(parseTargeting('  '), { ok: true, targeting: null });
    assert.deepEqual(parseTargeting('null'), { ok: true, targeting: null });
    const bad = parseTargeting('{\n  "if": [\n    true,\n  ]\n}');
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.message : '', /^Not valid JSON at line 4 column 3: /);
    const cut = parseTargeting('{"if": [');
    assert.match(!cut.ok ? cut.message : '', /^Not valid JSON at line 1 column 9: /);
    for (const [text, at] of [['{"a": tru}', 9], ['[1, 2,]', 6], ['{"a" 1}', 5], ['"\\x"', 2], ['01', 1], ['{} x', 3], ['{"a": [1, {"b": null}]}', undefined]] as const)
      assert.equal(jsonErrorOffset(text), at, text);
    assert.equal(targetingText(undefined), '');
    assert.equal(parseTargeting(targetingText(shopProd)).ok, true);
  });

  it('lists the problems of a refused change with where they are', () => {
    assert.deepEqual(problemsOf({ problems: [{ path: 'prod/flags/f/targeting/nope', message: 'unknown operator "nope"' }] }), [
      { path: 'prod/flags/f/targeting/nope', message: 'unknown operator "nope"' },
    ]);
    assert.deepEqual(problemsOf({ issues: [{ path: 'defaultVariant', message: 'Too small' }] }), [{ path: 'defaultVariant', message: 'Too small' }]);
    assert.deepEqual(problemsOf(undefined), []);
    assert.deepEqual(problemsOf({ problems: [{ nope: 1 }] }), []);
  });
});

describe('the flag’s history', () => {
  const token = { kind: 'token', id: 't1', name: 'alice', role: 'deployer' };
  const base = { flag: 'winter-sale', links: {}, revisions: {} };
  it('says who, when, why and what each change did against the one before it in that stage, newest first', () => {
    const rows = historyRows([
      { ...base, id: 1, at: 10, type: 'flag.define', data: { type: 'boolean', variants: { on: true, off: false }, fromFile: true }, actor: { kind: 'system', reason: 'sluice up' }, reason: 'sluice up applied sluice.flags.yaml' },
      { ...base, id: 2, at: 10, type: 'flag.set', stage: 'staging', data: { state: 'ENABLED', defaultVariant: 'on', fromFile: true }, actor: { kind: 'system', reason: 'sluice up' }, reason: '' },
      { ...base, id: 4, at: 30, type: 'flag.set', stage: 'staging', data: { state: 'ENABLED', defaultVariant: 'off', targeting: { in: ['a', ['a']] } }, actor: token, reason: 'only a' },
      { ...base, id: 3, at: 20, type: 'flag.set', stage: 'staging', data: { state: 'DISABLED', defaultVariant: 'on' }, actor: token, reason: 'banner broken' },
      { ...base, id: 5, at: 40, type: 'flag.set', stage: 'prod', data: { state: 'ENABLED', defaultVariant: 'off' }, actor: token, reason: '' },
    ]);
    assert.deepEqual(
      rows.map((r) => [r.id, r.who, r.where, r.what, r.why]),
      [
        [5, 'alice (deployer)', 'prod', 'set on, default off, no targeting', ''],
        [4, 'alice (deployer)', 'staging', 'turned on, default on → off, targeting added: {"in":["a",["a"]]}', 'only a'],
        [3, 'alice (deployer)', 'staging', 'turned off', 'banner broken'],
        [2, 'sluice (sluice up)', 'staging', 'set on, default on, no targeting (from the flags file)', ''],
        [1, 'sluice (sluice up)', 'every stage', 'declared: boolean, variants {"on":true,"off":false} (from the flags file)', 'sluice up applied sluice.flags.yaml'],
      ],
    );
  });
});

describe('a guarded ramp on the flag’s page', () => {
  const plan = { treatment: 'on', control: 'off', steps: [1, 5, 25, 100], waitMs: 30_000 };
  const run = (over: Partial<NonNullable<RampShape['run']>>): RampShape => ({ plan, run: { status: 'running', step: 0, percent: 1, verdicts: [], ...over } });
  const states = (r: RampShape) => rampSteps(r).map((s) => `${s.percent}:${s.state}`).join(' ');

  it('marks each step passed, current, failed, stopped or still to come', () => {
    assert.equal(states({ plan }), '1:pending 5:pending 25:pending 100:pending');
    assert.equal(states(run({ step: 2, percent: 25, verdicts: [{ step: 0, outcome: 'pass' }, { step: 1, outcome: 'pass' }] })), '1:passed 5:passed 25:current 100:pending');
    assert.equal(states(run({ status: 'paused', step: 1, percent: 5, verdicts: [{ step: 1, outcome: 'nodata' }] })), '1:passed 5:current 25:pending 100:pending');
    // Regressed (back to 0 %) or paused by the policy `pause`: the step whose verdict failed shows it.
    assert.equal(states(run({ status: 'regressed', step: 2, percent: 0, verdicts: [{ step: 2, outcome: 'fail' }] })), '1:passed 5:passed 25:failed 100:pending');
    assert.equal(states(run({ status: 'paused', step: 1, percent: 5, verdicts: [{ step: 1, outcome: 'fail' }] })), '1:passed 5:failed 25:pending 100:pending');
    // A ramp paused on a failed verdict, then resumed: the step is current again.
    assert.equal(states(run({ step: 1, percent: 5, verdicts: [{ step: 1, outcome: 'fail' }] })), '1:passed 5:current 25:pending 100:pending');
    assert.equal(states(run({ status: 'aborted', step: 1, percent: 5 })), '1:passed 5:stopped 25:pending 100:pending');
    assert.equal(states(run({ status: 'completed', step: 3, percent: 100 })), '1:passed 5:passed 25:passed 100:passed');
  });

  it('says where the ramp is and when it is judged next', () => {
    assert.equal(rampStatusText({ plan }, null, 0), 'Declared, not started: 1% → 5% → 25% → 100% of on, each step judged after 30.0 s.');
    assert.equal(rampStatusText(run({ step: 2, percent: 25 }), 12_400, 1_000), 'Running: 25% on (step 3 of 4); next judgement in 12.0 s.');
    assert.equal(rampStatusText(run({}), 1_000, 1_000), 'Running: 1% on (step 1 of 4); judging now.');
    assert.equal(rampStatusText(run({ status: 'regressed', percent: 0, reason: 'the judge found on worse' }), null, 0), 'Regressed, back to 0% on: the judge found on worse.');
    assert.equal(rampStatusText(run({ status: 'paused', reason: 'by hand' }), null, 0), 'Paused at 1% on (step 1 of 4): by hand.');
    assert.equal(rampStatusText(run({ status: 'completed', step: 3, percent: 100 }), null, 0), 'Completed: on for everyone.');
    assert.match(rampStatusText(run({ status: 'aborted', reason: 'wrong flag' }), null, 0), /^Aborted at 1% on \(step 1 of 4\): wrong flag\. The targeting from before the ramp is back\.$/);
  });

  it('tells each ramp event in the history', () => {
    const base = { flag: 'new-checkout', stage: 'prod', links: {}, revisions: {}, actor: { kind: 'system', reason: 'ramp' }, reason: '' };
    const rows = historyRows([
      { ...base, id: 1, at: 1, type: 'ramp.started', data: { status: 'running', step: 0, percent: 1, plan } },
      { ...base, id: 2, at: 2, type: 'ramp.held', data: { status: 'running', step: 0, percent: 1, verdict: { outcome: 'nodata', reason: 'too little traffic' } } },
      { ...base, id: 3, at: 3, type: 'ramp.regressed', data: { status: 'regressed', step: 0, percent: 0, reason: 'the judge found on worse than off at 1 %' } },
    ]);
    assert.deepEqual(rows.map((r) => r.what), ['ramp regressed, now 0%: the judge found on worse than off at 1 %', 'ramp held at 1%: nodata, too little traffic', 'ramp started, now 1%']);
  });
});
