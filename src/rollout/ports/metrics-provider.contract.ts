import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricQuery, MetricRef, MetricsProvider } from './metrics-provider.js';

/** Traffic the harness sent: `errorRate` of the requests of `version` at `stage` failed within `window`. */
export interface MetricsHarness {
  provider: MetricsProvider;
  /** How this provider asks for the error rate. */
  errorRate: MetricRef;
  stage: string;
  version: string;
  window: { fromMs: number; toMs: number };
  /** The share of failed requests sent. */
  expected: number;
}

/**
 * The contract of the MetricsProvider port, on traffic the harness made: the error rate over a window, no data for a
 * version nobody called, and a per-second series for comparisons.
 */
export function metricsProviderContract(name: string, harness: () => MetricsHarness) {
  describe(`metrics provider contract: ${name}`, () => {
    const q = (h: MetricsHarness, version = h.version): MetricQuery => ({
      stage: h.stage,
      version,
      fromMs: h.window.fromMs,
      toMs: h.window.toMs + 1500,
    });
    it('measures the error rate of a version over a window', async () => {
      const h = harness();
      const v = await h.provider.measure(h.errorRate, q(h));
      assert.ok(v !== null && Math.abs(v - h.expected) < 0.03, `error rate ${v}, expected about ${h.expected}`);
    });
    it('answers no data for a version nobody called', async () => {
      const h = harness();
      assert.equal(await h.provider.measure(h.errorRate, q(h, 'nobody')), null);
    });
    it('gives a series of per-second values for comparisons', async () => {
      const h = harness();
      const s = await h.provider.series(h.errorRate, q(h));
      assert.ok(s.length >= 3, `only ${s.length} points`);
      assert.ok(s.every((x) => x >= 0 && x <= 1), JSON.stringify(s));
    });
  });
}
