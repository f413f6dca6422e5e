import type { MetricRef } from './rollout-plan.js';
import type { MetricsProvider } from './ports/metrics-provider.js';

/** The Prometheus server a plan's PromQL metrics ask, and how often it scrapes the router. */
export interface PrometheusSource {
  url: string;
  /** Absent: Prometheus' default of 15 s (plans recorded before the pipeline could say). */
  scrapeIntervalMs?: number;
}

/** The metric providers main/ wires: the data plane's own counters, and a Prometheus server by URL. */
export interface MetricSources {
  builtin: MetricsProvider;
  prometheus(source: PrometheusSource): MetricsProvider;
}

/** One provider for an analysis: built-in names go to the router's counters, PromQL to the plan's Prometheus. */
export function metricsFor(sources: MetricSources, prometheus: PrometheusSource | undefined): MetricsProvider {
  const prom = prometheus ? sources.prometheus(prometheus) : undefined;
  const pick = (m: MetricRef): MetricsProvider => {
    if (typeof m === 'string') return sources.builtin;
    if (!prom) throw new Error('this analysis asks Prometheus, but the pipeline sets no metrics.prometheus.url');
    return prom;
  };
  return {
    measure: (m, q) => pick(m).measure(m, q),
    series: (m, q) => pick(m).series(m, q),
    countingSince: async (m) => pick(m).countingSince?.(m),
    warmupMs: (m) => pick(m).warmupMs?.(m) ?? 0,
  };
}
