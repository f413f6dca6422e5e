import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Client, OpenFeature, ProviderEvents, StandardResolutionReasons } from '@openfeature/server-sdk';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import type { SluiceProvider as SluiceProviderType, SluiceProviderOptions } from '../packages/openfeature-provider/src/index.js';
import { type FlagsDataPlane, published, startFlagsDataPlane } from './helpers/flags.js';

// The package as users install it: the bundle `npm run build` writes (no import of Sluice's sources), not the compiled sources.
const BUNDLE = fileURLToPath(new URL('../../packages/openfeature-provider/dist/index.js', import.meta.url));
const { SluiceProvider } = (await import(BUNDLE)) as { SluiceProvider: new (o: SluiceProviderOptions) => SluiceProviderType };

const KEY = 'shop-staging-key-9a7d';
const flagsOf = (banner: string, percent: number): FlagdDocument => ({
  flags: {
    'winter-sale': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ in: [{ var: 'marketplace' }, ['DE', 'FR']] }, { fractional: [['on', percent], ['off', 100 - percent]] }, 'off'] },
    },
    banner: { state: 'ENABLED', variants: { a: banner, b: 'other' }, defaultVariant: 'a' },
    retired: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  },
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (await cond()) return;
  assert.fail(`timed out waiting for ${what}`);
}

// Sluice's own provider against a real data plane process: in-process evaluation, kept current by the stream, serving the
// last set it had while the data plane is down, and catching up when it is back.
describe('@sluice/openfeature-provider against a real data plane', { timeout: 90_000 }, () => {
  let dp: FlagsDataPlane;
  let client: Client;
  let provider: SluiceProviderType;
  const events: string[] = [];
  let revision = 1;
  before(async () => {
    dp = await startFlagsDataPlane();
    await dp.client.publish('staging', published(flagsOf('Hello', 0), revision, KEY));
    // A short backoff so that the test sees the reconnection quickly; the defaults are 250 ms up to 30 s.
    provider = new SluiceProvider({ url: `http://127.0.0.1:${dp.flagsPort}`, key: KEY, backoff: { initialMs: 50, maxMs: 200 } });
    for (const e of [ProviderEvents.Ready, ProviderEvents.Stale, ProviderEvents.ConfigurationChanged])
      provider.events.addHandler(e, () => events.push(e));
    await OpenFeature.setProviderAndWait('sluice', provider);
    client = OpenFeature.getClient('sluice');
  });
  after(async () => {
    await OpenFeature.close();
    await dp.stop();
    rmSync(dirname(dp.dataDir), { recursive: true, force: true });
  });

  it('evaluates in process with flagd semantics: targeting, splits, defaults, disabled flags', async () => {
    const de = await client.getBooleanDetails('winter-sale', true, { targetingKey: 'u-1', marketplace: 'DE' });
    assert.deepEqual([de.value, de.variant, de.reason], [false, 'off', StandardResolutionReasons.TARGETING_MATCH]);
    const us = await client.getBooleanDetails('winter-sale', true, { targetingKey: 'u-1', marketplace: 'US' });
    assert.deepEqual([us.value, us.reason], [false, StandardResolutionReasons.TARGETING_MATCH]);
    assert.equal(await client.getStringValue('banner', 'x'), 'Hello');
    const off = await client.getBooleanDetails('retired', false);
    assert.deepEqual([off.value, off.reason], [false, StandardResolutionReasons.DISABLED]);
  });

  it('a published change reaches it through the stream, and a growing split only adds users', async () => {
    const users = Array.from({ length: 400 }, (_, i) => ({ targetingKey: `user-${i}`, marketplace: 'FR' }));
    const onAt = async () => {
      const on = new Set<string>();
      for (const u of users) if (await client.getBooleanValue('winter-sale', false, u)) on.add(u.targetingKey);
      return on;
    };
    let previous = new Set<string>();
    for (const percent of [10, 50, 100]) {
      revision++;
      await dp.client.publish('staging', published(flagsOf('Hello', percent), revision, KEY));
      await until(`the ${percent}% split`, async () => (await onAt()).size > previous.size);
      const now = await onAt();
      for (const u of previous) assert.ok(now.has(u), `${u} had the sale at the last step and lost it at ${percent}%`);
      // Roughly the share asked for (400 users: 10% is 40 ± a few).
      assert.ok(Math.abs(now.size - 4 * percent) <= 4 * Math.max(8, percent / 4), `${now.size} of 400 users at ${percent}%`);
      previous = now;
    }
    assert.equal(previous.size, 400);
    assert.ok(events.includes(ProviderEvents.ConfigurationChanged));
  });

  it('keeps serving the last set while the data plane is killed, and catches up when it is back', async () => {
    const { dataDir, flagsPort: port } = dp;
    dp.proc.kill('SIGKILL');
    await until('the stale event', () => events.includes(ProviderEvents.Stale));
    // Down: every evaluation still answers from the last set, with no error.
    for (let i = 0; i < 50; i++) {
      const d = await client.getStringDetails('banner', 'x');
      assert.deepEqual([d.value, d.errorCode], ['Hello', undefined]);
    }
    await dp.stop();
    dp = await startFlagsDataPlane(['--flags-port', String(port)], dataDir);
    // Back with its saved set; then a change made after the restart arrives as well.
    revision++;
    await dp.client.publish('staging', published(flagsOf('Welcome back', 100), revision, KEY));
    await until('the change made after the restart', async () => (await client.getStringValue('banner', 'x')) === 'Welcome back');
    assert.ok(events.lastIndexOf(ProviderEvents.Ready) > events.indexOf(ProviderEvents.Stale), `events: ${events.join(', ')}`);
  });
});
