import type { MetricRef } from '../../pipeline/pipeline.js';
import type { RouterMetrics, SecondSample } from '../proxy-http1/router-metrics.js';
import { type MetricQuery, type MetricsProvider, unsupported } from '../../rollout/ports/metrics-provider.js';

/** Metrics straight from the built-in router's per-second counters: no scrape, no delay. */
export class BuiltinMetrics implements MetricsProvider {
  constructor(private readonly router: Pick<RouterMetrics, 'series'>) {}

  private samples(q: MetricQuery): SecondSample[] {
    // Seconds that overlap the window, the current (partial) one included.
    return this.router.series(q.stage, q.version, Math.floor(q.fromMs / 1000), Math.floor(q.toMs / 1000) + 1);
  }

  async measure(metric: MetricRef, q: MetricQuery): Promise<number | null> {
    if (typeof metric !== 'string') throw unsupported('built-in', metric);
    const s = this.samples(q);
    const requests = s.reduce((a, x) => a + x.requests, 0);
    if (metric === 'request-rate') return requests / Math.max(1, (q.toMs - q.fromMs) / 1000);
    if (requests === 0) return null;
    if (metric === 'error-rate') return s.reduce((a, x) => a + x.errors, 0) / requests;
    return s.reduce((a, x) => a + x.latencySumMs, 0) / requests;
  }

  async series(metric: MetricRef, q: MetricQuery): Promise<number[]> {
    if (typeof metric !== 'string') throw unsupported('built-in', metric);
    return this.samples(q).map((x) =>
      metric === 'request-rate' ? x.requests : metric === 'error-rate' ? x.errors / x.requests : x.latencySumMs / x.requests,
    );
  }
}
