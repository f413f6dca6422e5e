import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ensureDataPlane, stopDataPlane } from '../src/adapters/proxy-http1/data-plane-process.js';
import { InProcessRouter } from '../src/adapters/proxy-http1/in-process-router.js';
import { Router } from '../src/adapters/proxy-http1/router.js';
import type { WakeCall } from '../src/rollout/ports/traffic-router.js';
import { trafficRouterSleepContract } from '../src/rollout/ports/traffic-router-sleep.contract.js';
import { type BackendProcess, send, startBackend } from './helpers/backends.js';

// Scale to zero in the router (docs/adr/0029): an asleep route holds its requests, within bounds, while the control
// plane wakes its stage; on real sockets on loopback, in process and in the data plane process.
const ENTRY = fileURLToPath(new URL('../src/main/data-plane.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'sluice-wake-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function dataPlane() {
  const dataDir = join(root, `d${n++}`);
  const dp = await ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, maxConnections: 1000, entry: ENTRY, build: 'test' }, () => {});
  return {
    client: dp.client,
    port: dp.health.port,
    pid: dp.health.pid,
    async close() {
      dp.client.close();
      await stopDataPlane(dataDir);
    },
  };
}

trafficRouterSleepContract('in process', async () => {
  const router = new InProcessRouter();
  return { router, port: await router.listen(0), close: () => router.close() };
});
trafficRouterSleepContract('data plane process, over its control socket', async () => {
  const dp = await dataPlane();
  return { router: dp.client, port: dp.port, close: dp.close };
});

describe('the router holding requests for an asleep route', { timeout: 60_000 }, () => {
  let app: BackendProcess;
  const HOST = 'pr-1.shop.localhost';
  const calls: WakeCall[] = [];
  const pool = () => ({ version: 'v1', backends: [{ id: 'pr-1/a', port: app.port }] });
  const routers: Router[] = [];
  /** A router of its own with these bounds, listening on a free port. */
  const make = async (o: { holdTimeoutMs?: number; maxHeldPerRoute?: number } = {}) => {
    const r = new Router({ ...o, onWake: (w) => calls.push(w) });
    routers.push(r);
    return { r, port: await r.listen(0) };
  };
  const heldNow = (r: Router) => r.activity(HOST)?.held ?? -1;
  const untilHeld = async (r: Router, count: number) => {
    for (let i = 0; heldNow(r) !== count; i++) {
      assert.ok(i < 1000, `${count} request(s) held (now ${heldNow(r)})`);
      await sleep(5);
    }
  };

  before(async () => {
    app = await startBackend('v1');
  });
  after(async () => {
    await Promise.all(routers.map((r) => r.close()));
    await app.stop();
  });

  it('forwards a held request with its body, whole, once the route is awake', async () => {
    const { r, port } = await make();
    r.setRoute(HOST, { stage: 'pr-1', stable: pool(), asleep: true });
    const body = Buffer.alloc(300_000, 7);
    const answer = send(port, { host: HOST, method: 'POST', path: '/upload', body });
    await untilHeld(r, 1);
    assert.deepEqual(calls.at(-1)?.stage, 'pr-1');
    r.setRoute(HOST, { stage: 'pr-1', stable: pool() });
    const a = await answer;
    assert.equal(a.status, 200);
    const echoed = JSON.parse(a.body) as { method: string; url: string; bytes: number; version: string };
    assert.deepEqual({ method: echoed.method, url: echoed.url, bytes: echoed.bytes, version: echoed.version }, { method: 'POST', url: '/upload', bytes: body.length, version: 'v1' });
    // The same connection serves the next request as usual.
    assert.equal((await send(port, { host: HOST })).status, 200);
  });

  it('answers 503 with Retry-After and a clear body when the stage does not wake in time, and calls again for the next request', async () => {
    const { r, port } = await make({ holdTimeoutMs: 200 });
    r.setRoute(HOST, { stage: 'pr-1', stable: pool(), asleep: true });
    const before_ = calls.length;
    const a = await send(port, { host: HOST });
    assert.equal(a.status, 503);
    assert.equal(a.headers['retry-after'], '5');
    assert.match(a.body, /pr-1 is asleep \(scaled to zero\) and did not wake within 0 s; try again shortly/);
    assert.equal(heldNow(r), 0, 'nothing is held after the timeout');
    assert.equal(calls.length, before_ + 1);
    assert.equal((await send(port, { host: HOST })).status, 503);
    assert.equal(calls.length, before_ + 2, 'the next request calls for a wake again');
  });

  it('holds at most maxHeldPerRoute requests; past it a request gets 503 at once, and the held ones are still served', async () => {
    const { r, port } = await make({ maxHeldPerRoute: 2 });
    r.setRoute(HOST, { stage: 'pr-1', stable: pool(), asleep: true });
    const held = [send(port, { host: HOST, path: '/a' }), send(port, { host: HOST, path: '/b' })];
    await untilHeld(r, 2);
    const third = await send(port, { host: HOST, path: '/c' });
    assert.equal(third.status, 503);
    assert.match(third.body, /pr-1 is asleep and waking; 2 requests wait for it already, the most it holds/);
    assert.equal(heldNow(r), 2);
    r.setRoute(HOST, { stage: 'pr-1', stable: pool() });
    const answers = await Promise.all(held);
    assert.deepEqual(answers.map((x) => [x.status, (JSON.parse(x.body) as { url: string }).url]), [[200, '/a'], [200, '/b']]);
  });

  // A client that only half-closes (FIN) may still read the answer, so its request stays held; a reset lets it go.
  it('lets go of a request whose client resets its connection while it is held', async () => {
    const { r, port } = await make();
    r.setRoute(HOST, { stage: 'pr-1', stable: pool(), asleep: true });
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((res) => sock.once('connect', () => res()));
    sock.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    await untilHeld(r, 1);
    sock.resetAndDestroy();
    for (let i = 0; heldNow(r) !== 0; i++) {
      assert.ok(i < 1000, 'the hung-up request is let go');
      await sleep(5);
    }
    r.setRoute(HOST, { stage: 'pr-1', stable: pool() });
    assert.equal((await send(port, { host: HOST })).status, 200);
  });

  it('keeps a route asleep through a kill -9 of the data plane, and holds and calls for it after', async () => {
    const dp = await dataPlane();
    try {
      await dp.client.setRoute(HOST, { stage: 'pr-1', stable: pool(), asleep: true });
      process.kill(dp.pid, 'SIGKILL');
      let back = false;
      for (let i = 0; i < 200 && !back; i++) {
        await sleep(50);
        back = await dp.client.health().then((h) => h.pid !== dp.pid, () => false);
      }
      assert.ok(back, 'the supervisor started the data plane again');
      assert.equal((await dp.client.route(HOST))?.asleep, true, 'the routes file kept it asleep');
      const woke: WakeCall[] = [];
      let heard!: () => void;
      const call = new Promise<void>((res) => (heard = res));
      const stop = dp.client.onWake((w) => {
        woke.push(w);
        heard();
      });
      const answer = send(dp.port, { host: HOST });
      await call;
      stop();
      assert.equal(woke[0]!.host, HOST);
      await dp.client.setRoute(HOST, { stage: 'pr-1', stable: pool() });
      assert.equal((await answer).status, 200);
    } finally {
      await dp.close();
    }
  });
});
