import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { MetricRef } from '../../src/pipeline/pipeline.js';
import { BuiltinMetrics } from '../../src/adapters/metrics-builtin/builtin-metrics.js';
import type { MetricsProvider } from '../../src/rollout/ports/metrics-provider.js';
import { PrometheusMetrics, renderQuery } from '../../src/adapters/metrics-prometheus/prometheus-metrics.js';
import { Router } from '../../src/adapters/proxy-http1/router.js';
import { type BackendProcess, send, startBackend } from '../helpers/backends.js';
import { type PrometheusProcess, startPrometheus, waitScrapes } from '../helpers/prometheus.js';

// One contract for every metrics provider: the same traffic through the router, measured by each.
// The Prometheus provider asks a real Prometheus server scraping the router's /metrics.
const ERROR_RATE = `sum(rate(sluice_router_requests_total{stage="{{stage}}",version="{{version}}",class=~"5xx|error"}[{{window}}])) / sum(rate(sluice_router_requests_total{stage="{{stage}}",version="{{version}}"}[{{window}}]))`;

const router = new Router();
let backend: BackendProcess;
let metricsServer: Server;
let prom: PrometheusProcess;
let windowMs: { fromMs: number; toMs: number };

before(async () => {
  const port = await router.listen(0);
  backend = await startBackend('v1');
  router.setRoute('web.shop.localhost', { stage: 'web', stable: { version: 'v1', backends: [{ id: 'b', port: backend.port }] } });
  metricsServer = createServer((_req, res) => res.end(router.metrics.prometheus()));
  await new Promise<void>((r) => metricsServer.listen(0, '127.0.0.1', () => r()));
  prom = await startPrometheus([`127.0.0.1:${(metricsServer.address() as AddressInfo).port}`]);
  await waitScrapes(prom.url, 1);
  // Four seconds of traffic, one request in five a 500.
  const fromMs = Date.now();
  for (let i = 0; Date.now() - fromMs < 4000; i++) {
    await send(port, { host: 'web.shop.localhost', path: i % 5 === 0 ? '/status?code=500' : '/status?code=200' });
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
  }
  windowMs = { fromMs, toMs: Date.now() };
  await waitScrapes(prom.url, 2);
});
after(async () => {
  await prom?.stop();
  metricsServer?.close();
  await router.close();
  await backend?.stop();
});

function contract(name: string, make: () => MetricsProvider, errorRate: MetricRef) {
  describe(`metrics provider contract: ${name}`, () => {
    it('measures the error rate of a version over a window', async () => {
      const m = make();
      const v = await m.measure(errorRate, { stage: 'web', version: 'v1', ...windowMs, toMs: windowMs.toMs + 1500 });
      assert.ok(v !== null && Math.abs(v - 0.2) < 0.03, `error rate ${v}`);
    });
    it('answers no data for a version nobody called', async () => {
      const m = make();
      assert.equal(await m.measure(errorRate, { stage: 'web', version: 'nobody', ...windowMs }), null);
    });
    it('gives a series of per-second values for comparisons', async () => {
      const m = make();
      const s = await m.series(errorRate, { stage: 'web', version: 'v1', ...windowMs, toMs: windowMs.toMs + 1500 });
      assert.ok(s.length >= 3, `only ${s.length} points`);
      assert.ok(s.every((x) => x >= 0 && x <= 1), JSON.stringify(s));
    });
  });
}

contract('built-in', () => new BuiltinMetrics(router.metrics), 'error-rate');
contract('Prometheus', () => new PrometheusMetrics(prom.url), { prometheus: ERROR_RATE });

it('fills query templates and reports Prometheus errors clearly', async () => {
  assert.equal(renderQuery('x{stage="{{stage}}",v="{{ version }}"}[{{window}}]', { stage: 's', version: '1.0', fromMs: 0, toMs: 4400 }), 'x{stage="s",v="1.0"}[4s]');
  await assert.rejects(new PrometheusMetrics(prom.url).measure({ prometheus: 'sum(' }, { stage: 's', version: 'v', fromMs: 0, toMs: 1000 }), /Prometheus bad_data/);
  await assert.rejects(new BuiltinMetrics(router.metrics).measure({ prometheus: 'up' }, { stage: 's', version: 'v', fromMs: 0, toMs: 1 }), /cannot measure/);
});
