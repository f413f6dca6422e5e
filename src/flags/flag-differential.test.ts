// Sluice's evaluator against @openfeature/flagd-core 4.0.1 (the reference the issue names): thousands of random flag
// sets and contexts must give the same value, variant, reason, error code and metadata.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlagdCore } from '@openfeature/flagd-core';
import fc from 'fast-check';
import { murmur3 } from '../kernel/murmur3.js';
import { compileFlagSet } from './flag-compiler.js';
import type { FlagType } from './flag-model.js';

const VARIANTS: Record<FlagType, Record<string, unknown>> = {
  boolean: { on: true, off: false },
  string: { red: 'r', blue: 'b', green: 'g' },
  number: { one: 1, two: 2.5, zero: 0 },
  object: { small: { size: 1 }, big: { size: 9, tags: ['x'] }, list: [1, 2] },
};
const TYPES = Object.keys(VARIANTS) as FlagType[];
const FLAG_KEYS = ['new-checkout', 'dark_mode', 'price.v2', 'a', 'search-ranking-2024'];
const SEGMENTS = ['testers', 'eu', 'vip', 'mobile'];
const STRINGS = ['pro', 'free', 'on', 'red', 'blue', 'one', 'eu-west', 'us-east', '', '5', '1.2.3', 'v2.0.0', '2.0.0-beta.1', 'abc', 'PRO', 'user-7'];
const ATTRS = ['plan', 'region', 'age', 'email', 'version', 'beta', 'score', 'tags', 'customer.id', 'customer', 'targetingKey', 'missing'];

const stringValue = fc.constantFrom(...STRINGS);
const numberValue = fc.oneof(fc.integer({ min: -3, max: 120 }), fc.constantFrom(0, 1.5, -0.5, 5));
const scalar = fc.oneof(stringValue, numberValue, fc.boolean(), fc.constant(null));
const contextValue = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(stringValue, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ id: scalar }, { noNullPrototype: true }) },
);
const context = fc.record(
  {
    targetingKey: fc.oneof({ weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) }, { weight: 1, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) }),
    plan: contextValue,
    region: contextValue,
    age: contextValue,
    email: fc.oneof(fc.emailAddress(), stringValue),
    version: fc.oneof(fc.constantFrom('1.0.0', '1.2.3', '2.0.0', '2.0.0-rc.1', 'v1.4', '1', '3.1', 'nope', '1.2.3.4'), numberValue),
    beta: fc.boolean(),
    score: numberValue,
    tags: fc.array(stringValue, { maxLength: 3 }),
    customer: fc.record({ id: scalar, tier: stringValue }, { requiredKeys: [], noNullPrototype: true }),
  },
  // Contexts arrive as JSON: plain objects.
  { requiredKeys: [], noNullPrototype: true },
);

const varOf = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ATTRS).map((a) => ({ var: a })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...ATTRS), scalar).map(([a, d]) => ({ var: [a, d] })) },
  { weight: 1, arbitrary: fc.constantFrom({ var: '$flagd.flagKey' }, { var: '$flagd.timestamp' }) },
);
const operand = fc.oneof({ weight: 3, arbitrary: varOf }, { weight: 2, arbitrary: scalar });

