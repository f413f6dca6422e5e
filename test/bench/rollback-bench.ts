// npm run bench:rollback: a canary that answers 5xx to half its requests, under steady traffic, on the example app
// with the built-in metrics and a 1 s analysis interval. Measures, per run, the time from the first bad response a
// client sees to the last response the canary serves (after it, all traffic is on stable).
// Side by side in one run, alternating: with the data plane's guard (the default) and without it (guard: false, the
// analysis alone), under two loads: 4 closed-loop clients (today's load), and 50 requests a second of user traffic.
// Writes bench-results/rollback.json.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANARY_PIPELINE, drive, setFault } from '../helpers/canary-app.js';
import { api, copyExample, journeyEnd, startUp } from '../helpers/sluice-process.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const app = copyExample();
const WITHOUT_GUARD = CANARY_PIPELINE.replace('        analysis: { interval', '        guard: false\n        analysis: { interval');
writeFileSync(join(app, 'sluice.yaml'), CANARY_PIPELINE);
const up = await startUp(app, join(app, '.sluice'));
const token = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
const HOST = 'prod.shop.localhost';

async function release(version: string): Promise<string> {
  const r = await api(up.apiUrl, 'POST', '/api/v1/releases', { version }, token);
  if (r.status !== 201) throw new Error(`release ${version}: ${r.status} ${JSON.stringify(r.json)}`);
  return journeyEnd(up.apiUrl, version);
}

type Mode = { guard: boolean; load: 'closed-4' | 'paced-50' };
const MODES: Mode[] = [
  { guard: true, load: 'closed-4' },
  { guard: false, load: 'closed-4' },
  { guard: true, load: 'paced-50' },
  { guard: false, load: 'paced-50' },
];
const key = (m: Mode) => `${m.guard ? 'guard' : 'analysis-only'}/${m.load}`;
const results = new Map<string, { cutOffMs: number[]; badResponses: number[] }>(MODES.map((m) => [key(m), { cutOffMs: [], badResponses: [] }]));

try {
  setFault(app, 0, 'stable');
  if ((await release('1.0.0')) !== 'succeeded') throw new Error('the stable release failed');
  for (let run = 1; run <= RUNS; run++) {
    for (const m of MODES) {
      writeFileSync(join(app, 'sluice.yaml'), m.guard ? CANARY_PIPELINE : WITHOUT_GUARD);
      const traffic = drive(up.routerPort, HOST, m.load === 'paced-50' ? { perSecond: 50 } : {});
      await sleep(300);
      setFault(app, 0.5, `bad-${run}-${key(m)}`);
      const version = `1.0.0-bad.${run}.${m.guard ? 'g' : 'a'}.${m.load === 'paced-50' ? 'p' : 'c'}`;
      const status = await release(version);
      await sleep(200);
      await traffic.stop();
      if (status !== 'failed') throw new Error(`${version} ended ${status}, not rolled back`);
      const first = traffic.samples.find((s) => s.status >= 500);
      const last = traffic.samples.filter((s) => s.version === version).at(-1);
      if (!first || !last) throw new Error(`run ${run} ${key(m)}: no bad response seen`);
      const r = results.get(key(m))!;
      r.cutOffMs.push(last.at - first.at);
      r.badResponses.push(traffic.samples.filter((s) => s.status >= 500).length);
      console.log(`run ${run} ${key(m).padEnd(24)} ${String(last.at - first.at).padStart(5)} ms from the first 5xx to the last canary response; ${r.badResponses.at(-1)} bad of ${traffic.samples.length}`);
    }
  }
} finally {
  await up.down();
  rmSync(join(app, '..'), { recursive: true, force: true });
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { p50: q(0.5), p95: q(0.95), max: s.at(-1), samples: xs };
};
const byMode = Object.fromEntries([...results].map(([k, r]) => [k, { cutOffMs: summary(r.cutOffMs), badResponsesPerRun: r.badResponses }]));
const guardP95 = summary(results.get('guard/closed-4')!.cutOffMs).p95;
const analysisP95 = summary(results.get('analysis-only/closed-4')!.cutOffMs).p95;
const result = {
  method: {
    fault: '50% of the canary’s API requests answer 500; health stays green',
    loads: { 'closed-4': '4 keep-alive closed-loop clients, a new user per request', 'paced-50': '50 requests/s at a fixed pace, a new user per request' },
    canary: 'weight 50%, data-plane guard at its defaults (50% errors of the last 20 answers, from 5) or off',
    analysis: 'built-in metrics, background analysis every 1 s, error-rate max 0.05, failureLimit 0',
    measured: 'client-side: first 5xx seen → last response served by the canary',
    runs: RUNS,
  },
  byMode,
  ratio: { analysisOnlyOverGuardP95: analysisP95 / Math.max(1, guardP95) },
  target: { guardP95Ms: 100, met: guardP95 <= 100 },
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
