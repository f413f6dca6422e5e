import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { BuiltinMetrics } from '../src/adapters/metrics-builtin/builtin-metrics.js';
import { compileFlagSet } from '../src/flags/flag-compiler.js';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import { VARIANT_KEY_METADATA, variantSeries } from '../src/flags/ports/variant-metrics.js';
import type { SecondSample } from '../src/rollout/ports/traffic-router.js';
import { send } from './helpers/backends.js';
import { type FlagsDataPlane, flagsRequest, published, startFlagsDataPlane } from './helpers/flags.js';

const PROD_KEY = 'prod-key-3c1b';
const STAGING_KEY = 'staging-key-77aa';
const DEV_KEY = 'dev-key-0d0d';
const APP_KEY = 'app-key-5e5e';

/** A 50/50 split of `checkout`, bucketed by targeting key as flagd does, counted from where `variantKey` says (or not at all). */
const split = (variantKey?: string): FlagdDocument => ({
  flags: {
    checkout: {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { fractional: [['on', 50], ['off', 50]] },
      ...(variantKey ? { metadata: { [VARIANT_KEY_METADATA]: variantKey } } : {}),
    },
    banner: { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'a' },
  },
});

/** The variant each user gets, from the same compiled set the data plane serves. */
function variantOf(doc: FlagdDocument, user: string): string {
  const c = compileFlagSet(doc);
  assert.ok(c.ok);
  const v = c.set.evaluate('checkout', 'boolean', false, { targetingKey: user }).variant;
  assert.ok(v);
  return v;
}

const total = (s: SecondSample[]) => ({ requests: s.reduce((a, x) => a + x.requests, 0), errors: s.reduce((a, x) => a + x.errors, 0) });

/** Users whose number is a multiple of 3 get a 500 from the app: the same set whichever variant they have. */
const failing = (user: string) => Number(user.split('-')[1]) % 3 === 0;

