import { type MetricQuery, type MetricRef, type MetricsProvider, unsupported } from '../../rollout/ports/metrics-provider.js';
import type { CounterSeries, TrafficRouter } from '../../rollout/ports/traffic-router.js';

/** Metrics straight from the data plane's per-second counters: no scrape, no delay, and no gap while the control plane is away. */
export class BuiltinMetrics implements MetricsProvider {
  private since: number | undefined;

  constructor(private readonly router: Pick<TrafficRouter, 'series'>) {}

  private async samples(q: MetricQuery): Promise<CounterSeries['samples']> {
    // Seconds that overlap the window, the current (partial) one included.
    const s = await this.router.series(q.stage, q.version, Math.floor(q.fromMs / 1000), Math.floor(q.toMs / 1000) + 1);
    this.since = s.countingSince;
    return s.samples;
  }

  async measure(metric: MetricRef, q: MetricQuery): Promise<number | null> {
    if (typeof metric !== 'string') throw unsupported('built-in', metric);
    const s = await this.samples(q);
    const requests = s.reduce((a, x) => a + x.requests, 0);
    if (metric === 'request-rate') return requests / Math.max(1, (q.toMs - q.fromMs) / 1000);
    if (requests === 0) return null;
    if (metric === 'error-rate') return s.reduce((a, x) => a + x.errors, 0) / requests;
    return s.reduce((a, x) => a + x.latencySumMs, 0) / requests;
  }

  async series(metric: MetricRef, q: MetricQuery): Promise<number[]> {
    if (typeof metric !== 'string') throw unsupported('built-in', metric);
    return (await this.samples(q)).map((x) =>
      metric === 'request-rate' ? x.requests : metric === 'error-rate' ? x.errors / x.requests : x.latencySumMs / x.requests,
    );
  }

  async countingSince(metric: MetricRef): Promise<number | undefined> {
    if (typeof metric !== 'string') throw unsupported('built-in', metric);
    if (this.since === undefined) await this.samples({ stage: '', version: '', fromMs: 0, toMs: 0 });
    return this.since;
  }
}
