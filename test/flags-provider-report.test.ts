import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { OpenFeature } from '@openfeature/server-sdk';
import { compileFlagSet } from '../src/flags/flag-compiler.js';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import { VARIANT_KEY_METADATA, variantSeries } from '../src/flags/ports/variant-metrics.js';
import type { SluiceProvider as SluiceProviderType, SluiceProviderOptions } from '../packages/openfeature-provider/src/index.js';
import { type FlagsDataPlane, published, startFlagsDataPlane } from './helpers/flags.js';

// The package as users install it: the bundle `npm run build` writes.
const BUNDLE = fileURLToPath(new URL('../../packages/openfeature-provider/dist/index.js', import.meta.url));
const { SluiceProvider } = (await import(BUNDLE)) as { SluiceProvider: new (o: SluiceProviderOptions) => SluiceProviderType };

const KEY = 'app-report-key-1f2e';
const doc: FlagdDocument = {
  flags: {
    checkout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
    // Counted by the router: the provider does not report it (the data plane would refuse it).
    routed: { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'a', metadata: { [VARIANT_KEY_METADATA]: 'header:x-user-id' } },
  },
};
const compiled = compileFlagSet(doc);
assert.ok(compiled.ok);
const variantOf = (user: string) => compiled.set.evaluate('checkout', 'boolean', false, { targetingKey: user }).variant!;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await cond()) return;
  assert.fail(`timed out waiting for ${what}`);
}

// Sluice's provider counts evaluations per variant (a hook) and app errors (track), and reports them to a real data plane.
describe('@sluice/openfeature-provider reports per-variant counts to a real data plane', { timeout: 90_000 }, () => {
  let dp: FlagsDataPlane;
  const since = Math.floor(Date.now() / 1000) - 1;
  const totals = async (variant: string) => {
    const s = await dp.client.series('app', variantSeries('checkout', variant), since, Math.floor(Date.now() / 1000) + 1);
    return { requests: s.samples.reduce((a, x) => a + x.requests, 0), errors: s.samples.reduce((a, x) => a + x.errors, 0) };
  };
  before(async () => {
    dp = await startFlagsDataPlane();
    await dp.client.publish('app', published(doc, 1, KEY));
  });
  after(async () => {
    await OpenFeature.close();
    await dp.stop();
    rmSync(dirname(dp.dataDir), { recursive: true, force: true });
  });

  it('evaluations count as requests of the variant served; track(\'error\') and evaluation errors count as its errors', async () => {
    const provider = new SluiceProvider({ url: `http://127.0.0.1:${dp.flagsPort}`, key: KEY, report: { intervalMs: 100 } });
    await OpenFeature.setProviderAndWait('report', provider);
    const client = OpenFeature.getClient('report');
    const want: Record<string, { requests: number; errors: number }> = { on: { requests: 0, errors: 0 }, off: { requests: 0, errors: 0 } };
    for (let i = 0; i < 300; i++) {
      const user = `user-${i}`;
      const v = variantOf(user);
      const d = await client.getBooleanDetails('checkout', false, { targetingKey: user });
      assert.equal(d.variant, v);
      want[v]!.requests++;
      await client.getStringValue('routed', '', { targetingKey: user });
      // The app fails for every fourth user, and says so.
      if (i % 4 === 0) {
        client.track('error', { targetingKey: user });
        want[v]!.errors++;
      }
    }
    // Asked as the wrong type: an evaluation error, counted against the variant this user gets.
    assert.equal(await client.getStringValue('checkout', 'fallback', { targetingKey: 'user-7' }), 'fallback');
    want[variantOf('user-7')]!.requests++;
    want[variantOf('user-7')]!.errors++;
    assert.ok(want.on!.requests > 100 && want.off!.requests > 100);
    await until('the reports to arrive', async () => JSON.stringify([await totals('on'), await totals('off')]) === JSON.stringify([want.on, want.off]));
    // And no more than that: nothing counted twice.
    await sleep(300);
    assert.deepEqual([await totals('on'), await totals('off')], [want.on, want.off]);
    assert.equal(provider.reporter!.dropped, 0);
    assert.ok(provider.reporter!.sent >= 1);
    const routed = await dp.client.series('app', variantSeries('routed', 'a'), since, Math.floor(Date.now() / 1000) + 1);
    assert.deepEqual(routed.samples, [], 'a flag the router counts is not reported');
  });

  it('a data plane that does not take reports never reaches the app, and what it holds is dropped past the bound', async () => {
    let reports = 0;
    const failing: typeof fetch = (input, init) => {
      if (String(input).endsWith('/flags/v1/report')) {
        reports++;
        return Promise.reject(new Error('connection refused'));
      }
      return fetch(input, init);
    };
    const provider = new SluiceProvider({ url: `http://127.0.0.1:${dp.flagsPort}`, key: KEY, fetch: failing, report: { intervalMs: 50, maxFailures: 3 } });
    await OpenFeature.setProviderAndWait('failing', provider);
    const client = OpenFeature.getClient('failing');
    for (let i = 0; i < 20; i++) assert.equal(typeof (await client.getBooleanValue('checkout', false, { targetingKey: `u-${i}` })), 'boolean');
    client.track('error', { targetingKey: 'u-1' });
    await until('three failed flushes and the drop', () => provider.reporter!.dropped === 21);
    const at = reports;
    await sleep(300);
    assert.equal(reports, at, 'nothing held, nothing sent');
    await OpenFeature.clearProviders();
  });
});
