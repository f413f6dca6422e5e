import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Router, STICKY_COOKIE, VERSION_HEADER } from '../src/router/router.js';
import { type BackendProcess, send, startBackend } from './helpers/backends.js';

describe('router data plane', { timeout: 60_000 }, () => {
  const router = new Router();
  let port: number;
  let v1: BackendProcess[];
  let v2: BackendProcess;
  const HOST = 'web.shop.localhost';
  const pool = (version: string, bs: BackendProcess[]) => ({ version, backends: bs.map((b) => ({ id: `${version}-${b.port}`, port: b.port })) });

  before(async () => {
    port = await router.listen(0);
    v1 = [await startBackend('v1'), await startBackend('v1')];
    v2 = await startBackend('v2');
    router.setRoute(HOST, { stage: 'web', stable: pool('v1', v1), canary: pool('v2', [v2]), canaryWeight: 20, sticky: { header: 'x-user-id' } });
  });
  after(async () => {
    await router.close();
    await Promise.all([...v1, v2].map((b) => b.stop()));
  });

  const versionFor = async (user: string) => JSON.parse((await send(port, { host: HOST, headers: { 'x-user-id': user } })).body).version as string;

  it('splits users by weight', async () => {
    let canary = 0;
    for (let i = 0; i < 1000; i++) if ((await versionFor(`user-${i}`)) === 'v2') canary++;
    assert.ok(canary > 160 && canary < 240, `${canary} of 1000 users on the canary at 20%`);
  });

  it('keeps each user on one side, and raising the weight only adds canary users', async () => {
    const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
    let before_ = new Set<string>();
    for (const weight of [10, 30, 60, 100]) {
      router.setCanaryWeight(HOST, weight);
      const now = new Set<string>();
      for (const u of users) {
        const a = await versionFor(u);
        assert.equal(await versionFor(u), a, `user ${u} flipped at weight ${weight}`);
        if (a === 'v2') now.add(u);
      }
      for (const u of before_) assert.ok(now.has(u), `user ${u} lost the canary when the weight rose to ${weight}`);
      before_ = now;
    }
    assert.equal(before_.size, users.length);
    router.setCanaryWeight(HOST, 20);
  });

  it('gives a sticky cookie to users without a key, and honours it', async () => {
    router.setRoute('cookie.shop.localhost', { stage: 'cookie', stable: pool('v1', v1), canary: pool('v2', [v2]), canaryWeight: 50 });
    const first = await send(port, { host: 'cookie.shop.localhost' });
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    assert.match(cookie, new RegExp(`^${STICKY_COOKIE}=`));
    const v = first.headers[VERSION_HEADER];
    for (let i = 0; i < 20; i++) {
      const r = await send(port, { host: 'cookie.shop.localhost', headers: { cookie } });
      assert.equal(r.headers[VERSION_HEADER], v);
      assert.equal(r.headers['set-cookie'], undefined);
    }
  });

  it('without stickiness, splits each request at random by weight', async () => {
    router.setRoute('random.shop.localhost', { stage: 'random', stable: pool('v1', v1), canary: pool('v2', [v2]), canaryWeight: 10, sticky: 'none' });
    let canary = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await send(port, { host: 'random.shop.localhost', path: '/status' });
      assert.equal(r.headers['set-cookie'], undefined);
      if (r.body === 'v2') canary++;
    }
    assert.ok(canary > 60 && canary < 140, `${canary} of 1000 requests on the canary at 10%`);
  });

  it('pins a version with the override header', async () => {
    for (const [pin, want] of [['canary', 'v2'], ['stable', 'v1'], ['v2', 'v2'], ['v1', 'v1']] as const) {
      for (let i = 0; i < 5; i++) {
        const r = await send(port, { host: HOST, headers: { [VERSION_HEADER]: pin, 'x-user-id': `pin-${i}` } });
        assert.equal(JSON.parse(r.body).version, want, `pin ${pin}`);
        assert.equal(r.headers[VERSION_HEADER], want);
      }
    }
  });

  it('drops hop-by-hop headers both ways and adds X-Forwarded-*', async () => {
    const r = await send(port, {
      host: HOST,
      path: '/echo?q=1',
      headers: { connection: 'keep-alive, x-secret', 'x-secret': 'no', 'proxy-authorization': 'Basic x', te: 'trailers', 'x-kept': 'yes', 'x-forwarded-for': '10.9.8.7' },
    });
    const seen = JSON.parse(r.body).headers as Record<string, string>;
    assert.equal(seen['x-kept'], 'yes');
    for (const h of ['x-secret', 'proxy-authorization', 'te']) assert.equal(seen[h], undefined, `${h} was forwarded`);
    assert.equal(seen['x-forwarded-for'], '10.9.8.7, 127.0.0.1');
    assert.equal(seen['x-forwarded-host'], HOST);
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(JSON.parse(r.body).url, '/echo?q=1');
    assert.equal(r.headers['x-drop-me'], undefined);
    assert.equal(r.headers['keep-alive'] === 'timeout=5', false);
  });

  it('streams request bodies through unchanged', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const r = await send(port, { host: HOST, method: 'POST', path: '/upload', body, headers: { 'content-type': 'application/octet-stream' } });
    const got = JSON.parse(r.body);
    assert.equal(got.bytes, body.length);
    assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
  });

  it('tunnels WebSocket upgrades', async () => {
    const sock = connect(port, '127.0.0.1');
    await new Promise((res) => sock.once('connect', res));
    sock.write(`GET /ws HTTP/1.1\r\nhost: ${HOST}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-sluice-version: canary\r\n\r\n`);
    let data = '';
    sock.on('data', (d) => {
      data += d.toString();
    });
    for (let i = 0; i < 100 && !data.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(data, /^HTTP\/1\.1 101 Switching Protocols/);
    assert.match(data, /x-version: v2/);
    data = '';
    sock.write('hello');
    for (let i = 0; i < 100 && !data.includes('hello'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(data, 'v2:hello');
    sock.destroy();
  });

  it('answers 404 for an unknown host, 503 with no instance, 502 when the instance is gone', async () => {
    assert.equal((await send(port, { host: 'nope.shop.localhost' })).status, 404);
    router.setRoute('empty.shop.localhost', { stage: 'empty', stable: null });
    const r503 = await send(port, { host: 'empty.shop.localhost' });
    assert.equal(r503.status, 503);
    assert.equal(r503.headers['retry-after'], '1');
    const gone = await startBackend('gone');
    await gone.stop();
    router.setRoute('gone.shop.localhost', { stage: 'gone', stable: { version: 'g', backends: [{ id: 'g', port: gone.port }] } });
    const r502 = await send(port, { host: 'gone.shop.localhost', method: 'POST', body: 'x' });
    assert.equal(r502.status, 502);
    assert.match(r502.body, /upstream failed/);
  });

  it('answers 504 when an instance is too slow, and the slow answer never reaches the client', async () => {
    const impatient = new Router(300);
    const p = await impatient.listen(0);
    impatient.setRoute('slow.shop.localhost', { stage: 'slow', stable: pool('v1', v1) });
    const r = await send(p, { host: 'slow.shop.localhost', path: '/slow?ms=5000' });
    assert.equal(r.status, 504);
    assert.match(r.body, /upstream failed: Headers Timeout/);
    assert.equal((await send(p, { host: 'slow.shop.localhost', path: '/slow?ms=50' })).body, 'v1');
    await impatient.close();
  });

  it('counts requests by stage, version and status class, per second and for Prometheus', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 10; i++) await send(port, { host: HOST, path: '/status?code=500', headers: { [VERSION_HEADER]: 'canary' } });
    for (let i = 0; i < 5; i++) await send(port, { host: HOST, path: '/status?code=404', headers: { [VERSION_HEADER]: 'canary' } });
    const series = router.metrics.series('web', 'v2', t0, Math.floor(Date.now() / 1000) + 1);
    assert.equal(series.reduce((a, s) => a + s.errors, 0), 10);
    assert.ok(series.reduce((a, s) => a + s.requests, 0) >= 15);
    const text = router.metrics.prometheus();
    assert.match(text, /sluice_router_requests_total\{stage="web",version="v2",class="5xx"\} 10\n/);
    assert.match(text, /sluice_router_requests_total\{stage="web",version="v2",class="4xx"\} 5\n/);
    assert.match(text, /sluice_router_request_duration_seconds_bucket\{stage="web",version="v2",le="\+Inf"\} \d+/);
    assert.match(text, /sluice_router_requests_total\{stage="gone",version="g",class="error"\} 1\n/);
  });
});