/** A condition. At least one side of a comparison is an attribute (all-literal ones are folded, and refused when they fail). */
function condition(depth: number, refs: readonly string[]): fc.Arbitrary<unknown> {
  const leaves: Array<fc.Arbitrary<unknown>> = [
    fc.tuple(fc.constantFrom('==', '===', '!=', '!==', '<', '<=', '>', '>='), varOf, operand).map(([op, a, b]) => ({ [op]: [a, b] })),
    fc.tuple(fc.constantFrom('==', '!=', '<', '>='), scalar, varOf).map(([op, a, b]) => ({ [op]: [a, b] })),
    fc.tuple(fc.constantFrom('<', '<=', '>'), scalar, varOf, scalar).map(([op, a, b, c]) => ({ [op]: [a, b, c] })),
    fc.tuple(varOf, fc.array(scalar, { maxLength: 12 })).map(([a, list]) => ({ in: [a, list] })),
    fc.tuple(varOf, fc.constantFrom('pro-eu-west', 'user-1,user-2', '')).map(([a, s]) => ({ in: [a, s] })),
    fc.tuple(stringValue, varOf).map(([s, v]) => ({ in: [s, v] })),
    fc.tuple(fc.constantFrom('starts_with', 'ends_with'), varOf, fc.constantFrom('user', 'eu', '@example.com', '', 'pro')).map(([op, a, s]) => ({ [op]: [a, s] })),
    fc.tuple(fc.constantFrom({ var: 'version' }, { var: 'plan' }), fc.constantFrom('=', '!=', '<', '<=', '>=', '>', '^', '~'),
      fc.constantFrom('1.2.0', '2.0.0', 'v1.0', '2', '2.0.0-rc.2')).map(([v, op, x]) => ({ sem_ver: [v, op, x] })),
    fc.array(fc.constantFrom(...ATTRS), { minLength: 1, maxLength: 3 }).map((keys) => ({ missing: keys })),
    fc.tuple(fc.integer({ min: 0, max: 3 }), fc.array(fc.constantFrom(...ATTRS), { minLength: 1, maxLength: 3 }))
      .map(([n, keys]) => ({ missing_some: [n, keys] })),
    varOf,
  ];
  if (refs.length > 0) leaves.push(fc.constantFrom(...refs).map((r) => ({ $ref: r })));
  if (depth <= 0) return fc.oneof(...leaves);
  const sub = condition(depth - 1, refs);
  return fc.oneof(
    { weight: 4, arbitrary: fc.oneof(...leaves) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('!', '!!'), sub, fc.boolean()).map(([op, c, wrap]) => ({ [op]: wrap ? [c] : c })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('and', 'or'), fc.array(sub, { minLength: 1, maxLength: 3 })).map(([op, cs]) => ({ [op]: cs })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('==', '!='), sub, sub).map(([op, a, b]) => ({ [op]: [a, b] })) },
  );
}

/** A fractional split over the flag's variants: random weights, with or without an explicit bucketing value. */
function fractional(names: string[]): fc.Arbitrary<unknown> {
  const buckets = fc.array(fc.tuple(fc.constantFrom(...names), fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(undefined))), {
    minLength: 1,
    maxLength: 4,
  }).map((bs) => bs.map(([n, w]) => (w === undefined ? [n] : [n, w])));
  const by = fc.constantFrom(
    { cat: [{ var: '$flagd.flagKey' }, { var: 'email' }] },
    { var: 'email' },
    { var: 'customer.id' },
    { cat: ['salt-', { var: 'targetingKey' }] },
    'fixed-bucketing-value',
  );
  return fc.oneof(
    { weight: 3, arbitrary: buckets.map((b) => ({ fractional: b })) },
    { weight: 2, arbitrary: fc.tuple(by, buckets).map(([x, b]) => ({ fractional: [x, ...b] })) },
  );
}

/** What targeting returns: a variant name, a nested if, a split, an attribute's value (maybe no variant), or null. */
function result(names: string[], depth: number, refs: readonly string[]): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...names) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fractional(names) },
    { weight: 1, arbitrary: fc.constantFrom({ var: 'plan' }, { var: 'region' }, { var: 'score' }) },
    { weight: 1, arbitrary: fc.constantFrom(...names).map((n) => ({ cat: [n.slice(0, 1), n.slice(1)] })) },
  );
  if (depth <= 0) return leaf;
  const cond = condition(2, refs);
  const sub = result(names, depth - 1, refs);
  return fc.oneof(
    { weight: 1, arbitrary: leaf },
    { weight: 3, arbitrary: fc.tuple(cond, sub, sub).map(([c, a, b]) => ({ if: [c, a, b] })) },
    { weight: 1, arbitrary: fc.tuple(cond, sub, cond, sub).map(([c1, a, c2, b]) => ({ if: [c1, a, c2, b] })) },
    { weight: 1, arbitrary: fc.tuple(cond, sub, cond, sub, sub).map(([c1, a, c2, b, d]) => ({ '?:': [c1, a, c2, b, d] })) },
  );
}

const segments = fc.uniqueArray(fc.constantFrom(...SEGMENTS), { maxLength: 3 }).chain((names) =>
  fc.tuple(...names.map(() => condition(1, []))).map((conds) => Object.fromEntries(names.map((n, i) => [n, conds[i]]))));

