import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { PrometheusMetrics, renderQuery } from './prometheus-metrics.js';

const q = (windowMs: number) => ({ stage: 'prod', version: '2.0.0', fromMs: 10_000, toMs: 10_000 + windowMs });

it('renders {{window}} as the query window, never shorter than four scrapes', () => {
  const t = 'rate(x{stage="{{stage}}",version="{{ version }}"}[{{window}}])';
  assert.equal(renderQuery(t, q(1000), 1000), 'rate(x{stage="prod",version="2.0.0"}[4s])', 'a 1 s interval at a 1 s scrape: 4 s');
  assert.equal(renderQuery(t, q(5400), 1000), 'rate(x{stage="prod",version="2.0.0"}[5s])', 'longer windows are kept, in whole seconds');
  assert.equal(renderQuery(t, q(5000), 15_000), 'rate(x{stage="prod",version="2.0.0"}[60s])', "Prometheus' default scrape: 1 minute");
  assert.equal(renderQuery(t, q(120_000), 15_000), 'rate(x{stage="prod",version="2.0.0"}[120s])');
  assert.equal(renderQuery(t, q(1000), 1500), 'rate(x{stage="prod",version="2.0.0"}[6s])');
  assert.equal(renderQuery('x[{{unknown}}]', q(1000), 1000), 'x[{{unknown}}]', 'other names are left as written');
});

it('gives a new series a warm-up of four scrapes, from the scrape interval it was told', () => {
  assert.equal(new PrometheusMetrics('http://127.0.0.1:9', { scrapeIntervalMs: 1000 }).warmupMs({ prometheus: 'up' }), 4000);
  assert.equal(new PrometheusMetrics('http://127.0.0.1:9').warmupMs({ prometheus: 'up' }), 60_000, 'default 15 s');
  assert.throws(() => new PrometheusMetrics('http://127.0.0.1:9').warmupMs('error-rate'), /cannot measure/);
});

it('asks range queries for series with the same floor, one point per scrape', async () => {
  const asked: URLSearchParams[] = [];
  // Only what the adapter sends is checked here; test/prom runs it against a real Prometheus.
  const server = createServer((req, res) => {
    asked.push(new URL(req.url!, 'http://x').searchParams);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[10, '0.5'], [25, 'NaN'], [40, '0.25']] }] } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const metric = { prometheus: 'rate(x{version="{{version}}"}[{{window}}])' };
    assert.deepEqual(await new PrometheusMetrics(url).series(metric, q(60_000)), [0.5, 0.25], 'NaN points are dropped');
    assert.equal(asked[0]!.get('query'), 'rate(x{version="2.0.0"}[60s])');
    assert.equal(asked[0]!.get('step'), '15');
    await new PrometheusMetrics(url, { scrapeIntervalMs: 1000 }).series(metric, q(60_000));
    assert.equal(asked[1]!.get('query'), 'rate(x{version="2.0.0"}[5s])', 'the usual 5 s look-back when four scrapes fit in it');
    assert.equal(asked[1]!.get('step'), '1');
  } finally {
    server.close();
  }
});
