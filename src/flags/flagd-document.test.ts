import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from '../kernel/errors.js';
import { compileFlagSet } from './flag-compiler.js';
import type { FlagDefinition, StageFlags } from './flag-model.js';
import { fromFlagdDocument, toFlagdDocument } from './flagd-document.js';

const defs: FlagDefinition[] = [
  { key: 'new-checkout', type: 'boolean', variants: { on: true, off: false }, description: 'The one-page checkout', owner: 'team-checkout' },
  { key: 'banner', type: 'string', variants: { none: '', sale: 'Winter sale' }, description: 'Home banner', owner: 'marketing' },
  { key: 'limits', type: 'object', variants: { small: { items: 5 }, large: { items: 50 } }, description: '', owner: 'platform' },
];
const stage: StageFlags = {
  flags: {
    'new-checkout': { state: 'ENABLED', defaultVariant: 'off', targeting: { if: [{ $ref: 'testers' }, 'on', { fractional: [['on', 5], ['off', 95]] }] } },
    banner: { state: 'DISABLED', defaultVariant: 'none' },
    limits: { state: 'ENABLED', defaultVariant: 'small', targeting: { if: [{ in: [{ var: 'marketplace' }, ['DE', 'FR']] }, 'large', null] } },
  },
  segments: { testers: { in: [{ var: 'targetingKey' }, ['tester-1', 'tester-2']] } },
};

describe('flagd documents', () => {
  it('writes one stage as a flagd flag set that compiles and evaluates as configured', () => {
    const doc = toFlagdDocument(defs, stage);
    assert.deepEqual(doc.flags['new-checkout']!.metadata, { description: 'The one-page checkout', owner: 'team-checkout', type: 'boolean' });
    assert.deepEqual(doc.$evaluators, stage.segments);
    const r = compileFlagSet(doc);
    assert.ok(r.ok);
    assert.equal(r.set.evaluate('new-checkout', 'boolean', false, { targetingKey: 'tester-1' }).value, true);
    assert.deepEqual(r.set.evaluate('limits', 'object', {}, { marketplace: 'DE' }).value, { items: 50 });
    assert.equal(r.set.evaluate('banner', 'string', 'x', {}).reason, 'DISABLED');
  });

  it('reads back what it wrote (round trip)', () => {
    assert.deepEqual(fromFlagdDocument(JSON.parse(JSON.stringify(toFlagdDocument(defs, stage)))), { defs, stage });
  });

  it('serves a declared flag the stage has not configured as DISABLED', () => {
    const doc = toFlagdDocument([...defs, { key: 'later', type: 'number', variants: { a: 1 }, description: '', owner: '' }], stage);
    assert.deepEqual(doc.flags.later, { state: 'DISABLED', variants: { a: 1 }, defaultVariant: 'a', metadata: { description: '', owner: '', type: 'number' } });
  });

  it('imports a flagd user\'s file, inferring types from the variants', () => {
    const { defs: imported, stage: config } = fromFlagdDocument({
      flags: {
        ratio: { state: 'ENABLED', variants: { low: 0.1, high: 0.9 }, defaultVariant: 'low' },
        theme: { state: 'ENABLED', variants: { dark: { bg: '#000' } }, defaultVariant: 'dark', metadata: { owner: 'ui' } },
      },
    });
    assert.deepEqual(imported.map((d) => [d.key, d.type, d.owner]), [['ratio', 'number', ''], ['theme', 'object', 'ui']]);
    assert.deepEqual(config, { flags: { ratio: { state: 'ENABLED', defaultVariant: 'low' }, theme: { state: 'ENABLED', defaultVariant: 'dark' } }, segments: {} });
  });

  it('refuses a bad file with every problem, and a flag without a default variant', () => {
    assert.throws(() => fromFlagdDocument({ flags: { a: { state: 'ON', variants: { x: 1 }, defaultVariant: 'y' } } }), (e: unknown) =>
      isSluiceError(e) && e.code === 'BAD_REQUEST' && (e.details as { problems: unknown[] }).problems.length === 2 && /\/flags\/a\/state/.test(e.message));
    assert.throws(() => fromFlagdDocument({ flags: { a: { state: 'ENABLED', variants: { x: 1 }, defaultVariant: null } } }), (e: unknown) =>
      isSluiceError(e) && /no default variant: a/.test(e.message));
  });
});