const flagSet = segments.chain((evaluators) => {
  const refs = Object.keys(evaluators);
  const flag = fc.constantFrom(...TYPES).chain((type) => {
    const names = Object.keys(VARIANTS[type]);
    return fc.record(
      {
        state: fc.constantFrom('ENABLED', 'ENABLED', 'ENABLED', 'DISABLED'),
        variants: fc.constant(VARIANTS[type]),
        defaultVariant: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.constant(null) }),
        // flagd reads a bare string as a rule giving that variant; Sluice asks for a rule object (a unit test shows it).
        targeting: fc.oneof({ weight: 1, arbitrary: fc.constant({}) },
          { weight: 6, arbitrary: result(names, 2, refs).filter((t) => t !== null && typeof t === 'object' && !Array.isArray(t)) }),
        metadata: fc.record({ owner: fc.constantFrom('team-a', 'team-b'), version: fc.integer({ min: 1, max: 3 }) }, { requiredKeys: [] }),
      },
      { requiredKeys: ['state', 'variants'] },
    );
  });
  return fc.record({
    flags: fc.uniqueArray(fc.tuple(fc.constantFrom(...FLAG_KEYS), flag), { minLength: 1, maxLength: 4, selector: ([k]) => k })
      .map((entries) => Object.fromEntries(entries)),
    $evaluators: fc.constant(evaluators),
    metadata: fc.option(fc.record({ stage: fc.constantFrom('prod', 'staging'), owner: fc.constant('platform') }), { nil: undefined }),
  }).map((doc) => (doc.metadata === undefined ? { flags: doc.flags, $evaluators: doc.$evaluators } : doc));
});

const DEFAULTS: Record<FlagType, unknown> = { boolean: false, string: 'default', number: -1, object: { fallback: true } };

function comparable(r: { value?: unknown; variant?: unknown; reason?: unknown; errorCode?: unknown; flagMetadata?: unknown }) {
  return { value: r.value, variant: r.variant, reason: r.reason, errorCode: r.errorCode, flagMetadata: { ...(r.flagMetadata as object) } };
}

const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

function flagdFor(doc: unknown): FlagdCore {
  const core = new FlagdCore(undefined, quiet);
  core.setConfigurations(JSON.stringify(doc));
  return core;
}

describe('Sluice evaluates exactly as @openfeature/flagd-core 4.0.1', () => {
  it('gives the same value, variant, reason, error code and metadata for thousands of random flag sets and contexts', () => {
    let evaluations = 0;
    const reasons = new Map<string, number>();
    fc.assert(
      fc.property(flagSet, fc.array(context, { minLength: 1, maxLength: 4 }), (doc, contexts) => {
        const compiled = compileFlagSet(doc);
        if (!compiled.ok) throw new Error(`Sluice refused a valid set: ${JSON.stringify(compiled.problems)}`);
        const core = flagdFor(doc);
        const keys = [...Object.keys(doc.flags), 'no-such-flag'];
        for (const ctx of contexts) {
          const now = Date.now();
          for (const key of keys) {
            for (const type of TYPES) {
              const expected = comparable(core.resolve(type, key, DEFAULTS[type] as never, ctx as never));
              const actual = comparable(compiled.set.evaluate(key, type, DEFAULTS[type] as never, ctx, now));
              assert.deepEqual(actual, expected, `flag ${key} as ${type}, context ${JSON.stringify(ctx)}\nset ${JSON.stringify(doc)}`);
              evaluations++;
              reasons.set(`${actual.reason}/${actual.errorCode ?? ''}`, (reasons.get(`${actual.reason}/${actual.errorCode ?? ''}`) ?? 0) + 1);
            }
          }
          const all: unknown[] = compiled.set.evaluateAll(ctx, now).map(({ key, ...r }) => ({ key, ...comparable(r) }));
          const flagdAll: unknown[] = core.resolveAll(ctx as never).map(({ flagKey, ...r }) => ({ key: flagKey, ...comparable(r) }));
          assert.deepEqual(all, flagdAll);
        }
      }),
      { numRuns: Number(process.env.DIFF_RUNS ?? 2000), seed: process.env.DIFF_SEED ? Number(process.env.DIFF_SEED) : undefined },
    );
    // The generators must reach every outcome, or the comparison above proves less than it claims.
    for (const outcome of ['STATIC/', 'TARGETING_MATCH/', 'DEFAULT/', 'DISABLED/', 'ERROR/FLAG_NOT_FOUND', 'ERROR/TYPE_MISMATCH', 'ERROR/GENERAL']) {
      assert.ok((reasons.get(outcome) ?? 0) > 0, `no evaluation ended in ${outcome}: ${JSON.stringify([...reasons])}`);
    }
    assert.ok(evaluations > 20_000, `only ${evaluations} evaluations`);
  });

  it('puts users in the same fractional bucket as flagd for every ASCII targeting key, with any weights', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAG_KEYS), fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 24 }), { minLength: 1, maxLength: 20 }), (key, weights, users) => {
          const variants = Object.fromEntries(weights.map((_, i) => [`v${i}`, i]));
          const doc = { flags: { [key]: { state: 'ENABLED', variants, defaultVariant: 'v0', targeting: { fractional: weights.map((w, i) => [`v${i}`, w]) } } } };
          const compiled = compileFlagSet(doc);
          assert.ok(compiled.ok);
          const core = flagdFor(doc);
          for (const user of users) {
            const a: { variant?: string } = compiled.set.evaluate(key, 'number', -1, { targetingKey: user });
            const b: { variant?: string } = core.resolveNumberEvaluation(key, -1, { targetingKey: user });
            assert.equal(a.variant, b.variant, `${key} ${user} ${JSON.stringify(weights)}`);
          }
        }),
      { numRuns: 300 },
    );
  });
});

