import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFlagSet } from './flag-compiler.js';
import { FLAG_LIMITS, type CompiledFlagSet, type FlagProblem } from './flag-model.js';

const flag = (targeting?: unknown, extra: Record<string, unknown> = {}) => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  ...(targeting === undefined ? {} : { targeting }),
  ...extra,
});

function problemsOf(doc: unknown): FlagProblem[] {
  const r = compileFlagSet(doc);
  assert.equal(r.ok, false, 'the set should have been refused');
  return r.ok ? [] : r.problems;
}

function problemAt(doc: unknown, path: string, message: RegExp): void {
  const problems = problemsOf(doc);
  assert.ok(problems.some((p) => p.path === path && message.test(p.message)), `no problem at ${path} matching ${message}: ${JSON.stringify(problems)}`);
}

function compiled(doc: unknown): CompiledFlagSet {
  const r = compileFlagSet(doc);
  if (!r.ok) assert.fail(JSON.stringify(r.problems));
  return r.set;
}

describe('a flag set with problems is refused whole, each problem at its JSON pointer', () => {
  it('refuses what is not a flag set', () => {
    problemAt(null, '', /JSON object with "flags"/);
    problemAt([], '', /JSON object/);
    problemAt({}, '/flags', /needs "flags"/);
    problemAt({ flags: [] }, '/flags', /object of flags/);
    problemAt({ flags: {}, flagz: {} }, '/flagz', /unknown field "flagz"; did you mean "flags"\?/);
  });

  it('checks keys, state, variants and the default variant', () => {
    problemAt({ flags: { 'bad key!': flag() } }, '/flags/bad key!', /flag key "bad key!" must be/);
    problemAt({ flags: { f: flag(undefined, { state: 'ON' }) } }, '/flags/f/state', /"ENABLED" or "DISABLED", not "ON"/);
    problemAt({ flags: { f: { state: 'ENABLED', variants: {}, defaultVariant: null } } }, '/flags/f/variants', /non-empty/);
    problemAt({ flags: { f: { state: 'ENABLED', variants: { a: 'x', b: 2 }, defaultVariant: 'a' } } }, '/flags/f/variants/b',
      /one type: this one is number, the first is string/);
    problemAt({ flags: { f: { state: 'ENABLED', variants: { a: null }, defaultVariant: 'a' } } }, '/flags/f/variants/a', /not null/);
    problemAt({ flags: { f: flag(undefined, { defaultVariant: 'offf' }) } }, '/flags/f/defaultVariant', /"offf" is not one of the variants \(on, off\); did you mean "off"\?/);
    problemAt({ flags: { f: flag(undefined, { targetting: {} }) } }, '/flags/f/targetting', /did you mean "targeting"\?/);
    problemAt({ flags: { f: flag(undefined, { metadata: { team: ['a'] } }) } }, '/flags/f/metadata/team', /strings, numbers or booleans/);
  });

  it('names an unknown operator and the nearest known one', () => {
    problemAt({ flags: { f: flag({ if: [{ starts_wth: [{ var: 'email' }, 'a'] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/starts_wth',
      /unknown operator "starts_wth"; did you mean "starts_with"\?/);
    problemAt({ flags: { f: flag({ map: [[1], { var: '' }] }) } }, '/flags/f/targeting/map', /"map" is not supported/);
    problemAt({ flags: { f: flag({ in: ['a', ['a']], or: [] }) } }, '/flags/f/targeting', /exactly one operator/);
  });

  it('refuses operators given the wrong number or kind of arguments', () => {
    problemAt({ flags: { f: flag({ if: [{ var: 'beta' }, 'on'] }) } }, '/flags/f/targeting/if', /at least 3/);
    problemAt({ flags: { f: flag({ if: [{ '==': [{ var: 'plan' }] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/==', /at least 2 values/);
    problemAt({ flags: { f: flag({ if: [{ in: [{ var: 'plan' }] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/in', /"in" takes 2 values/);
    problemAt({ flags: { f: flag({ if: [{ sem_ver: [{ var: 'v' }, '>>', '1.0.0'] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/sem_ver/1', /operator must be one of/);
    problemAt({ flags: { f: flag({ if: [{ starts_with: [{ var: 'email' }] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/starts_with', /takes 2 values/);
    problemAt({ flags: { f: flag({ fractional: [['on', 1.5], ['off', 50]] }) } }, '/flags/f/targeting/fractional/0/1', /whole number, not 1.5/);
    problemAt({ flags: { f: flag({ fractional: [['on', 50], ['of', 50]] }) } }, '/flags/f/targeting/fractional/1/0', /"of", which is not one of the flag's variants/);
    problemAt({ flags: { f: flag({ fractional: [] }) } }, '/flags/f/targeting/fractional', /list of \[variant, weight\] buckets/);
    problemAt({ flags: { f: flag({ var: { var: 'which' } }) } }, '/flags/f/targeting/var', /not a computed value/);
    // flagd-core compiles this to a function that always throws: refuse it when it is saved instead.
    problemAt({ flags: { f: flag({ if: [{ '<': ['abc', 1] }, 'on', 'off'] }) } }, '/flags/f/targeting/if/0/<', /always fails/);
  });

  it('refuses targeting that returns a variant the flag does not have', () => {
    problemAt({ flags: { f: flag({ if: [{ var: 'beta' }, 'onn', 'off'] }) } }, '/flags/f/targeting/if/1', /"onn", which is not one of the flag's variants .*did you mean "on"\?/);
    problemAt({ flags: { f: flag('on') } }, '/flags/f/targeting', /JSONLogic rule object/);
  });

  it('refuses a $ref to nothing, and a cycle of $ref', () => {
    problemAt({ flags: { f: flag({ if: [{ $ref: 'testrs' }, 'on', 'off'] }) }, $evaluators: { testers: { in: [{ var: 'targetingKey' }, ['a']] } } },
      '/flags/f/targeting/if/0/$ref', /"testrs", which is not in \$evaluators; did you mean "testers"\?/);
    const cycle = problemsOf({
      flags: { f: flag({ if: [{ $ref: 'a' }, 'on', 'off'] }) },
      $evaluators: { a: { or: [{ $ref: 'b' }, { var: 'x' }] }, b: { and: [{ $ref: 'a' }] } },
    });
    assert.ok(cycle.some((p) => p.path === '/$evaluators/b/and/0/$ref' && /cycle: a → b → a/.test(p.message)), JSON.stringify(cycle));
    problemAt({ flags: {}, $evaluators: { self: { '!': { $ref: 'self' } } } }, '/$evaluators/self/!/$ref', /cycle: self → self/);
  });

  it('checks shared rules even when no flag uses them', () => {
    problemAt({ flags: {}, $evaluators: { eu: { in: [{ vra: 'region' }, ['eu']] } } }, '/$evaluators/eu/in/0/vra', /did you mean "var"\?/);
  });

  it('enforces the limits: nesting depth (through $ref), flags, variants and bytes', () => {
    let deep: unknown = { var: 'x' };
    for (let i = 0; i < FLAG_LIMITS.ruleDepth + 2; i++) deep = { '!': [deep] };
    assert.ok(problemsOf({ flags: { f: flag({ if: [deep, 'on', 'off'] }) } }).some((p) => /nested more than 64/.test(p.message)));
    let half: unknown = { var: 'x' };
    for (let i = 0; i < 40; i++) half = { '!': [half] };
    const viaRefs = { a: { '!': [{ $ref: 'b' }] }, b: { '!': [{ $ref: 'c' }] }, c: half, d: { and: [{ $ref: 'a' }, { $ref: 'a' }] } };
    let chain: unknown = { $ref: 'd' };
    for (let i = 0; i < 30; i++) chain = { '!': [chain] };
    // Each part is within the limit; together, through $ref, they are not.
    assert.ok(compileFlagSet({ flags: { f: flag({ if: [{ $ref: 'd' }, 'on', 'off'] }) }, $evaluators: viaRefs }).ok);
    assert.ok(problemsOf({ flags: { f: flag({ if: [chain, 'on', 'off'] }) }, $evaluators: viaRefs }).some((p) => /counting through \$ref/.test(p.message)));
    const many = Object.fromEntries(Array.from({ length: FLAG_LIMITS.flags + 1 }, (_, i) => [`f${i}`, flag()]));
    problemAt({ flags: many }, '/flags', /5001 flags, more than the limit of 5000/);
    const variants = Object.fromEntries(Array.from({ length: FLAG_LIMITS.variantsPerFlag + 1 }, (_, i) => [`v${i}`, i]));
    problemAt({ flags: { f: { state: 'ENABLED', variants, defaultVariant: 'v0' } } }, '/flags/f/variants', /101 variants/);
    problemAt({ flags: { f: flag(undefined, { metadata: { blob: 'é'.repeat(FLAG_LIMITS.documentBytes / 2) } }) } }, '', /bytes, more than the limit/);
  });

  it('reports every problem at once, across flags and shared rules', () => {
    const problems = problemsOf({
      flags: { a: flag(undefined, { state: 'on' }), b: flag({ iff: [] }), c: flag(undefined, { defaultVariant: 'x' }) },
      $evaluators: { s: { $ref: 'nope' } },
    });
    assert.deepEqual(problems.map((p) => p.path).sort(), ['/$evaluators/s/$ref', '/flags/a/state', '/flags/b/targeting/iff', '/flags/c/defaultVariant']);
  });
});

describe('evaluation', () => {
  const set = compiled({
    metadata: { stage: 'prod', owner: 'platform' },
    $evaluators: { testers: { in: [{ var: 'targetingKey' }, ['tester-1', 'tester-2']] } },
    flags: {
      static: flag(undefined, { defaultVariant: 'on', metadata: { owner: 'checkout' } }),
      targeted: flag({ if: [{ $ref: 'testers' }, 'on', null] }),
      off: flag({ if: [{ $ref: 'testers' }, 'on', 'off'] }, { state: 'DISABLED' }),
      'no-default': flag({ if: [{ var: 'beta' }, 'on', null] }, { defaultVariant: null }),
      color: { state: 'ENABLED', variants: { red: '#f00', blue: '#00f' }, defaultVariant: 'red', targeting: { var: 'color' } },
      broken: flag({ if: [{ in: [{ var: 'plan' }, { var: 'plans' }] }, 'on', 'off'] }),
      timed: flag({ if: [{ '>=': [{ var: '$flagd.timestamp' }, 1_800_000_000] }, 'on', 'off'] }),
      split: flag({ fractional: [{ var: 'email' }, ['on', 50], ['off', 50]] }),
    },
  });

  it('gives the reasons flagd gives, with set and flag metadata merged', () => {
    assert.deepEqual(set.evaluate('static', 'boolean', false, {}), { value: true, variant: 'on', reason: 'STATIC', flagMetadata: { stage: 'prod', owner: 'checkout' } });
    assert.equal(set.evaluate('targeted', 'boolean', false, { targetingKey: 'tester-2' }).reason, 'TARGETING_MATCH');
    assert.deepEqual(set.evaluate('targeted', 'boolean', true, { targetingKey: 'someone' }), {
      value: false, variant: 'off', reason: 'DEFAULT', flagMetadata: { stage: 'prod', owner: 'platform' },
    });
    assert.deepEqual(set.evaluate('off', 'boolean', true, { targetingKey: 'tester-1' }), { value: true, reason: 'DISABLED', flagMetadata: { stage: 'prod', owner: 'platform' } });
    assert.deepEqual(set.evaluate('no-default', 'boolean', true, {}), { value: true, reason: 'DEFAULT', flagMetadata: { stage: 'prod', owner: 'platform' } });
  });

  it('never throws: errors give the caller\'s default, reason ERROR and a code', () => {
    const missing = set.evaluate('nope', 'boolean', true, {});
    assert.deepEqual([missing.value, missing.reason, missing.errorCode, missing.flagMetadata], [true, 'ERROR', 'FLAG_NOT_FOUND', { stage: 'prod', owner: 'platform' }]);
    assert.deepEqual(set.evaluate('static', 'string', 'dflt', {}).errorCode, 'TYPE_MISMATCH');
    assert.equal(set.evaluate('static', 'string', 'dflt', {}).value, 'dflt');
    const unknownVariant = set.evaluate('color', 'string', 'none', { color: 'green' });
    assert.deepEqual([unknownVariant.value, unknownVariant.reason, unknownVariant.errorCode], ['none', 'ERROR', 'GENERAL']);
    assert.equal(set.evaluate('color', 'string', 'none', { color: 'blue' }).value, '#00f');
    // "in" on a number: json-logic-engine throws, and so the evaluation errs (it does not throw to the app).
    assert.equal(set.evaluate('broken', 'boolean', true, { plan: 'a', plans: 5 }).errorCode, 'GENERAL');
    assert.equal(set.evaluate('broken', 'boolean', true, { plan: 'a', plans: ['a'] }).value, true);
    assert.equal(set.evaluate('static', 'boolean', false, 'not a context' as never).reason, 'STATIC');
    assert.equal(set.evaluate('targeted', 'boolean', false, 'not a context' as never).errorCode, 'INVALID_CONTEXT');
  });

  it('reads $flagd.timestamp from the time given', () => {
    assert.equal(set.evaluate('timed', 'boolean', false, {}, 1_799_999_999_000).variant, 'off');
    assert.equal(set.evaluate('timed', 'boolean', false, {}, 1_800_000_000_000).variant, 'on');
  });

  it('splits by the bucketing value given, and gives the default when it is missing', () => {
    const variants = new Set<string | undefined>();
    for (let i = 0; i < 50; i++) variants.add(set.evaluate('split', 'boolean', false, { email: `user${i}@example.com` }).variant);
    assert.deepEqual([...variants].sort(), ['off', 'on']);
    assert.equal(set.evaluate('split', 'boolean', false, {}).reason, 'DEFAULT');
  });

  it('evaluates every enabled flag with its own type, leaving out the ones without a value', () => {
    const all = set.evaluateAll({ targetingKey: 'tester-1', color: 'blue' }, 1_900_000_000_000);
    assert.deepEqual(all.map((r) => `${r.key}=${String(r.value)}/${r.reason}`), [
      'static=true/STATIC', 'targeted=true/TARGETING_MATCH', 'color=#00f/TARGETING_MATCH', 'broken=false/TARGETING_MATCH', 'timed=true/TARGETING_MATCH',
      'split=false/DEFAULT',
    ]);
  });

  it('has an ETag that follows the content', () => {
    const doc = { flags: { a: flag() } };
    assert.equal(compiled(doc).etag, compiled(structuredClone(doc)).etag);
    assert.notEqual(compiled(doc).etag, compiled({ flags: { a: flag(undefined, { defaultVariant: 'on' }) } }).etag);
    assert.deepEqual(compiled(doc).keys(), ['a']);
  });
});
