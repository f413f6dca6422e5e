import {
  DEFAULT_SCRAPE_INTERVAL_MS,
  type MetricQuery,
  type MetricRef,
  type MetricsProvider,
  unsupported,
  windowFloorMs,
} from '../../rollout/ports/metrics-provider.js';

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: unknown };
}

/** The {{window}} of a range query's points, unless the scrape interval asks for a longer one. */
export const SERIES_WINDOW_MS = 5000;

/**
 * Fills in {{stage}}, {{version}} and {{window}}: the query window as a PromQL duration in whole seconds (e.g. 5s), but
 * never shorter than four scrapes. A shorter range holds fewer than two samples of a series at times, and rate() over
 * it is then empty: at a 1 s scrape interval, `rate(x[1s])` has no value however much traffic there is.
 */
export function renderQuery(template: string, q: MetricQuery, scrapeIntervalMs: number): string {
  const windowS = Math.max(1, Math.round((q.toMs - q.fromMs) / 1000), Math.ceil(windowFloorMs(scrapeIntervalMs) / 1000));
  const values: Record<string, string> = { stage: q.stage, version: q.version, window: `${windowS}s` };
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => values[name] ?? m);
}

/** How a Prometheus provider reaches its server and how often that server scrapes the router. */
export interface PrometheusOptions {
  /** How often Prometheus scrapes the series the queries read (default 15 s, Prometheus' own default). */
  scrapeIntervalMs?: number;
  /** Per request (default 5 s). */
  timeoutMs?: number;
}

const toNumber = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number.parseFloat(v) : Number.NaN;
  return Number.isFinite(n) ? n : null;
};

/** PromQL against a Prometheus server's HTTP API. */
export class PrometheusMetrics implements MetricsProvider {
  private readonly scrapeIntervalMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly url: string,
    opts: PrometheusOptions = {},
  ) {
    this.scrapeIntervalMs = opts.scrapeIntervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  private async get(path: string, params: Record<string, string>): Promise<PromResponse['data']> {
    const u = new URL(path, this.url.endsWith('/') ? this.url : `${this.url}/`);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const res = await fetch(u, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = (await res.json().catch(() => ({ status: 'error', error: `answered ${res.status} without JSON` }))) as PromResponse;
    if (body.status !== 'success') throw new Error(`Prometheus ${body.errorType ?? 'error'}: ${body.error ?? res.status}`);
    return body.data;
  }

  private template(metric: MetricRef): string {
    if (typeof metric === 'string') throw unsupported('Prometheus', metric);
    return metric.prometheus;
  }

  async measure(metric: MetricRef, q: MetricQuery): Promise<number | null> {
    const data = await this.get('api/v1/query', { query: renderQuery(this.template(metric), q, this.scrapeIntervalMs), time: String(q.toMs / 1000) });
    if (data?.resultType === 'scalar') return toNumber((data.result as [number, string])[1]);
    if (data?.resultType === 'vector') {
      const first = (data.result as { value: [number, string] }[])[0];
      return first ? toNumber(first.value[1]) : null;
    }
    throw new Error(`Prometheus answered a ${data?.resultType} where a number was expected`);
  }

  async series(metric: MetricRef, q: MetricQuery): Promise<number[]> {
    const data = await this.get('api/v1/query_range', {
      // Each point looks back SERIES_WINDOW_MS, or four scrapes when that is longer (renderQuery's floor).
      query: renderQuery(this.template(metric), { ...q, fromMs: q.toMs - SERIES_WINDOW_MS }, this.scrapeIntervalMs),
      start: String(q.fromMs / 1000),
      end: String(q.toMs / 1000),
      // Points closer than a scrape apart are computed from the same samples: they would repeat one observation and
      // make a comparison look surer than the data allow.
      step: String(Math.max(1000, this.scrapeIntervalMs) / 1000),
    });
    if (data?.resultType !== 'matrix') throw new Error(`Prometheus answered a ${data?.resultType} where a series was expected`);
    const first = (data.result as { values: [number, string][] }[])[0];
    return (first?.values ?? []).map((v) => toNumber(v[1])).filter((v): v is number => v !== null);
  }

  /** A new series has a value once a full window of scrapes has had the chance to see it twice: the window's floor. */
  warmupMs(metric: MetricRef): number {
    this.template(metric);
    return windowFloorMs(this.scrapeIntervalMs);
  }
}
