import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Router, STICKY_COOKIE, VERSION_HEADER } from '../src/adapters/proxy-http1/router.js';
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
    const impatient = new Router({ upstreamTimeoutMs: 300 });
    const p = await impatient.listen(0);
    impatient.setRoute('slow.shop.localhost', { stage: 'slow', stable: pool('v1', v1) });
    const r = await send(p, { host: 'slow.shop.localhost', path: '/slow?ms=5000' });
    assert.equal(r.status, 504);
    assert.match(r.body, /upstream failed: no answer within 300 ms/);
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

/** Writes `parts` on one connection (`gapMs` apart); returns what the router answered until it closed or `until` held. */
async function talk(port: number, parts: (string | Buffer)[], until?: (text: string) => boolean, gapMs = 0, waitMs = 3000) {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  sock.on('data', (d) => {
    text += d.toString('latin1');
  });
  sock.on('error', () => {});
  const ended = new Promise<void>((res) => sock.once('close', () => res()));
  void ended.then(() => {
    closed = true;
  });
  await new Promise((res) => sock.once('connect', res));
  for (const p of parts) {
    sock.write(p);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  for (let i = 0; i < waitMs / 10 && !closed && !(until?.(text) ?? false); i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  return { text, closed };
}

/**
 * Sends `wire` and shuts down the sending side at once; returns everything answered until the router closed, and
 * whether it closed within `waitMs` (a router that hangs never does).
 */
async function sendAndEnd(port: number, wire: string, waitMs = 60_000): Promise<{ text: string; closed: boolean }> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (d) => {
    text += d.toString('latin1');
  });
  sock.on('error', () => {});
  await new Promise((res) => sock.once('connect', res));
  sock.end(wire);
  const closed = await Promise.race([new Promise<boolean>((res) => sock.once('close', () => res(true))), sleep(waitMs).then(() => false)]);
  sock.destroy();
  return { text, closed };
}

/** Sends `wire` and shuts down the sending side at once; returns everything answered until the router closed. */
async function sendAll(port: number, wire: string): Promise<string> {
  return (await sendAndEnd(port, wire)).text;
}