describe('per-variant counters in a real data plane process', { timeout: 120_000 }, () => {
  let dp: FlagsDataPlane;
  let app: Server;
  let routerPort: number;
  const since = Math.floor(Date.now() / 1000);
  const window = () => [since - 1, Math.floor(Date.now() / 1000) + 1] as const;
  const series = async (stage: string, flag: string, variant: string) => {
    const [from, to] = window();
    return dp.client.series(stage, variantSeries(flag, variant), from, to);
  };

  before(async () => {
    dp = await startFlagsDataPlane();
    routerPort = (await dp.client.health()).port;
    // The app answers 500 to the failing users, by header or by cookie.
    app = createServer((req, res) => {
      const cookie = /(?:^|;\s*)uid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const user = String(req.headers['x-user-id'] ?? cookie ?? 'nobody-1');
      res.writeHead(failing(user) ? 500 : 200, { 'content-type': 'text/plain' });
      res.end(user);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as AddressInfo).port;
    for (const stage of ['prod', 'staging', 'dev'])
      await dp.client.setRoute(`${stage}.shop.localhost`, { stage, stable: { version: '1.0.0', backends: [{ id: `${stage}-1`, port: appPort }] } });
    await dp.client.publish('prod', published(split('header:X-User-Id'), 1, PROD_KEY));
    await dp.client.publish('staging', published(split('cookie:uid'), 1, STAGING_KEY));
    await dp.client.publish('dev', published(split(), 1, DEV_KEY));
    await dp.client.publish('app', published(split(), 1, APP_KEY));
  });
  after(async () => {
    await dp.stop();
    await new Promise((r) => app.close(r));
    rmSync(dirname(dp.dataDir), { recursive: true, force: true });
  });

  /** Sends each user's requests and returns what each variant should have counted. */
  async function traffic(stage: string, users: string[], headers: (u: string) => Record<string, string>) {
    const want: Record<string, { requests: number; errors: number }> = { on: { requests: 0, errors: 0 }, off: { requests: 0, errors: 0 } };
    const doc = split();
    for (const u of users) {
      const r = await send(routerPort, { host: `${stage}.shop.localhost`, headers: headers(u) });
      assert.equal(r.status, failing(u) ? 500 : 200);
      const w = want[variantOf(doc, u)]!;
      w.requests++;
      if (failing(u)) w.errors++;
    }
    return want;
  }

  it('the router counts each request with the header for the variant its user gets, errors included, and the ramp reads them as it reads a version', async () => {
    const users = Array.from({ length: 240 }, (_, i) => `user-${i}`);
    const want = await traffic('prod', users, (u) => ({ 'x-user-id': u }));
    // Requests without the header count for no variant (their version still counts them).
    for (let i = 0; i < 20; i++) assert.equal((await send(routerPort, { host: 'prod.shop.localhost' })).status, 200);
    assert.ok(want.on!.requests > 80 && want.off!.requests > 80, `a 50/50 split: ${JSON.stringify(want)}`);
    for (const variant of ['on', 'off']) {
      const s = await series('prod', 'checkout', variant);
      assert.deepEqual(total(s.samples), want[variant], variant);
      assert.ok(s.samples.every((x) => x.latencySumMs > 0), 'the router times the requests it counts');
      assert.ok(s.countingSince <= Date.now());
    }
    // The metrics path a guarded ramp uses: version = variantSeries(flag, variant).
    const metrics = new BuiltinMetrics(dp.client);
    const [from, to] = window();
    for (const variant of ['on', 'off']) {
      const rate = await metrics.measure('error-rate', { stage: 'prod', version: variantSeries('checkout', variant), fromMs: from * 1000, toMs: to * 1000 });
      assert.ok(rate !== null && Math.abs(rate - want[variant]!.errors / want[variant]!.requests) < 1e-9, `${variant}: ${rate}`);
    }
    // The version still counts every request, the header or not.
    assert.equal(total((await dp.client.series('prod', '1.0.0', from, to)).samples).requests, users.length + 20);
    // An uncounted flag of the same set has no series.
    assert.deepEqual((await series('prod', 'banner', 'a')).samples, []);
  });

  it('counts by cookie where the flag says cookie:<name>', async () => {
    const users = Array.from({ length: 120 }, (_, i) => `user-${1000 + i}`);
    const want = await traffic('staging', users, (u) => ({ cookie: `theme=dark; uid=${u}` }));
    for (const variant of ['on', 'off']) assert.deepEqual(total((await series('staging', 'checkout', variant)).samples), want[variant], variant);
  });

  it('a stage whose flags name no variant key counts nothing per variant', async () => {
    await traffic('dev', Array.from({ length: 30 }, (_, i) => `user-${i}`), (u) => ({ 'x-user-id': u, cookie: `uid=${u}` }));
    for (const variant of ['on', 'off']) assert.deepEqual((await series('dev', 'checkout', variant)).samples, []);
  });

  it('exposes them to Prometheus in families of their own, apart from the version families', async () => {
    const text = await dp.client.prometheus();
    const on = (await series('prod', 'checkout', 'on')).samples;
    const lines = text.split('\n');
    const line = (prefix: string) => lines.find((l) => l.startsWith(prefix));
    assert.match(line('sluice_flag_variant_requests_total{stage="prod",flag="checkout",variant="on",class="2xx"}') ?? '', / \d+$/);
    const errors = Number(line('sluice_flag_variant_errors_total{stage="prod",flag="checkout",variant="on"}')?.split(' ')[1]);
    assert.equal(errors, total(on).errors);
    assert.ok(line('sluice_flag_variant_request_duration_seconds_count{stage="prod",flag="checkout",variant="on"}'));
    assert.ok(!lines.some((l) => l.startsWith('sluice_router_') && l.includes('flag')), 'no variant in the version families');
    assert.ok(!lines.some((l) => l.includes('stage="dev"') && l.startsWith('sluice_flag_variant')), 'nothing for a stage with no counted flag');
  });

  describe('POST /flags/v1/report', () => {
    const report = (body: unknown, key = APP_KEY, headers: Record<string, string> = {}) =>
      flagsRequest(dp.flagsPort, '/flags/v1/report', {
        headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
        body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
    const appTotals = async () => ({
      a: total((await series('app', 'banner', 'a')).samples),
      b: total((await series('app', 'banner', 'b')).samples),
      on: total((await series('app', 'checkout', 'on')).samples),
      off: total((await series('app', 'checkout', 'off')).samples),
    });

    it('counts a provider\'s evaluations as requests and its errors as errors, when it is received', async () => {
      const r = await report({ counts: [{ flag: 'checkout', variant: 'on', evaluations: 40, errors: 6 }, { flag: 'checkout', variant: 'off', evaluations: 60, errors: 1 }] });
      assert.equal(r.status, 204, r.text);
      const again = await flagsRequest(dp.flagsPort, '/flags/v1/report', {
        headers: { authorization: `Bearer ${APP_KEY}` },
        body: JSON.stringify({ counts: [{ flag: 'checkout', variant: 'on', evaluations: 10, errors: 0 }] }),
      });
      assert.equal(again.status, 204, 'the Bearer form too');
      const t = await appTotals();
      assert.deepEqual([t.on, t.off], [{ requests: 50, errors: 6 }, { requests: 60, errors: 1 }]);
      const on = (await series('app', 'checkout', 'on')).samples;
      assert.equal(on.reduce((a, x) => a + x.latencySumMs, 0), 0, 'reports carry no latency');
      assert.match(await dp.client.prometheus(), /sluice_flag_variant_requests_total\{stage="app",flag="checkout",variant="on",class="evaluation"\} 50\n/);
    });

    it('refuses what it cannot count, with a JSON error that says why, and counts none of it', async () => {
      const before = await appTotals();
      const noKey = await report({ counts: [] }, '');
      assert.equal(noKey.status, 401);
      assert.equal((await report({ counts: [{ flag: 'checkout', variant: 'on', evaluations: 1, errors: 0 }] }, 'not-a-key')).status, 403);
      const unknownFlag = await report({ counts: [{ flag: 'banner', variant: 'a', evaluations: 5, errors: 0 }, { flag: 'nope', variant: 'on', evaluations: 1, errors: 0 }] });
      assert.equal(unknownFlag.status, 400);
      assert.match(unknownFlag.json.errorDetails, /counts\[1\]: flag "nope" is not in stage app's flags/);
      const unknownVariant = await report({ counts: [{ flag: 'checkout', variant: 'maybe', evaluations: 1, errors: 0 }] });
      assert.equal(unknownVariant.status, 400);
      assert.match(unknownVariant.json.errorDetails, /flag checkout has no variant "maybe" \(it has on, off\)/);
      const viaRouter = await report({ counts: [{ flag: 'checkout', variant: 'on', evaluations: 1, errors: 0 }] }, PROD_KEY);
      assert.equal(viaRouter.status, 400);
      assert.match(viaRouter.json.errorDetails, /counted by the router/);
      const big = await report(JSON.stringify({ counts: [], pad: 'x'.repeat(300 * 1024) }));
      assert.equal(big.status, 413);
      assert.equal(big.json.errorCode, 'REPORT_TOO_LARGE');
      const many = await report({ counts: Array.from({ length: 2001 }, () => ({ flag: 'banner', variant: 'a', evaluations: 1, errors: 0 })) });
      assert.equal(many.status, 413);
      assert.match(many.json.errorDetails, /at most 2000 entries/);
      assert.equal((await report({ counts: [] })).status, 204, 'an empty report is fine');
      assert.equal((await flagsRequest(dp.flagsPort, '/flags/v1/report', { method: 'GET', headers: { 'x-api-key': APP_KEY } })).status, 405);
      const bad: unknown[] = [
        '', 'null', '[]', '{"counts":{}}', '{"counts":[1]}', '{"counts":[null]}', 'not json', '{"counts":[{"flag":1,"variant":"a"}]}',
        { counts: [{ flag: 'banner', variant: 'a', evaluations: -1, errors: 0 }] },
        { counts: [{ flag: 'banner', variant: 'a', evaluations: 1.5, errors: 0 }] },
        { counts: [{ flag: 'banner', variant: 'a', evaluations: 1, errors: '2' }] },
        { counts: [{ flag: 'banner', variant: 'a', evaluations: 1e12, errors: 0 }] },
        { counts: [{ flag: '__proto__', variant: 'a', evaluations: 1, errors: 0 }] },
        { counts: [{ flag: 'banner', variant: 'constructor', evaluations: 1, errors: 0 }] },
        Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
      ];
      for (const body of bad) {
        const r = await report(body);
        assert.equal(r.status, 400, `${String(body)}: ${r.text}`);
        assert.equal(r.json.errorCode, 'INVALID_REPORT');
        assert.equal(typeof r.json.errorDetails, 'string');
      }
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.json(), fc.record({ counts: fc.array(fc.dictionary(fc.constantFrom('flag', 'variant', 'evaluations', 'errors', 'x'), fc.jsonValue()), { maxLength: 5 }) }).map((v) => JSON.stringify(v))), async (body) => {
          const r = await report(body);
          assert.ok(r.status === 204 || r.status === 400, `${body}: ${r.status} ${r.text}`);
        }),
        { numRuns: 150 },
      );
      assert.deepEqual(await appTotals(), before, 'nothing refused was counted');
    });
  });
});
