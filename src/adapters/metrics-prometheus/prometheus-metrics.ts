import { type MetricQuery, type MetricRef, type MetricsProvider, unsupported } from '../../rollout/ports/metrics-provider.js';

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: unknown };
}

/** The {{window}} of a range query's points. */
export const SERIES_WINDOW_MS = 5000;

/** Fills in {{stage}}, {{version}} and {{window}} (the query window as a PromQL duration, e.g. 5s). */
export function renderQuery(template: string, q: MetricQuery): string {
  const windowS = Math.max(1, Math.round((q.toMs - q.fromMs) / 1000));
  const values: Record<string, string> = { stage: q.stage, version: q.version, window: `${windowS}s` };
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => values[name] ?? m);
}

const toNumber = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number.parseFloat(v) : Number.NaN;
  return Number.isFinite(n) ? n : null;
};

/** PromQL against a Prometheus server's HTTP API. */
export class PrometheusMetrics implements MetricsProvider {
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

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
    const data = await this.get('api/v1/query', { query: renderQuery(this.template(metric), q), time: String(q.toMs / 1000) });
    if (data?.resultType === 'scalar') return toNumber((data.result as [number, string])[1]);
    if (data?.resultType === 'vector') {
      const first = (data.result as { value: [number, string] }[])[0];
      return first ? toNumber(first.value[1]) : null;
    }
    throw new Error(`Prometheus answered a ${data?.resultType} where a number was expected`);
  }

  async series(metric: MetricRef, q: MetricQuery): Promise<number[]> {
    const data = await this.get('api/v1/query_range', {
      // Each point of a series looks back SERIES_WINDOW_MS: enough for rate() over scrapes a second apart.
      query: renderQuery(this.template(metric), { ...q, fromMs: q.toMs - SERIES_WINDOW_MS }),
      start: String(q.fromMs / 1000),
      end: String(q.toMs / 1000),
      step: '1',
    });
    if (data?.resultType !== 'matrix') throw new Error(`Prometheus answered a ${data?.resultType} where a series was expected`);
    const first = (data.result as { values: [number, string][] }[])[0];
    return (first?.values ?? []).map((v) => toNumber(v[1])).filter((v): v is number => v !== null);
  }
}
