import type { MetricRef } from './rollout-plan.js';
import type { MetricsProvider } from './ports/metrics-provider.js';

/** The metric providers main/ wires: the data plane's own counters, and a Prometheus server by URL. */
export interface MetricSources {
  builtin: MetricsProvider;
  prometheus(url: string): MetricsProvider;
}

/** One provider for an analysis: built-in names go to the router's counters, PromQL to the plan's Prometheus. */
export function metricsFor(sources: MetricSources, prometheusUrl: string | undefined): MetricsProvider {
  const prom = prometheusUrl ? sources.prometheus(prometheusUrl) : undefined;
  const pick = (m: MetricRef): MetricsProvider => {
    if (typeof m === 'string') return sources.builtin;
    if (!prom) throw new Error('this analysis asks Prometheus, but the pipeline sets no metrics.prometheus.url');
    return prom;
  };
  return {
    measure: (m, q) => pick(m).measure(m, q),
    series: (m, q) => pick(m).series(m, q),
    countingSince: async (m) => pick(m).countingSince?.(m),
  };
}
