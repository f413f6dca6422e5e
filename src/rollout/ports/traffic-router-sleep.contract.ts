import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RouterHarness } from './traffic-router.contract.js';
import { VERSION_HEADER, type WakeCall } from './traffic-router.js';

/** A tiny instance: answers its version. */
async function instance(version: string): Promise<{ port: number; server: Server }> {
  const server = createServer((_req, res) => res.end(version));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, server };
}

function get(port: number, host: string): Promise<{ status: number; body: string; version: string; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, version: String(res.headers[VERSION_HEADER] ?? ''), retryAfter: res.headers['retry-after'] as string | undefined }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The TrafficRouter port's part for scaling to zero (docs/adr/0029), through real sockets: an asleep route holds its
 * requests and calls for a wake (repeated to a listener that comes later), the held requests reach the instance once the
 * route is set awake, and the router reports each route's last request.
 */
export function trafficRouterSleepContract(name: string, make: () => Promise<RouterHarness>) {
  describe(`traffic router contract, asleep routes: ${name}`, { timeout: 60_000 }, () => {
    let h: RouterHarness;
    let app: { port: number; server: Server };
    const HOST = 'sleepy.contract.localhost';
    const pool = () => ({ version: 'v1', backends: [{ id: `${name}-sleepy`, port: app.port }] });

    before(async () => {
      h = await make();
      app = await instance('v1');
    });
    after(async () => {
      await h.close();
      app.server.close();
    });

    it('reports when a route last got a request', async () => {
      await h.router.setRoute(HOST, { stage: 'sleepy', stable: pool() });
      const before_ = await h.router.activity(HOST);
      assert.ok(before_, 'a route has activity');
      assert.equal(before_.asleep, false);
      assert.equal(before_.held, 0);
      assert.equal((await get(h.port, HOST)).status, 200);
      const after_ = await h.router.activity(HOST);
      assert.ok(after_!.lastRequestAt >= before_.lastRequestAt);
      assert.ok(after_!.lastRequestAt <= Date.now());
      assert.equal(await h.router.activity('nobody.contract.localhost'), undefined);
    });

    it('holds requests for an asleep route, calls once for a wake, and forwards them when the route is awake again', async () => {
      await h.router.setRoute(HOST, { stage: 'sleepy', stable: pool(), asleep: true });
      assert.equal((await h.router.route(HOST))?.asleep, true, 'the route says it is asleep');
      const calls: WakeCall[] = [];
      let called!: () => void;
      const firstCall = new Promise<void>((r) => (called = r));
      const stop = h.router.onWake((w) => {
        calls.push(w);
        called();
      });
      try {
        const answers = [get(h.port, HOST), get(h.port, HOST)];
        await firstCall;
        assert.equal(calls[0]!.host, HOST);
        assert.equal(calls[0]!.stage, 'sleepy');
        // Both wait: the second request joins the first without a second call.
        for (let i = 0; (await h.router.activity(HOST))!.held < 2; i++) {
          assert.ok(i < 1000, 'both requests are held');
          await sleep(5);
        }
        // A listener that comes now still hears the call: it is not answered yet.
        const late: WakeCall[] = [];
        let lateHeard!: () => void;
        const heard = new Promise<void>((r) => (lateHeard = r));
        const stopLate = h.router.onWake((w) => {
          late.push(w);
          lateHeard();
        });
        await heard;
        stopLate();
        assert.equal(late[0]!.stage, 'sleepy');
        await h.router.setRoute(HOST, { stage: 'sleepy', stable: pool() });
        for (const a of await Promise.all(answers)) {
          assert.equal(a.status, 200);
          assert.equal(a.body, 'v1');
          assert.equal(a.version, 'v1');
        }
        assert.equal(calls.length, 1, 'one call for the requests held together');
        assert.equal((await h.router.route(HOST))?.asleep, undefined);
        assert.equal((await h.router.activity(HOST))?.held, 0);
      } finally {
        stop();
      }
    });

    it('answers a held request 404 when its route is removed', async () => {
      await h.router.setRoute(HOST, { stage: 'sleepy', stable: pool(), asleep: true });
      const answer = get(h.port, HOST);
      for (let i = 0; (await h.router.activity(HOST))!.held < 1; i++) {
        assert.ok(i < 1000, 'the request is held');
        await sleep(5);
      }
      await h.router.removeRoute(HOST);
      const a = await answer;
      assert.equal(a.status, 404);
      assert.match(a.body, /no stage answers at sleepy\.contract\.localhost/);
    });
  });
}
