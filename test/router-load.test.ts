import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { Router } from '../src/adapters/proxy-http1/router.js';
import type { Pool } from '../src/rollout/ports/traffic-router.js';
import { type BackendProcess, send, startBackend } from './helpers/backends.js';

// Steady traffic through the router while the canary weight shifts 200 times and the canary is rolled back
// (taken out of the route, drained, stopped, replaced) every 20 shifts. Bounded; loopback only.
const SHIFTS = 200;
const ROLLBACK_EVERY = 20;

it(`loses no request across ${SHIFTS} weight shifts and ${SHIFTS / ROLLBACK_EVERY} canary rollbacks`, { timeout: 120_000 }, async () => {
  const router = new Router();
  const port = await router.listen(0);
  const HOST = 'load.shop.localhost';
  const stable = [await startBackend('stable'), await startBackend('stable')];
  let canary = await startBackend('canary-0');
  const asPool = (version: string, bs: BackendProcess[]): Pool => ({ version, backends: bs.map((b) => ({ id: `${version}/${b.port}`, port: b.port })) });
  const route = (c: BackendProcess | null, version: string, weight: number) =>
    router.setRoute(HOST, { stage: 'load', stable: asPool('stable', stable), canary: c ? asPool(version, [c]) : null, canaryWeight: weight, sticky: { header: 'x-user-id' } });
  let canaryVersion = 'canary-0';
  route(canary, canaryVersion, 50);

  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let stop = false;
  const failures: string[] = [];
  const seen = new Map<string, number>();
  let total = 0;
  const client = async (id: number) => {
    for (let i = 0; !stop && i < 1_000_000; i++) {
      const post = i % 3 === 0;
      try {
        const r = await send(port, {
          host: HOST,
          agent,
          method: post ? 'POST' : 'GET',
          path: post ? '/echo' : '/status?code=200',
          headers: { 'x-user-id': `c${id}-u${i % 50}` },
          ...(post ? { body: `payload ${i}` } : {}),
        });
        total++;
        if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 100)}`);
        else {
          const v = String(r.headers['x-sluice-version']);
          seen.set(v, (seen.get(v) ?? 0) + 1);
        }
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 6 }, (_, i) => client(i));

  let seed = 3;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let shift = 1; shift <= SHIFTS; shift++) {
    if (shift % ROLLBACK_EVERY === 0) {
      // Roll back: all traffic to stable, let the canary's requests finish, stop it, bring up the next canary.
      const old = canary;
      const oldPool = asPool(canaryVersion, [old]);
      route(null, canaryVersion, 0);
      await router.drain(oldPool.backends, 5000);
      await old.stop();
      canaryVersion = `canary-${shift / ROLLBACK_EVERY}`;
      canary = await startBackend(canaryVersion);
      route(canary, canaryVersion, Math.floor(rand() * 101));
    } else {
      router.setCanaryWeight(HOST, Math.floor(rand() * 101));
    }
    await sleep(15);
  }
  stop = true;
  await Promise.all(clients);
  agent.destroy();
  await router.close();
  await Promise.all([...stable, canary].map((b) => b.stop()));

  console.log(`${total} requests, ${failures.length} failed, versions ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed requests of ${total}`);
  assert.ok(total > 1000, `only ${total} requests`);
  assert.ok((seen.get('stable') ?? 0) > 0);
  assert.ok([...seen.keys()].filter((k) => k.startsWith('canary-')).length >= 8, `canaries seen: ${[...seen.keys()]}`);
});
