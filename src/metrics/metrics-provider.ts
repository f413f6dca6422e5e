import type { BuiltinMetric } from '../core/pipeline.js';

export interface MetricQuery {
  stage: string;
  version: string;
  fromMs: number;
  toMs: number;
}

/** Where analyses read metrics from. One contract suite runs against every implementation. */
export interface MetricsProvider {
  /** One value for the window (null: no data). */
  measure(metric: BuiltinMetric, q: MetricQuery): Promise<number | null>;
  /** One value per second with traffic in the window, oldest first: the series a comparison ranks. */
  series(metric: BuiltinMetric, q: MetricQuery): Promise<number[]>;
}
