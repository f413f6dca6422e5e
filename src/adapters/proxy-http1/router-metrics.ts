/**
 * What the router measures, per stage and version: requests by status class, a latency histogram, and
 * per-second counts kept for the last few minutes, which analyses read directly.
 */

/** Latency histogram bounds, in seconds (Prometheus convention). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Status classes; `error` is a request the router could not complete (upstream refused, reset or timed out). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
const WINDOW_SECONDS = 600;

import type { SecondSample } from '../../rollout/ports/traffic-router.js';

class VersionMetrics {
  readonly classes = new Array<number>(STATUS_CLASSES.length).fill(0);
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  sumSeconds = 0;
  count = 0;
  // A ring of per-second counters.
  private readonly seconds = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly requests = new Float64Array(WINDOW_SECONDS);
  private readonly errors = new Float64Array(WINDOW_SECONDS);
  private readonly latency = new Float64Array(WINDOW_SECONDS);

  record(status: number, ms: number, nowMs: number): void {
    const cls = status === 0 ? 5 : Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    this.classes[cls]!++;
    const s = ms / 1000;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (s <= LATENCY_BUCKETS[i]!) this.buckets[i]!++;
    this.sumSeconds += s;
    this.count++;
    const sec = Math.floor(nowMs / 1000);
    const slot = sec % WINDOW_SECONDS;
    if (this.seconds[slot] !== sec) {
      this.seconds[slot] = sec;
      this.requests[slot] = 0;
      this.errors[slot] = 0;
      this.latency[slot] = 0;
    }
    this.requests[slot]!++;
    if (cls >= 4) this.errors[slot]!++;
    this.latency[slot]! += ms;
  }

  /** Seconds in [from, to), oldest first; seconds without traffic are left out. */
  series(from: number, to: number): SecondSample[] {
    const out: SecondSample[] = [];
    for (let sec = Math.max(from, to - WINDOW_SECONDS); sec < to; sec++) {
      const slot = sec % WINDOW_SECONDS;
      if (this.seconds[slot] === sec)
        out.push({ second: sec, requests: this.requests[slot]!, errors: this.errors[slot]!, latencySumMs: this.latency[slot]! });
    }
    return out;
  }
}

export class RouterMetrics {
  /** When this process began to count. */
  readonly startedAt = Date.now();
  private readonly byKey = new Map<string, { stage: string; version: string; m: VersionMetrics }>();

  /** The recorder for one stage and version; the router keeps it with the pool, so recording needs no lookup. */
  recorder(stage: string, version: string): (status: number, ms: number) => void {
    const key = `${stage}\u0000${version}`;
    let e = this.byKey.get(key);
    if (!e) {
      e = { stage, version, m: new VersionMetrics() };
      this.byKey.set(key, e);
    }
    const m = e.m;
    return (status, ms) => m.record(status, ms, Date.now());
  }

  /** From when (epoch ms) the per-second counters are complete: since the start, and no older than they are kept. */
  countingSince(now = Date.now()): number {
    return Math.max(this.startedAt, (Math.floor(now / 1000) - WINDOW_SECONDS + 1) * 1000);
  }

  series(stage: string, version: string, fromSecond: number, toSecond: number): SecondSample[] {
    return this.byKey.get(`${stage}\u0000${version}`)?.m.series(fromSecond, toSecond) ?? [];
  }

  /** The Prometheus text exposition of every counter. */
  prometheus(): string {
    const lines = [
      '# HELP sluice_router_requests_total Requests the router answered, by stage, version and status class.',
      '# TYPE sluice_router_requests_total counter',
    ];
    const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const entries = [...this.byKey.values()];
    for (const { stage, version, m } of entries)
      STATUS_CLASSES.forEach((c, i) => {
        lines.push(`sluice_router_requests_total{stage="${esc(stage)}",version="${esc(version)}",class="${c}"} ${m.classes[i]}`);
      });
    lines.push('# HELP sluice_router_request_duration_seconds Time from request to the end of the response.');
    lines.push('# TYPE sluice_router_request_duration_seconds histogram');
    for (const { stage, version, m } of entries) {
      const l = `stage="${esc(stage)}",version="${esc(version)}"`;
      LATENCY_BUCKETS.forEach((b, i) => {
        lines.push(`sluice_router_request_duration_seconds_bucket{${l},le="${b}"} ${m.buckets[i]}`);
      });
      lines.push(`sluice_router_request_duration_seconds_bucket{${l},le="+Inf"} ${m.count}`);
      lines.push(`sluice_router_request_duration_seconds_sum{${l}} ${m.sumSeconds}`);
      lines.push(`sluice_router_request_duration_seconds_count{${l}} ${m.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
