import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { BuiltinMetrics } from '../../src/adapters/metrics-builtin/builtin-metrics.js';
import { PrometheusMetrics, renderQuery } from '../../src/adapters/metrics-prometheus/prometheus-metrics.js';
import { InProcessRouter } from '../../src/adapters/proxy-http1/in-process-router.js';
import { metricsProviderContract } from '../../src/rollout/ports/metrics-provider.contract.js';
import { type BackendProcess, send, startBackend } from '../helpers/backends.js';
import { type PrometheusProcess, startPrometheus, waitScrapes } from '../helpers/prometheus.js';

// One contract for every metrics provider: the same traffic through the router, measured by each.
// The Prometheus provider asks a real Prometheus server scraping the router's /metrics.
const ERROR_RATE = `sum(rate(sluice_router_requests_total{stage="{{stage}}",version="{{version}}",class=~"5xx|error"}[{{window}}])) / sum(rate(sluice_router_requests_total{stage="{{stage}}",version="{{version}}"}[{{window}}]))`;

const router = new InProcessRouter();
let backend: BackendProcess;
let metricsServer: Server;
let prom: PrometheusProcess;
let windowMs: { fromMs: number; toMs: number };

before(async () => {
  const port = await router.listen(0);
  backend = await startBackend('v1');
  await router.setRoute('web.shop.localhost', { stage: 'web', stable: { version: 'v1', backends: [{ id: 'b', port: backend.port }] } });
  metricsServer = createServer((_req, res) => void router.prometheus().then((t) => res.end(t)));
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

const common = () => ({ stage: 'web', version: 'v1', window: windowMs, expected: 0.2 });
metricsProviderContract('built-in', () => ({ ...common(), provider: new BuiltinMetrics(router), errorRate: 'error-rate' }));
// The helper's Prometheus scrapes every second.
metricsProviderContract('Prometheus', () => ({ ...common(), provider: new PrometheusMetrics(prom.url, { scrapeIntervalMs: 1000 }), errorRate: { prometheus: ERROR_RATE } }));

it('fills query templates and reports Prometheus errors clearly', async () => {
  assert.equal(renderQuery('x{stage="{{stage}}",v="{{ version }}"}[{{window}}]', { stage: 's', version: '1.0', fromMs: 0, toMs: 5400 }, 1000), 'x{stage="s",v="1.0"}[5s]');
  await assert.rejects(new PrometheusMetrics(prom.url).measure({ prometheus: 'sum(' }, { stage: 's', version: 'v', fromMs: 0, toMs: 1000 }), /Prometheus bad_data/);
  await assert.rejects(new BuiltinMetrics(router).measure({ prometheus: 'up' }, { stage: 's', version: 'v', fromMs: 0, toMs: 1 }), /cannot measure/);
});
