import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { ControlError } from '../src/adapters/proxy-http1/router-client.js';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import { type FlagsDataPlane, flagsRequest, ofrep, published, sha256, startFlagsDataPlane, StreamSubscriber } from './helpers/flags.js';

const KEY = 'prod-key-0123456789';
const STAGING_KEY = 'staging-key-0123456789';

/** Prod's flags: a boolean with a rule, a string, a number, an object, and a disabled one. */
const PROD: FlagdDocument = {
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ in: [{ var: 'marketplace' }, ['FR', 'DE']] }, 'on', 'off'] },
    },
    'banner-text': { state: 'ENABLED', variants: { hello: 'Hello', bye: 'Bye' }, defaultVariant: 'hello', metadata: { owner: 'web' } },
    'max-items': { state: 'ENABLED', variants: { few: 3, many: 30 }, defaultVariant: 'many' },
    theme: { state: 'ENABLED', variants: { dark: { bg: '#000' }, light: { bg: '#fff' } }, defaultVariant: 'light' },
    retired: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    // The variant is named by the context: a name the flag does not have is an error while evaluating.
    picked: { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'a', targeting: { var: 'pick' } },
  },
};

describe('OFREP on the data plane, through real HTTP', { timeout: 120_000 }, () => {
  let dp: FlagsDataPlane;
  before(async () => {
    dp = await startFlagsDataPlane(['--flags-max-streams', '3', '--flags-rate', '1000']);
    await dp.client.publish('prod', published(PROD, 1, KEY));
    await dp.client.publish('staging', published({ flags: { 'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' } } }, 1, STAGING_KEY));
  });
  after(() => dp.stop());

  it('evaluates one flag: value, variant, reason and metadata, with the rule applied to the context', async () => {
    const fr = await ofrep(dp.flagsPort, KEY, 'new-checkout', { targetingKey: 'u1', marketplace: 'FR' });
    assert.equal(fr.status, 200);
    assert.match(String(fr.headers['content-type']), /^application\/json/);
    assert.deepEqual(fr.json, { key: 'new-checkout', value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: {} });
    const us = await ofrep(dp.flagsPort, KEY, 'new-checkout', { targetingKey: 'u1', marketplace: 'US' });
    assert.equal(us.json.value, false);
    const banner = await ofrep(dp.flagsPort, KEY, 'banner-text', {});
    assert.deepEqual(banner.json, { key: 'banner-text', value: 'Hello', reason: 'STATIC', variant: 'hello', metadata: { owner: 'web' } });
    assert.equal((await ofrep(dp.flagsPort, KEY, 'max-items', {})).json.value, 30);
    assert.deepEqual((await ofrep(dp.flagsPort, KEY, 'theme', {})).json.value, { bg: '#fff' });
  });

  it('the API key selects the stage: the same flag answers with staging\'s set for staging\'s key', async () => {
    const r = await ofrep(dp.flagsPort, STAGING_KEY, 'new-checkout', { marketplace: 'US' });
    assert.equal(r.json.value, true);
    assert.equal((await ofrep(dp.flagsPort, STAGING_KEY, 'banner-text', {})).status, 404, 'prod\'s flags are not staging\'s');
  });

  it('a disabled flag answers DISABLED with no value (the app keeps its default); it is left out of bulk', async () => {
    const r = await ofrep(dp.flagsPort, KEY, 'retired', {});
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { key: 'retired', reason: 'DISABLED', metadata: {} });
    const bulk = await ofrep(dp.flagsPort, KEY, undefined, {});
    assert.deepEqual(bulk.json.flags.map((f: { key: string }) => f.key).sort(), ['banner-text', 'max-items', 'new-checkout', 'picked', 'theme']);
  });

  it('answers the protocol\'s errors: 404 FLAG_NOT_FOUND, 400 PARSE_ERROR and INVALID_CONTEXT with {key, errorCode, errorDetails}', async () => {
    const missing = await ofrep(dp.flagsPort, KEY, 'nope', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.json.key, 'nope');
    assert.equal(missing.json.errorCode, 'FLAG_NOT_FOUND');
    assert.match(missing.json.errorDetails, /nope/);
    const parse = await flagsRequest(dp.flagsPort, '/ofrep/v1/evaluate/flags/banner-text', { headers: { 'x-api-key': KEY }, body: '{"context": {' });
    assert.equal(parse.status, 400);
    assert.equal(parse.json.errorCode, 'PARSE_ERROR');
    assert.equal(parse.json.key, 'banner-text');
    for (const context of [[1, 2], 'text', 7, { targetingKey: 42 }]) {
      const r = await ofrep(dp.flagsPort, KEY, 'banner-text', context);
      assert.equal(r.status, 400, JSON.stringify(context));
      assert.equal(r.json.errorCode, 'INVALID_CONTEXT', JSON.stringify(context));
      assert.equal(typeof r.json.errorDetails, 'string');
    }
    const bulk = await ofrep(dp.flagsPort, KEY, undefined, [1]);
    assert.equal(bulk.status, 400);
    assert.deepEqual(Object.keys(bulk.json).sort(), ['errorCode', 'errorDetails']);
    assert.equal(bulk.json.errorCode, 'INVALID_CONTEXT');
  });

  it('an error while evaluating is 400 GENERAL for one flag, and an item with its errorCode in bulk, beside the others', async () => {
    assert.deepEqual((await ofrep(dp.flagsPort, KEY, 'picked', { pick: 'b' })).json, { key: 'picked', value: 'B', reason: 'TARGETING_MATCH', variant: 'b', metadata: {} });
    const one = await ofrep(dp.flagsPort, KEY, 'picked', { pick: 'zzz' });
    assert.equal(one.status, 400);
    assert.equal(one.json.key, 'picked');
    assert.equal(one.json.errorCode, 'GENERAL');
    assert.match(one.json.errorDetails, /zzz/);
    const bulk = await ofrep(dp.flagsPort, KEY, undefined, { pick: 'zzz' });
    assert.equal(bulk.status, 200);
    const item = bulk.json.flags.find((f: { key: string }) => f.key === 'picked');
    assert.equal(item.errorCode, 'GENERAL');
    assert.equal('value' in item, false);
    assert.equal(bulk.json.flags.find((f: { key: string }) => f.key === 'banner-text').value, 'Hello');
  });

  it('needs a key: 401 without, 403 with one no stage lists; Bearer and X-API-Key both work', async () => {
    const none = await ofrep(dp.flagsPort, undefined, 'banner-text', {});
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.equal((await ofrep(dp.flagsPort, 'wrong-key', 'banner-text', {})).status, 403);
    assert.equal((await ofrep(dp.flagsPort, undefined, 'banner-text', {}, { 'x-api-key': KEY })).status, 200);
    assert.equal((await ofrep(dp.flagsPort, undefined, 'banner-text', {}, { authorization: `bearer ${KEY}` })).status, 200);
    for (const path of ['/flags/v1/stream', '/flags/v1/sync']) {
      assert.equal((await flagsRequest(dp.flagsPort, path, { method: 'GET' })).status, 401, path);
      assert.equal((await flagsRequest(dp.flagsPort, path, { method: 'GET', headers: { 'x-api-key': 'wrong' } })).status, 403, path);
    }
  });

  it('bulk evaluation carries an ETag: If-None-Match gets 304 until the flags or the context change', async () => {
    const ctx = { targetingKey: 'u7', marketplace: 'DE' };
    const first = await ofrep(dp.flagsPort, KEY, undefined, ctx);
    assert.equal(first.status, 200);
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[0-9a-f]+"$/);
    assert.deepEqual(first.json.flags.find((f: { key: string }) => f.key === 'new-checkout'), { key: 'new-checkout', value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: {} });
    const same = await ofrep(dp.flagsPort, KEY, undefined, ctx, { 'if-none-match': etag });
    assert.equal(same.status, 304);
    assert.equal(same.text, '');
    assert.equal((await ofrep(dp.flagsPort, KEY, undefined, ctx, { 'if-none-match': `"x", W/${etag}` })).status, 304);
    assert.equal((await ofrep(dp.flagsPort, KEY, undefined, { ...ctx, marketplace: 'US' }, { 'if-none-match': etag })).status, 200, 'another context');
    await dp.client.publish('prod', published({ ...PROD, flags: { ...PROD.flags, 'banner-text': { ...PROD.flags['banner-text']!, defaultVariant: 'bye' } } }, 2, KEY));
    const changed = await ofrep(dp.flagsPort, KEY, undefined, ctx, { 'if-none-match': etag });
    assert.equal(changed.status, 200, 'the flags changed');
    assert.notEqual(changed.headers.etag, etag);
    assert.equal(changed.json.flags.find((f: { key: string }) => f.key === 'banner-text').value, 'Bye');
    await dp.client.publish('prod', published(PROD, 3, KEY));
  });

  it('the sync feed serves the stage\'s whole flagd JSON with its ETag and revision; 304 on If-None-Match', async () => {
    const r = await flagsRequest(dp.flagsPort, '/flags/v1/sync', { method: 'GET', headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, PROD);
    assert.equal(r.headers['x-sluice-revision'], String((await dp.client.revisions()).prod));
    const again = await flagsRequest(dp.flagsPort, '/flags/v1/sync', { method: 'GET', headers: { authorization: `Bearer ${KEY}`, 'if-none-match': String(r.headers.etag) } });
    assert.equal(again.status, 304);
  });

  it('refuses a set that does not compile, an older revision, and a key of another stage; the stage keeps its last good flags', async () => {
    const before = await dp.client.revisions();
    await assert.rejects(dp.client.publish('prod', { doc: { flags: 'not flags' } as unknown as FlagdDocument, revision: 99, keyHashes: [sha256(KEY)] }), (e: ControlError) => e.status === 400 && /prod's flags were refused/.test(e.message));
    await assert.rejects(dp.client.publish('prod', published(PROD, 1, KEY)), (e: ControlError) => e.status === 409 && /older/.test(e.message));
    await assert.rejects(dp.client.publish('prod', published(PROD, 50, KEY, STAGING_KEY)), (e: ControlError) => e.status === 409 && /staging/.test(e.message));
    assert.deepEqual(await dp.client.revisions(), before);
    assert.equal((await ofrep(dp.flagsPort, KEY, 'banner-text', {})).json.value, 'Hello');
  });

  it('the stream tells the revision at connect and each change once saved; the same revision again tells nothing', async () => {
    const sub = new StreamSubscriber(() => dp.flagsPort, KEY);
    try {
      const rev = (await dp.client.revisions()).prod!;
      await sub.waitFor((e) => e.length >= 1);
      assert.deepEqual(sub.events[0]!.data, { stage: 'prod', revision: rev, etag: sub.events[0]!.data.etag });
      assert.equal(sub.events[0]!.id, String(rev));
      await dp.client.publish('prod', published(PROD, rev, KEY));
      await dp.client.publish('prod', published({ flags: { ...PROD.flags, extra: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a' } } }, rev + 1, KEY));
      await sub.waitFor((e) => e.length >= 2);
      await sleep(200);
      assert.deepEqual(sub.revisions(), [rev, rev + 1]);
      const sync = await flagsRequest(dp.flagsPort, '/flags/v1/sync', { method: 'GET', headers: { 'x-api-key': KEY } });
      assert.equal(sync.headers.etag, `"${sub.events[1]!.data.etag}"`, 'the stream\'s ETag is the sync feed\'s, unquoted');
    } finally {
      sub.close();
    }
  });

  it('a stream ends when its key is taken away, and when the stage\'s flags are unpublished', async () => {
    await dp.client.publish('qa', published({ flags: { f: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'a' } } }, 1, 'qa-old', 'qa-new'));
    const old = new StreamSubscriber(() => dp.flagsPort, 'qa-old');
    const kept = new StreamSubscriber(() => dp.flagsPort, 'qa-new');
    try {
      await old.waitFor((e) => e.length === 1);
      await kept.waitFor((e) => e.length === 1);
      await dp.client.publish('qa', published({ flags: { f: { state: 'ENABLED', variants: { a: 2 }, defaultVariant: 'a' } } }, 2, 'qa-new'));
      await old.waitFor((e) => e.some((x) => x.event === 'revoked'));
      assert.deepEqual(old.revisions(), [1], 'no news after its key was removed');
      await kept.waitFor((e) => e.length === 2);
      assert.equal((await ofrep(dp.flagsPort, 'qa-old', 'f', {})).status, 403);
      await dp.client.unpublish('qa');
      await kept.waitFor((e) => e.some((x) => x.event === 'removed'));
      assert.equal((await ofrep(dp.flagsPort, 'qa-new', 'f', {})).status, 403);
      assert.equal((await dp.client.revisions()).qa, undefined);
    } finally {
      old.close();
      kept.close();
    }
  });

  it('serves at most --flags-max-streams subscribers: the next gets 503 with Retry-After, and is served once one leaves', async () => {
    const subs = [0, 1, 2].map(() => new StreamSubscriber(() => dp.flagsPort, KEY));
    try {
      for (const s of subs) await s.waitFor((e) => e.length === 1);
      const over = await flagsRequest(dp.flagsPort, '/flags/v1/stream', { method: 'GET', headers: { 'x-api-key': KEY } });
      assert.equal(over.status, 503);
      assert.ok(Number(over.headers['retry-after']) >= 1);
      subs.pop()!.close();
      await sleep(100);
      const next = new StreamSubscriber(() => dp.flagsPort, KEY);
      subs.push(next);
      await next.waitFor((e) => e.length === 1);
    } finally {
      for (const s of subs) s.close();
    }
  });

  it('limits the body, the context\'s size and depth: 400 INVALID_CONTEXT, and the listener serves on', async () => {
    const big = await flagsRequest(dp.flagsPort, '/ofrep/v1/evaluate/flags/banner-text', { headers: { 'x-api-key': KEY }, body: JSON.stringify({ context: { pad: 'x'.repeat(100_000) } }) });
    assert.equal(big.status, 400);
    assert.equal(big.json.errorCode, 'INVALID_CONTEXT');
    assert.match(big.json.errorDetails, /larger than 65536 bytes/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const nested = await ofrep(dp.flagsPort, KEY, 'banner-text', { deep });
    assert.equal(nested.json.errorCode, 'INVALID_CONTEXT');
    assert.match(nested.json.errorDetails, /nested deeper/);
    const wide = await ofrep(dp.flagsPort, KEY, 'banner-text', { list: Array.from({ length: 5000 }, (_, i) => i) });
    assert.match(wide.json.errorDetails, /more than 2000 values/);
    assert.equal((await ofrep(dp.flagsPort, KEY, 'banner-text', {})).status, 200);
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    assert.equal((await flagsRequest(dp.flagsPort, '/elsewhere', { method: 'GET' })).status, 404);
    const wrong = await flagsRequest(dp.flagsPort, '/ofrep/v1/evaluate/flags/banner-text', { method: 'GET', headers: { 'x-api-key': KEY } });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'POST');
  });

  it('counts evaluations per stage, flag and variant (errors as null); a read takes them and starts again from zero', async () => {
    await dp.client.takeCounts();
    for (let i = 0; i < 3; i++) await ofrep(dp.flagsPort, KEY, 'new-checkout', { marketplace: 'FR' });
    await ofrep(dp.flagsPort, KEY, 'new-checkout', { marketplace: 'US' });
    await ofrep(dp.flagsPort, KEY, 'retired', {});
    await ofrep(dp.flagsPort, KEY, 'picked', { pick: 'zzz' });
    const counts = await dp.client.takeCounts();
    const of = (variant: string | null) => counts.find((c) => c.stage === 'prod' && c.flag === 'new-checkout' && c.variant === variant);
    assert.equal(of('on')?.count, 3);
    assert.equal(of('off')?.count, 1);
    assert.ok(of('on')!.lastAt > Date.now() - 60_000);
    assert.equal(counts.find((c) => c.flag === 'retired'), undefined, 'a disabled flag serves no variant');
    assert.equal(counts.find((c) => c.flag === 'picked' && c.variant === null)?.count, 1, 'an error');
    assert.deepEqual(await dp.client.takeCounts(), []);
  });

  it('survives fuzzed bodies and flag keys: every answer is 200 or an OFREP error with a JSON body, never a 5xx', async () => {
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 4 }),
      fc.jsonValue({ maxDepth: 4 }).map((context) => JSON.stringify({ context })),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    const flag = fc.oneof(fc.constantFrom('new-checkout', 'banner-text', 'max-items', 'theme', 'retired', 'nope'), fc.webSegment());
    await fc.assert(
      fc.asyncProperty(body, flag, fc.boolean(), async (b, f, bulk) => {
        const r = await flagsRequest(dp.flagsPort, bulk ? '/ofrep/v1/evaluate/flags' : `/ofrep/v1/evaluate/flags/${f}`, { headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: b });
        assert.ok([200, 400, 404].includes(r.status), `${r.status} for ${JSON.stringify(b)}: ${r.text}`);
        assert.notEqual(r.json, undefined, r.text);
        if (r.status !== 200) assert.equal(typeof r.json.errorCode, 'string');
      }),
      { numRuns: 300 },
    );
    assert.equal((await ofrep(dp.flagsPort, KEY, 'banner-text', {})).status, 200);
  });
});

describe('limits on connections and requests', { timeout: 60_000 }, () => {
  it('past --flags-rate requests per second for a key: 429 with Retry-After; other keys are not slowed', async () => {
    const dp = await startFlagsDataPlane(['--flags-rate', '5']);
    try {
      await dp.client.publish('prod', published(PROD, 1, KEY));
      await dp.client.publish('staging', published(PROD, 1, STAGING_KEY));
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await ofrep(dp.flagsPort, KEY, 'banner-text', {})).status);
      assert.ok(statuses.includes(429), statuses.join(','));
      const limited = await ofrep(dp.flagsPort, KEY, 'banner-text', {});
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.equal(typeof limited.json.errorDetails, 'string');
      assert.equal((await ofrep(dp.flagsPort, STAGING_KEY, 'banner-text', {})).status, 200);
    } finally {
      await dp.stop();
    }
  });

  it('serves at most --flags-max-connections: the next connection gets 503 and is closed, then it serves again', async () => {
    const dp = await startFlagsDataPlane(['--flags-max-connections', '3']);
    const held: Socket[] = [];
    try {
      await dp.client.publish('prod', published(PROD, 1, KEY));
      for (let i = 0; i < 3; i++) {
        const s = connect(dp.flagsPort, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      await sleep(100);
      const over = await flagsRequest(dp.flagsPort, '/ofrep/v1/evaluate/flags/banner-text', { headers: { 'x-api-key': KEY }, body: '{}' });
      assert.equal(over.status, 503);
      assert.equal(over.headers['retry-after'], '1');
      for (const s of held) s.destroy();
      await sleep(100);
      assert.equal((await ofrep(dp.flagsPort, KEY, 'banner-text', {})).status, 200);
    } finally {
      for (const s of held) s.destroy();
      await dp.stop();
    }
  });
});
