import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/journeys/journey-events.js';
import { freePort } from '../../src/platform/net.js';
import { drive, setFault } from '../helpers/canary-app.js';
import { type PrometheusProcess, startPrometheus } from '../helpers/prometheus.js';
import { api, copyExample, journeyEnd, startUp, type UpProcess } from '../helpers/sluice-process.js';

// A canary gate on a real Prometheus server that scrapes Sluice's /metrics every second: a healthy canary passes, a
// slow one fails and is rolled back. The analysis measures every second with no allowance for empty measurements: its
// {{window}} spans four scrapes, and the canary's first windows, before its series has two samples, are the warm-up's.
const MEAN_LATENCY = `sum(rate(sluice_router_request_duration_seconds_sum{stage="{{stage}}",version="{{version}}"}[{{window}}])) / sum(rate(sluice_router_request_duration_seconds_count{stage="{{stage}}",version="{{version}}"}[{{window}}]))`;

const pipeline = (promUrl: string) => `app: shop
artifact:
  build: node build.js
  output: dist
metrics:
  prometheus: { url: ${promUrl}, scrapeInterval: 1s }
analyses:
  latency:
    interval: 1s
    count: 6
    thresholds:
      - name: mean-latency
        metric: { prometheus: '${MEAN_LATENCY}' }
        max: 0.1
defaults:
  local: { start: node server.js, instances: 1, stopTimeout: 3s }
stages:
  prod:
    strategy:
      canary:
        steps:
          - setWeight: 50
          - analysis: latency
`;

describe('canary gate on Prometheus', { timeout: 180_000 }, () => {
  let app: string;
  let up: UpProcess;
  let prom: PrometheusProcess;
  let token: string;
  const release = async (v: string) => {
    const traffic = drive(up.routerPort, 'prod.shop.localhost');
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: v }, token)).status, 201);
    const s = await journeyEnd(up.apiUrl, v);
    await traffic.stop();
    return s;
  };

  before(async () => {
    const apiPort = await freePort();
    prom = await startPrometheus([`127.0.0.1:${apiPort}`]);
    app = copyExample();
    writeFileSync(join(app, 'sluice.yaml'), pipeline(prom.url));
    up = await startUp(app, join(app, '.sluice'), {}, apiPort);
    token = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
    setFault(app, 0, 'v1');
    assert.equal(await release('1.0.0'), 'succeeded');
  });
  after(async () => {
    await up?.down();
    await prom?.stop();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('passes a healthy canary, measured over four scrapes with the warm-up the plan gives it', async () => {
    setFault(app, 0, 'v2');
    assert.equal(await release('2.0.0'), 'succeeded');
    const events = (await api<StoredEvent[]>(up.apiUrl, 'GET', '/api/v1/releases/2.0.0/events')).json;
    const judged = events.find((e) => e.type === 'step.finished' && e.ok && (e.detail as { analysis?: string } | undefined)?.analysis === 'latency');
    assert.ok(judged && judged.type === 'step.finished');
    const [threshold] = (judged.detail as { request: { thresholds: { warmup?: number; measurements: (number | null)[] }[] } }).request.thresholds;
    assert.equal(threshold!.warmup, 4, 'scrapeInterval 1s and interval 1s: four measurements of warm-up');
    const firstValue = threshold!.measurements.findIndex((m) => typeof m === 'number');
    assert.ok(firstValue >= 0 && firstValue < 4, JSON.stringify(threshold!.measurements));
    assert.ok(threshold!.measurements.slice(firstValue).every((m) => typeof m === 'number'), JSON.stringify(threshold!.measurements));
  });

  it('fails a slow canary and rolls it back, with the query and values stored', async () => {
    setFault(app, 0, 'v3', 250);
    assert.equal(await release('3.0.0'), 'failed');
    const events = (await api<StoredEvent[]>(up.apiUrl, 'GET', '/api/v1/releases/3.0.0/events')).json;
    const failed = events.find((e) => e.type === 'step.finished' && !e.ok && !e.cancelled);
    assert.ok(failed && failed.type === 'step.finished');
    type Detail = { queries: Record<string, unknown>; request: { thresholds: { name: string; measurements: (number | null)[] }[] } };
    const detail = failed.detail as Detail;
    assert.deepEqual(detail.queries['mean-latency'], { prometheus: MEAN_LATENCY }, 'the query behind the decision is stored');
    const values = detail.request.thresholds[0]!.measurements.filter((x): x is number => typeof x === 'number');
    assert.ok(values.some((v) => v > 0.1), `measured ${JSON.stringify(values)}`);
    assert.ok(events.some((e) => e.type === 'step.finished' && e.step === 'rollback' && e.ok));
    const live = await api<{ stages: { name: string; live: { version: string } }[] }>(up.apiUrl, 'GET', '/api/v1/status');
    assert.equal(live.json.stages[0]!.live.version, '2.0.0');
  });
});
