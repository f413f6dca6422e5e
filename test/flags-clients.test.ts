import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { type Client, ErrorCode, OpenFeature, StandardResolutionReasons } from '@openfeature/server-sdk';
import { ensureDataPlane, stopDataPlane } from '../src/adapters/proxy-http1/data-plane-process.js';
import type { RouterClient } from '../src/adapters/proxy-http1/router-client.js';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import { SluiceProvider } from '../packages/openfeature-provider/src/index.js';
import { DATA_PLANE_ENTRY, published } from './helpers/flags.js';

const KEY = 'shop-prod-key-4f1c2e';
const DOC: FlagdDocument = {
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ in: [{ var: 'marketplace' }, ['FR', 'DE']] }, 'on', 'off'] },
    },
    'banner-text': { state: 'ENABLED', variants: { hello: 'Hello', bye: 'Bye' }, defaultVariant: 'hello', metadata: { owner: 'web' } },
    'max-items': { state: 'ENABLED', variants: { few: 3, many: 30 }, defaultVariant: 'few' },
    theme: { state: 'ENABLED', variants: { dark: { bg: '#000' } }, defaultVariant: 'dark' },
    retired: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  },
};

// The official OpenFeature server SDK with the official OFREP provider, against a data plane process started as
// `sluice up` starts it: an app that needs no Sluice SDK.
describe('the official @openfeature/server-sdk with @openfeature/ofrep-provider', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-ofrep-client-'));
  const dataDir = join(root, 'data');
  let router: RouterClient;
  let client: Client;
  let stranger: Client;
  let own: Client;
  before(async () => {
    const dp = await ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, flagsPort: 0, maxConnections: 100, entry: DATA_PLANE_ENTRY, build: 'test' }, () => {});
    router = dp.client;
    await router.publish('prod', published(DOC, 1, KEY));
    const baseUrl = `http://127.0.0.1:${dp.health.flagsPort}`;
    await OpenFeature.setProviderAndWait('shop', new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${KEY}`]] }));
    await OpenFeature.setProviderAndWait('stranger', new OFREPProvider({ baseUrl, headers: { 'X-API-Key': 'not-a-key' } }));
    await OpenFeature.setProviderAndWait('own', new SluiceProvider({ url: baseUrl, key: KEY }));
    own = OpenFeature.getClient('own');
    client = OpenFeature.getClient('shop');
    stranger = OpenFeature.getClient('stranger');
  });
  after(async () => {
    await OpenFeature.close();
    router.close();
    await stopDataPlane(dataDir);
    rmSync(root, { recursive: true, force: true });
  });

  it('evaluates boolean, string, number and object flags with the rules applied to the context', async () => {
    const fr = await client.getBooleanDetails('new-checkout', false, { targetingKey: 'c-1', marketplace: 'FR' });
    assert.equal(fr.value, true);
    assert.equal(fr.variant, 'on');
    assert.equal(fr.reason, StandardResolutionReasons.TARGETING_MATCH);
    assert.equal(fr.errorCode, undefined);
    assert.equal(await client.getBooleanValue('new-checkout', true, { targetingKey: 'c-1', marketplace: 'US' }), false);
    const banner = await client.getStringDetails('banner-text', 'default');
    assert.equal(banner.value, 'Hello');
    assert.deepEqual(banner.flagMetadata, { owner: 'web' });
    assert.equal(await client.getNumberValue('max-items', 0), 3);
    assert.deepEqual(await client.getObjectValue('theme', {}), { bg: '#000' });
  });

  it('a missing flag: the app\'s default, reason ERROR, FLAG_NOT_FOUND', async () => {
    const d = await client.getBooleanDetails('no-such-flag', true);
    assert.equal(d.value, true);
    assert.equal(d.reason, StandardResolutionReasons.ERROR);
    assert.equal(d.errorCode, ErrorCode.FLAG_NOT_FOUND);
  });

  it('a flag asked for with the wrong type: the app\'s default, TYPE_MISMATCH', async () => {
    const d = await client.getNumberDetails('banner-text', 7);
    assert.equal(d.value, 7);
    assert.equal(d.reason, StandardResolutionReasons.ERROR);
    assert.equal(d.errorCode, ErrorCode.TYPE_MISMATCH);
    assert.equal((await client.getBooleanDetails('max-items', false)).errorCode, ErrorCode.TYPE_MISMATCH);
  });

  it('a disabled flag and a wrong key leave the app with its default values', async () => {
    assert.equal(await client.getBooleanValue('retired', false), false);
    const d = await stranger.getStringDetails('banner-text', 'fallback');
    assert.equal(d.value, 'fallback');
    assert.equal(d.reason, StandardResolutionReasons.ERROR);
  });

  it('Sluice\'s own provider evaluates the same flags in process, with the same errors', async () => {
    const fr = await own.getBooleanDetails('new-checkout', false, { targetingKey: 'c-1', marketplace: 'FR' });
    assert.equal(fr.value, true);
    assert.equal(fr.reason, StandardResolutionReasons.TARGETING_MATCH);
    assert.equal(await own.getStringValue('banner-text', 'default'), 'Hello');
    assert.equal(await own.getNumberValue('max-items', 0), 3);
    const missing = await own.getBooleanDetails('no-such-flag', true);
    assert.equal(missing.value, true);
    assert.equal(missing.errorCode, ErrorCode.FLAG_NOT_FOUND);
    const wrong = await own.getNumberDetails('banner-text', 7);
    assert.equal(wrong.value, 7);
    assert.equal(wrong.errorCode, ErrorCode.TYPE_MISMATCH);
  });

  it('sees a published change: the OFREP client on its next evaluation, Sluice\'s provider through the stream', async () => {
    await router.publish('prod', published({ flags: { ...DOC.flags, 'banner-text': { ...DOC.flags['banner-text']!, defaultVariant: 'bye' } } }, 2, KEY));
    assert.equal(await client.getStringValue('banner-text', 'default'), 'Bye');
    let seen = '';
    for (let i = 0; i < 500 && seen !== 'Bye'; i++) {
      seen = await own.getStringValue('banner-text', 'default');
      if (seen !== 'Bye') await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(seen, 'Bye');
  });
});