describe('where flagd-core 4.0.1 is inconsistent, Sluice follows flagd (and says so)', () => {
  it('hashes non-ASCII targeting keys as UTF-8 like flagd (Go) and the router, where flagd-core hashes UTF-16 code units', () => {
    // flagd-core uses imurmurhash, which feeds charCodeAt() values rather than UTF-8 bytes: for "é" it hashes one
    // byte 0xE9 where flagd's Go evaluator (and MurmurHash3 over the UTF-8 text) hashes 0xC3 0xA9. Sluice keeps the
    // standard hash, so flagd, the router's sticky split and Sluice agree.
    const doc = { flags: { f: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', targeting: { fractional: [['a', 50], ['b', 50]] } } } };
    const compiled = compileFlagSet(doc);
    assert.ok(compiled.ok);
    let differs = 0;
    for (const user of ['josé', 'zoë', 'ユーザー', 'müller-1', 'ørsted', 'ñandú', 'çava', 'über']) {
      const bucket = Number((BigInt(murmur3(`f${user}`)) * 100n) >> 32n);
      assert.equal(compiled.set.evaluate('f', 'string', '', { targetingKey: user }).variant, bucket < 50 ? 'a' : 'b', user);
      if (flagdFor(doc).resolveStringEvaluation('f', '', { targetingKey: user }).variant !== (bucket < 50 ? 'a' : 'b')) differs++;
    }
    assert.ok(differs > 0, 'flagd-core now hashes UTF-8: this divergence can be dropped from the docs');
  });

  it('resolves a $ref inside a shared rule in any order, where flagd-core only expands refs to rules listed after', () => {
    // flagd-core expands `{"$ref": name}` by string replacement, one evaluator at a time in listing order: a rule that
    // refers to one listed before it keeps a raw "$ref", which then fails to compile (PARSE_ERROR on every evaluation).
    const doc = {
      $evaluators: { base: { in: [{ var: 'targetingKey' }, ['u1', 'u2']] }, testers: { or: [{ $ref: 'base' }, { ends_with: [{ var: 'email' }, '@example.com'] }] } },
      flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ $ref: 'testers' }, 'on', 'off'] } } },
    };
    const compiled = compileFlagSet(doc);
    assert.ok(compiled.ok);
    assert.equal(compiled.set.evaluate('f', 'boolean', false, { targetingKey: 'u2' }).value, true);
    assert.equal(compiled.set.evaluate('f', 'boolean', false, { targetingKey: 'x', email: 'a@example.com' }).value, true);
    assert.equal(compiled.set.evaluate('f', 'boolean', false, { targetingKey: 'x' }).variant, 'off');
    assert.equal(flagdFor(doc).resolveBooleanEvaluation('f', false, { targetingKey: 'u2' }).errorCode, 'PARSE_ERROR');
  });
});