describe('router HTTP/1.1 handling', { timeout: 60_000 }, () => {
  const router = new Router();
  let port: number;
  let backend: BackendProcess;
  const HOST = 'edge.shop.localhost';
  const responses = (t: string) => t.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean);

  before(async () => {
    port = await router.listen(0);
    backend = await startBackend('e1');
    router.setRoute(HOST, { stage: 'edge', stable: { version: 'e1', backends: [{ id: 'e1', port: backend.port }] } });
  });
  after(async () => {
    await router.close();
    await backend.stop();
  });

  it('answers pipelined requests in order on one connection', async () => {
    const get = (code: number) => `GET /status?code=${code} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`;
    const { text } = await talk(port, [get(200) + get(201) + get(202)], (t) => responses(t).length === 3 && t.endsWith('0\r\n\r\n'));
    assert.deepEqual(responses(text).map((r) => r.slice(9, 12)), ['200', '201', '202']);
  });

  it('answers thousands of requests sent at once, then closes once the client has finished sending', async () => {
    const text = await sendAll(port, `GET /a HTTP/1.1\r\nhost: nope.shop.localhost\r\n\r\nGET /status?code=204 HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`.repeat(2000));
    assert.equal(text.split('HTTP/1.1 404 ').length - 1, 2000);
    assert.equal(text.split('HTTP/1.1 204 ').length - 1, 2000);
  });

  it('streams a chunked request body, and relays 100 Continue before it', async () => {
    const head = `POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n`;
    const { text } = await talk(port, [head, '5\r\nhello\r\n', '6\r\n world\r\n0\r\n\r\n'], (t) => t.includes('"sha256"'), 50);
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n/);
    const body = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1));
    assert.equal(body.bytes, 11);
    assert.equal(body.sha256, createHash('sha256').update('hello world').digest('hex'));
  });

  it('sends no body for HEAD and keeps the connection usable', async () => {
    // Done once both responses are in, the GET's last chunk too (its headers may name the backend e1 already).
    const { text } = await talk(port, [`HEAD /status?code=200 HTTP/1.1\r\nhost: ${HOST}\r\n\r\nGET /status?code=200 HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`], (t) => responses(t).length === 2 && t.endsWith('0\r\n\r\n'));
    const [head, get] = responses(text);
    assert.ok(head!.endsWith('\r\n\r\n'), head);
    assert.match(get!, /\r\n\r\n2\r\ne1\r\n0\r\n\r\n$/);
  });

  it('gives an HTTP/1.0 client the data without chunking, and closes', async () => {
    const { text, closed } = await talk(port, [`GET /status?code=200 HTTP/1.0\r\nhost: ${HOST}\r\n\r\n`]);
    assert.ok(closed);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.doesNotMatch(text, /transfer-encoding/i);
    assert.ok(text.endsWith('\r\n\r\ne1'), JSON.stringify(text));
  });

  it('answers a client that stops sending after its request', async () => {
    const text = await sendAll(port, `GET /status?code=200 HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /e1\r\n0\r\n\r\n$/);
  });

  it('refuses smuggling-prone, malformed and oversized requests with a clear status, closes, and stays up', async () => {
    const cases: [string, RegExp][] = [
      [`POST / HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400 .*both Content-Length and Transfer-Encoding/s],
      [`GET / HTTP/1.1\r\nhost: ${HOST}\r\nx-a: 1\r\n folded\r\n\r\n`, /^HTTP\/1\.1 400 .*folding/s],
      [`GET / HTTP/1.1\r\n\r\n`, /^HTTP\/1\.1 400 .*no Host header/s],
      ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', /^HTTP\/1\.1 400 .*malformed request line/s],
      [`GET / HTTP/1.1\r\nhost: ${HOST}\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
      [`GET / HTTP/3\r\nhost: ${HOST}\r\n\r\n`, /^HTTP\/1\.1 505 /],
      [`POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n`, /^HTTP\/1\.1 400 .*chunk size missing/s],
    ];
    for (const [wire, want] of cases) {
      const { text, closed } = await talk(port, [wire]);
      assert.match(text, want, JSON.stringify(wire.slice(0, 60)));
      assert.ok(closed, `connection left open after ${JSON.stringify(wire.slice(0, 60))}`);
    }
    assert.equal((await send(port, { host: HOST, path: '/status?code=200' })).body, 'e1');
  });

  it('survives mutated requests: each gets an answer or a closed connection, and the router keeps serving', async () => {
    const valid = [
      `GET /status?code=200 HTTP/1.1\r\nhost: ${HOST}\r\nx-user-id: u1\r\n\r\n`,
      `POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\n\r\nhello`,
      `POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    ];
    let seed = 11;
    const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
    const junk = ['\r', '\n', '\r\n', ':', ' ', '\0', '\x7f', 'chunked', 'content-length: 3', 'transfer-encoding: chunked', 'ffff', '0', 'é'];
    for (let i = 0; i < 120; i++) {
      let wire = valid[rnd(valid.length)]!;
      for (let m = 1 + rnd(3); m > 0; m--) {
        const at = rnd(wire.length);
        const op = rnd(3);
        if (op === 0) wire = wire.slice(0, at) + wire.slice(at + 1 + rnd(4));
        else if (op === 1) wire = wire.slice(0, at) + junk[rnd(junk.length)]! + wire.slice(at);
        else wire = wire.slice(0, at) + wire.slice(at, at + rnd(20)) + wire.slice(at);
      }
      // The client sends the wire and says it has nothing more: whatever the router makes of it, it must answer and
      // close, or close; it may not leave the connection hanging.
      const { text, closed } = await sendAndEnd(port, wire, 3000);
      assert.ok(closed, `the router left ${JSON.stringify(wire)} hanging`);
      assert.ok(text === '' || /^HTTP\/1\.1 \d{3} /.test(text), `no sane reaction to ${JSON.stringify(wire)}: ${JSON.stringify(text.slice(0, 80))}`);
    }
    assert.equal((await send(port, { host: HOST, path: '/status?code=200' })).body, 'e1');
  });

  it('answers 408 to a client that trickles a request head in for longer than allowed', async () => {
    const strict = new Router({ headTimeoutMs: 300 });
    const p = await strict.listen(0);
    strict.setRoute(HOST, { stage: 'edge', stable: { version: 'e1', backends: [{ id: 'e1', port: backend.port }] } });
    const drip = [`GET /status?code=200 HTTP/1.1\r\nhost: ${HOST}\r\n`, ...Array.from({ length: 8 }, (_, i) => `x-drip-${i}: 1\r\n`)];
    const { text, closed } = await talk(p, drip, undefined, 100);
    assert.match(text, /^HTTP\/1\.1 408 .*not complete within 300 ms/s);
    assert.ok(closed);
    assert.equal((await send(p, { host: HOST, path: '/status?code=200' })).body, 'e1');
    await strict.close();
  });

  it('reuses upstream connections, and relays a body that runs until the instance closes', async () => {
    const seen: string[] = [];
    let connections = 0;
    const raw = createServer((s) => {
      connections++;
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        while (buf.includes('\r\n\r\n')) {
          const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
          buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
          seen.push(head.split(' ')[1]!);
          if (head.startsWith('GET /eof')) s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it, then the end');
          else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    await new Promise<void>((res) => raw.listen(0, '127.0.0.1', () => res()));
    const rawPort = (raw.address() as AddressInfo).port;
    router.setRoute('raw.shop.localhost', { stage: 'raw', stable: { version: 'r1', backends: [{ id: 'raw', port: rawPort }] } });
    for (let i = 0; i < 20; i++) assert.equal((await send(port, { host: 'raw.shop.localhost', path: `/n${i}` })).body, 'ok');
    assert.equal(connections, 1, 'one kept-alive upstream connection for 20 sequential requests');
    const { text, closed } = await talk(port, [`GET /eof HTTP/1.1\r\nhost: raw.shop.localhost\r\n\r\n`]);
    assert.ok(closed);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.ok(text.endsWith('\r\n\r\nall of it, then the end'));
    assert.equal(seen.length, 21);
    raw.close();
  });
});
