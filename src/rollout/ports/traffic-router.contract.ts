import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type GuardTrip, type TrafficRouter, VERSION_HEADER, verifyRoute } from './traffic-router.js';

/** A router to test, and the port its users reach it on. */
export interface RouterHarness {
  router: TrafficRouter;
  port: number;
  close(): Promise<void>;
}

/** A tiny instance: answers its version, or 500 for /fail. */
async function instance(version: string): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end(version);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, server };
}

function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; version: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, version: String(res.headers[VERSION_HEADER] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The contract of the TrafficRouter port, through real sockets: routes by host, SetWeight then VerifyWeight, sticky
 * users, per-second counters, drain, and the guard that cuts a failing canary off and reports it.
 */
export function trafficRouterContract(name: string, make: () => Promise<RouterHarness>) {
  describe(`traffic router contract: ${name}`, { timeout: 60_000 }, () => {
    let h: RouterHarness;
    let stable: { port: number; server: Server };
    let canary: { port: number; server: Server };
    const HOST = 'web.contract.localhost';
    const pools = () => ({
      stable: { version: 's1', backends: [{ id: `${name}-s1`, port: stable.port }] },
      canary: { version: 'c1', backends: [{ id: `${name}-c1`, port: canary.port }] },
    });
    before(async () => {
      [stable, canary] = await Promise.all([instance('s1'), instance('c1')]);
      h = await make();
    });
    after(async () => {
      await h.close();
      for (const s of [stable, canary]) {
        s.server.closeAllConnections();
        s.server.close();
      }
    });

    it('routes a host to its stable version, and answers 404 for a host it does not know', async () => {
      await h.router.setRoute(HOST, { stage: 'web', stable: pools().stable });
      assert.deepEqual(await get(h.port, HOST), { status: 200, body: 's1', version: 's1' });
      assert.equal((await get(h.port, 'nobody.contract.localhost')).status, 404);
      assert.deepEqual(await h.router.route(HOST), { stage: 'web', stable: 's1', canary: null, weight: 0 });
    });

    it('sets a weight and verifies it; a user keeps their side while the weight grows', async () => {
      await h.router.setRoute(HOST, { stage: 'web', ...pools(), canaryWeight: 0, sticky: { header: 'x-user' }, guard: { errorRate: 0.5, requests: 10, minRequests: 4 } });
      await h.router.setCanaryWeight(HOST, 30);
      await verifyRoute(h.router, HOST, { stable: 's1', canary: 'c1', weight: 30 });
      await assert.rejects(verifyRoute(h.router, HOST, { stable: 's1', canary: 'c1', weight: 40 }), /does not serve what it was told/);
      const sides = new Map<string, string>();
      for (let u = 0; u < 60; u++) sides.set(`u${u}`, (await get(h.port, HOST, '/', { 'x-user': `u${u}` })).body);
      const onCanary = [...sides.values()].filter((v) => v === 'c1').length;
      assert.ok(onCanary > 5 && onCanary < 35, `${onCanary} of 60 users on the canary at 30%`);
      await h.router.setCanaryWeight(HOST, 60);
      for (const [u, side] of sides) if (side === 'c1') assert.equal((await get(h.port, HOST, '/', { 'x-user': u })).body, 'c1', `${u} left the canary as it grew`);
      assert.equal((await get(h.port, HOST, '/', { [VERSION_HEADER]: 'stable' })).body, 's1', 'a pin wins over the split');
    });

    it('counts requests per stage and version, second by second', async () => {
      const now = Math.floor(Date.now() / 1000);
      const s = await h.router.series('web', 's1', now - 60, now + 2);
      assert.ok(s.samples.reduce((n, x) => n + x.requests, 0) > 0);
      assert.ok(s.countingSince <= Date.now());
      assert.deepEqual((await h.router.series('web', 'nobody', now - 60, now + 2)).samples, []);
      assert.match(await h.router.prometheus(), /sluice_router_requests_total\{stage="web",version="s1",class="2xx"\} \d+/);
    });

    it('drains: resolves once nothing is in flight to the backends', async () => {
      const t0 = Date.now();
      await h.router.drain(pools().canary.backends, 5000);
      assert.ok(Date.now() - t0 < 4000, 'nothing was in flight: it does not wait for the timeout');
    });

    it('the guard cuts a failing canary off at once, reports it, and keeps it off while the route keeps that canary', async () => {
      const trips: GuardTrip[] = [];
      const unsubscribe = h.router.onTrip((t) => trips.push(t));
      await h.router.setCanaryWeight(HOST, 100);
      // Every answer of the canary is a 5xx: the guard trips within its minimum of answers.
      let canaryAnswers = 0;
      for (let i = 0; i < 30; i++) if ((await get(h.port, HOST, '/fail', { 'x-user': `g${i}` })).version === 'c1') canaryAnswers++;
      assert.ok(canaryAnswers >= 4 && canaryAnswers <= 6, `${canaryAnswers} canary answers before the trip`);
      for (let i = 0; i < 50 && trips.length === 0; i++) await sleep(20);
      assert.equal(trips.length, 1);
      assert.deepEqual([trips[0]!.host, trips[0]!.stage, trips[0]!.version], [HOST, 'web', 'c1']);
      assert.match(trips[0]!.reason, /of the canary's last \d+ answers were errors/);
      const state = await h.router.route(HOST);
      assert.equal(state?.weight, 0);
      assert.equal(state?.trip?.version, 'c1');
      await assert.rejects(verifyRoute(h.router, HOST, { stable: 's1', canary: 'c1', weight: 100 }), /guard sent c1's users back to stable/);
      // The same canary again (a restore, a weight step late to the party): still off. Another canary: on.
      await h.router.setRoute(HOST, { stage: 'web', ...pools(), canaryWeight: 100 });
      assert.equal((await h.router.route(HOST))?.weight, 0);
      assert.equal((await get(h.port, HOST)).body, 's1');
      await h.router.setRoute(HOST, { stage: 'web', stable: pools().stable, canary: { ...pools().canary, version: 'c2' }, canaryWeight: 100 });
      assert.deepEqual(await h.router.route(HOST), { stage: 'web', stable: 's1', canary: 'c2', weight: 100 });
      unsubscribe();
    });

    it('never guards a stage\'s only version', async () => {
      await h.router.setRoute(HOST, { stage: 'web', stable: pools().canary, guard: { errorRate: 0.5, requests: 10, minRequests: 2 } });
      for (let i = 0; i < 10; i++) assert.equal((await get(h.port, HOST, '/fail')).status, 500);
      assert.equal((await h.router.route(HOST))?.trip, undefined);
      await h.router.removeRoute(HOST);
      assert.equal(await h.router.route(HOST), undefined);
    });
  });
}
