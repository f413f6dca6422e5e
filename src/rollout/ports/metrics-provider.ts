import type { MetricRef } from '../rollout-plan.js';

export type { MetricRef } from '../rollout-plan.js';

export interface MetricQuery {
  stage: string;
  version: string;
  fromMs: number;
  toMs: number;
}

/** Where analyses read metrics from. One contract suite runs against every implementation. */
export interface MetricsProvider {
  /** One value for the window (null: no data). */
  measure(metric: MetricRef, q: MetricQuery): Promise<number | null>;
  /**
   * One value per second with traffic in the window (a scraping provider: per scrape interval, when that is longer),
   * oldest first: the series a comparison ranks.
   */
  series(metric: MetricRef, q: MetricQuery): Promise<number[]>;
  /**
   * From when (epoch ms) the provider has counted for this metric, when it can tell: a window that starts earlier has a
   * gap (the data plane restarted, or its memory of old seconds ran out). Undefined: it cannot tell.
   */
  countingSince?(metric: MetricRef): Promise<number | undefined>;
  /**
   * How long (ms) a new version's data may take to show in this provider's answers, though its traffic is counted:
   * for a scraping provider, the scrapes a new series needs before a query over it has a value. The analysis does
   * not count a new version's empty measurements against it for this long (see `warmup` in judge.ts). Absent or 0:
   * what was counted is answered at once (the data plane's own counters).
   */
  warmupMs?(metric: MetricRef): number;
}

/** A provider that does not speak this kind of metric says so clearly. */
export function unsupported(provider: string, metric: MetricRef): Error {
  return new Error(`the ${provider} metrics provider cannot measure ${JSON.stringify(metric)}`);
}

/** Prometheus' own default `scrape_interval`, assumed when the pipeline does not say how often the router is scraped. */
export const DEFAULT_SCRAPE_INTERVAL_MS = 15_000;

/**
 * Scrapes a PromQL range must span. rate() needs two samples inside its range; Prometheus' rule of thumb is a range of
 * at least four scrape intervals, so that a late or missed scrape does not leave it empty.
 */
export const SCRAPES_PER_WINDOW = 4;

/** The shortest range a PromQL query may look back over at this scrape interval: four scrapes. */
export function windowFloorMs(scrapeIntervalMs: number): number {
  return SCRAPES_PER_WINDOW * scrapeIntervalMs;
}
