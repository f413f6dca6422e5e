import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PrometheusMetrics } from '../../src/adapters/metrics-prometheus/prometheus-metrics.js';
import { InProcessRouter } from '../../src/adapters/proxy-http1/in-process-router.js';
import { runAnalysis } from '../../src/rollout/analysis-runner.js';
import { evaluateThreshold, type Measurement } from '../../src/rollout/judge.js';
import type { AnalysisPlan } from '../../src/rollout/rollout-plan.js';
import { type BackendProcess, send, startBackend } from '../helpers/backends.js';
import { type PrometheusProcess, startPrometheus, waitScrapes } from '../helpers/prometheus.js';

// The query window against a real Prometheus that scrapes the router every second (test/helpers/prometheus.ts).
// rate() needs two samples inside its range: over [1s] at a 1 s scrape interval it is empty however much traffic there
// is, so an analysis measuring every second used to get no data at all. {{window}} is now at least four scrapes.
const SCRAPE_INTERVAL_MS = 1000;
const requests = (stage: string, version: string, range: string, classes = '.*') =>
  `sum(rate(sluice_router_requests_total{stage="${stage}",version="${version}",class=~"${classes}"}[${range}]))`;
const errorRate = (stage: string, version: string, range: string) => `${requests(stage, version, range, '5xx|error')} / ${requests(stage, version, range)}`;

const router = new InProcessRouter();
let routerPort: number;
let backend: BackendProcess;
let metricsServer: Server;
let prom: PrometheusProcess;
const stops: (() => Promise<void>)[] = [];

/** Steady traffic to a host until the tests end: one request in five answers 500. */
function traffic(host: string): void {
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      await send(routerPort, { host, path: i % 5 === 0 ? '/status?code=500' : '/status?code=200' });
      if (i % 20 === 0) await sleep(10);
    }
  })();
  stops.push(async () => {
    stop = true;
    await done;
  });
}

const analysis = (query: string, count: number): AnalysisPlan => ({
  name: 'errors',
  intervalMs: 1000,
  count,
  thresholds: [{ name: 'error-rate', metric: { prometheus: query }, max: 0.5 }],
  compare: [],
  judge: {},
});

const run = (a: AnalysisPlan, stage: string, version: string, startedAt = Date.now()) =>
  runAnalysis(new PrometheusMetrics(prom.url, { scrapeIntervalMs: SCRAPE_INTERVAL_MS }), a, {
    stage,
    canary: version,
    baseline: 'none',
    startedAt,
    background: false,
    signal: new AbortController().signal,
    log: () => {},
  });

const measurementsOf = (out: Awaited<ReturnType<typeof run>>): Measurement[] => out.detail!.request.thresholds![0]!.measurements as Measurement[];

async function instant(query: string, timeS: number): Promise<{ value: [number, string] }[]> {
  const u = new URL('/api/v1/query', prom.url);
  u.searchParams.set('query', query);
  u.searchParams.set('time', String(timeS));
  const body = (await (await fetch(u)).json()) as { data: { result: { value: [number, string] }[] } };
  return body.data.result;
}

before(async () => {
  routerPort = await router.listen(0);
  backend = await startBackend('v1');
  await router.setRoute('web.shop.localhost', { stage: 'web', stable: { version: 'v1', backends: [{ id: 'b', port: backend.port }] } });
  metricsServer = createServer((_req, res) => void router.prometheus().then((t) => res.end(t)));
  await new Promise<void>((r) => metricsServer.listen(0, '127.0.0.1', () => r()));
  prom = await startPrometheus([`127.0.0.1:${(metricsServer.address() as AddressInfo).port}`]);
  traffic('web.shop.localhost');
  await waitScrapes(prom.url, 6);
});
after(async () => {
  for (const stop of stops) await stop();
  await prom?.stop();
  metricsServer?.close();
  await router.close();
  await backend?.stop();
});

describe('the PromQL window and the scrape interval (real Prometheus, scraping every second)', { timeout: 120_000 }, () => {
  it('the failing case: rate() over [1s] is empty between two scrapes, over four scrapes it has a value', async () => {
    // Evaluate half-way between two scrapes, where a 1 s range holds exactly one sample of the series.
    const raw = (await instant(`sluice_router_requests_total{stage="web",version="v1",class="2xx"}[10s]`, Date.now() / 1000)) as unknown as { values: [number, string][] }[];
    const stamps = raw[0]!.values.map(([t]) => t);
    assert.ok(stamps.length >= 4, `only ${stamps.length} scrapes of the traffic so far`);
    for (const t of stamps.slice(-4, -1)) {
      assert.deepEqual(await instant(requests('web', 'v1', '1s'), t + 0.5), [], `rate over [1s] at ${t + 0.5}`);
      const [four] = await instant(requests('web', 'v1', '4s'), t + 0.5);
      assert.ok(four && Number(four.value[1]) > 0, `rate over [4s] at ${t + 0.5}: ${JSON.stringify(four)}`);
    }
  });

  it('the failing case: an analysis every second over a [1s] range (what {{window}} used to be) gets no data and pauses', async () => {
    const out = await run(analysis(errorRate('web', 'v1', '1s'), 5), 'web', 'v1');
    assert.equal(out.inconclusive, true, out.reason);
    const empty = measurementsOf(out).filter((m) => m === null).length;
    // Two samples 1 s apart fall in a closed 1 s range only when a measurement lands on a scrape to the millisecond.
    assert.ok(empty >= 4, `no data in ${empty} of 5 measurements: ${JSON.stringify(measurementsOf(out))}`);
  });

  it('the fix: an analysis every second over {{window}} measures real data in every window', async () => {
    const out = await run(analysis(errorRate('web', 'v1', '{{window}}'), 5), 'web', 'v1');
    assert.equal(out.ok, true);
    assert.equal(out.inconclusive, undefined, out.reason);
    const values = measurementsOf(out);
    assert.equal(values.length, 5);
    for (const v of values) assert.ok(typeof v === 'number' && Math.abs(v - 0.2) < 0.05, `error rate ${JSON.stringify(values)}, sent 0.2`);
  });

  it("a new version's first window has no data yet; the warm-up keeps it from pausing the rollout", async () => {
    const startedAt = Date.now();
    // The new version's route (and so its series) appears just after the analysis starts, as a canary's first users do.
    await sleep(200);
    await router.setRoute('fresh.shop.localhost', { stage: 'fresh', stable: { version: 'v2', backends: [{ id: 'b2', port: backend.port }] } });
    traffic('fresh.shop.localhost');
    const out = await run(analysis(errorRate('fresh', 'v2', '{{window}}'), 8), 'fresh', 'v2', startedAt);
    const measurements = measurementsOf(out);
    const threshold = out.detail!.request.thresholds![0]!;
    assert.equal(threshold.warmup, 4, 'four 1 s intervals cover four scrapes');
    assert.equal(measurements[0], null, 'a series one scrape old has no rate');
    assert.equal(out.ok, true);
    assert.equal(out.inconclusive, undefined, `${out.reason}: ${JSON.stringify(measurements)}`);
    assert.ok(out.detail!.response.thresholds[0]!.counts.warmup >= 1);
    assert.ok(measurements.slice(4).every((m) => typeof m === 'number'), JSON.stringify(measurements));
    // Without the warm-up the same measurements would have paused the rollout for a person.
    assert.equal(evaluateThreshold({ name: 'error-rate', max: 0.5 }, measurements).outcome, 'Inconclusive');
  });
});
