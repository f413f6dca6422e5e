// npm run bench:rollback: a canary that answers 5xx to half its requests, under steady traffic, on the example app
// with the built-in metrics and a 1 s analysis interval. Measures, per run, the time from the first bad response a
// client sees to the last response the canary serves (after it, all traffic is on stable). Writes JSON.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANARY_PIPELINE, drive, setFault } from '../helpers/canary-app.js';
import { api, copyExample, journeyEnd, startUp } from '../helpers/sluice-process.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const app = copyExample();
writeFileSync(join(app, 'sluice.yaml'), CANARY_PIPELINE);
const up = await startUp(app, join(app, '.sluice'));
const token = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
const HOST = 'prod.shop.localhost';

async function release(version: string): Promise<string> {
  const r = await api(up.apiUrl, 'POST', '/api/v1/releases', { version }, token);
  if (r.status !== 201) throw new Error(`release ${version}: ${r.status} ${JSON.stringify(r.json)}`);
  return journeyEnd(up.apiUrl, version);
}

const rollbackMs: number[] = [];
const failedRequests: number[] = [];
try {
  setFault(app, 0, 'stable');
  if ((await release('1.0.0')) !== 'succeeded') throw new Error('the stable release failed');
  for (let run = 1; run <= RUNS; run++) {
    const traffic = drive(up.routerPort, HOST);
    await sleep(300);
    setFault(app, 0.5, `bad-${run}`);
    const version = `1.0.0-bad.${run}`;
    const status = await release(version);
    await sleep(200);
    await traffic.stop();
    if (status !== 'failed') throw new Error(`${version} ended ${status}, not rolled back`);
    const first = traffic.samples.find((s) => s.status >= 500);
    const last = traffic.samples.filter((s) => s.version === version).at(-1);
    if (!first || !last) throw new Error(`run ${run}: no bad response seen`);
    rollbackMs.push(last.at - first.at);
    failedRequests.push(traffic.samples.filter((s) => s.status >= 500).length);
    console.log(`run ${run}: ${last.at - first.at} ms from the first 5xx to the last canary response; ${failedRequests.at(-1)} bad responses of ${traffic.samples.length}`);
  }
} finally {
  await up.stop();
  rmSync(join(app, '..'), { recursive: true, force: true });
}

const sorted = [...rollbackMs].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
const result = {
  method: {
    fault: '50% of the canary’s API requests answer 500; health stays green',
    traffic: '4 keep-alive clients, a new user per request, canary weight 50%',
    analysis: 'built-in metrics, background analysis every 1 s, error-rate max 0.05, failureLimit 0',
    measured: 'client-side: first 5xx seen → last response served by the canary',
    runs: RUNS,
  },
  rollbackMs: { p50: q(0.5), p95: q(0.95), max: sorted.at(-1), samples: rollbackMs },
  badResponsesPerRun: failedRequests,
  target: { p95Ms: 2000 },
  peers: {
    note: 'computed from documented defaults, not measured here',
    flaggerMinimumMs: 10_000,
    flaggerDefaultMs: 60_000,
  },
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/rollback.json', `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
console.log('written to bench-results/rollback.json');
