import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { viaRouter } from './sluice-process.js';

/** A pipeline with one canary stage, for canary tests and bench:rollback. */
export const CANARY_PIPELINE = `app: shop
artifact:
  build: node build.js
  output: dist
analyses:
  errors:
    interval: 1s
    count: 3
    thresholds:
      - { name: error-rate, metric: error-rate, max: 0.05, onEmpty: inconclusive, inconclusiveLimit: 3 }
defaults:
  local:
    start: node server.js
    instances: 2
    health: { path: /healthz, timeout: 20s }
    stopTimeout: 3s
stages:
  prod:
    verify:
      smoke: node tests/smoke.js
    bake: 1s
    strategy:
      canary:
        steps:
          - setWeight: 50
          - analysis: errors
          - setWeight: 100
          - analysis: errors
        analysis: { interval: 1s, thresholds: [{ name: error-rate, metric: error-rate, max: 0.05, inconclusiveLimit: 1000 }] }
`;

/**
 * Writes the app so that the next release answers 500 to `faultShare` of its API requests, and delays every API
 * answer by `delayMs` (its health stays fine). With `onlyIn`, the fault shows only where DATA_RESIDENCY is that.
 */
export function setFault(appDir: string, faultShare: number, marker: string, delayMs = 0, onlyIn?: string): void {
  const file = join(appDir, 'src', 'server.js');
  const original = readFileSync(file, 'utf8').replace(/\n\/\/ fault:.*\n[\s\S]*$/, '\n');
  const hook = `
// fault: ${marker}
const FAULT_SHARE = ${onlyIn ? `process.env.DATA_RESIDENCY === ${JSON.stringify(onlyIn)} ? ${faultShare} : 0` : faultShare};
const DELAY_MS = ${delayMs};
const handler = server.listeners('request')[0];
server.removeAllListeners('request');
server.on('request', (req, res) => {
  if (req.url === '/healthz') return handler(req, res);
  if (Math.random() < FAULT_SHARE) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('injected fault');
    return;
  }
  if (DELAY_MS > 0) setTimeout(() => handler(req, res), DELAY_MS);
  else handler(req, res);
});
`;
  writeFileSync(file, original + hook);
}

export interface TrafficSample {
  at: number;
  status: number;
  version: string;
}

/**
 * Steady traffic to a stage until stopped, a new user every request, keep-alive; bounded by `maxMs`. By default 4
 * closed-loop clients (each sends its next request when the last is answered); with `perSecond`, requests at that
 * fixed rate instead, whatever the answers take (user traffic that does not slow down when the canary does).
 */
export function drive(routerPort: number, host: string, opts: { maxMs?: number; perSecond?: number; path?: string } = {}) {
  const maxMs = opts.maxMs ?? 120_000;
  const path = opts.path ?? '/api/products';
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const samples: TrafficSample[] = [];
  let stop = false;
  const started = Date.now();
  const one = async () => {
    try {
      const r = await viaRouter(routerPort, host, path, agent);
      samples.push({ at: Date.now(), status: r.status, version: r.version });
    } catch {
      samples.push({ at: Date.now(), status: 0, version: '' });
    }
  };
  const client = async () => {
    while (!stop && Date.now() - started < maxMs) await one();
  };
  const paced = async (perSecond: number) => {
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; !stop && Date.now() - started < maxMs; n++) {
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
      await new Promise((r) => setTimeout(r, Math.max(0, started + ((n + 1) * 1000) / perSecond - Date.now())));
    }
    await Promise.all(inFlight);
  };
  const clients = opts.perSecond ? [paced(opts.perSecond)] : [client(), client(), client(), client()];
  return {
    samples,
    async stop() {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    },
  };
}
