/**
 * What the router measures, per stage and version: requests by status class, a latency histogram, and
 * per-second counts kept for the last few minutes, which analyses read directly. The same counters are kept per stage,
 * flag and variant (docs/adr/0021, "Per-variant counters"), fed by the router and by providers' reports, and read
 * through `series` under the name `variantSeries(flag, variant)`.
 */

/** Latency histogram bounds, in seconds (Prometheus convention). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Status classes; `error` is a request the router could not complete (upstream refused, reset or timed out). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
const WINDOW_SECONDS = 600;

import { parseVariantSeries } from '../../flags/ports/variant-metrics.js';
import type { SecondSample } from '../../rollout/ports/traffic-router.js';

/** Flag variants counted at once; past it a new one is not counted (and named once in the log), so memory stays bounded. */
export const MAX_VARIANT_SERIES = 20_000;

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
    const slot = this.slot(Math.floor(nowMs / 1000));
    this.requests[slot]!++;
    if (cls >= 4) this.errors[slot]!++;
    this.latency[slot]! += ms;
  }

  /**
   * Evaluations a provider reported (no latency: they are not requests the router timed): they count as requests in
   * the per-second ring, `errors` as errors, and stay out of the status classes and the histogram.
   */
  reported(evaluations: number, errors: number, nowMs: number): void {
    this.evaluations += evaluations;
    this.reportedErrors += errors;
    const slot = this.slot(Math.floor(nowMs / 1000));
    this.requests[slot]! += evaluations;
    this.errors[slot]! += errors;
  }

  /** Reported evaluations and errors (reported()); zero for a version. */
  evaluations = 0;
  reportedErrors = 0;

  private slot(sec: number): number {
    const slot = sec % WINDOW_SECONDS;
    if (this.seconds[slot] !== sec) {
      this.seconds[slot] = sec;
      this.requests[slot] = 0;
      this.errors[slot] = 0;
      this.latency[slot] = 0;
    }
    return slot;
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

interface VariantEntry {
  stage: string;
  flag: string;
  variant: string;
  m: VersionMetrics;
}

/** Takes a request's status (0: not completed) and latency in ms. */
export type Recorder = (status: number, ms: number) => void;

const ignore: Recorder = () => {};

export class RouterMetrics {
  /** When this process began to count. */
  readonly startedAt = Date.now();
  private readonly byKey = new Map<string, { stage: string; version: string; m: VersionMetrics }>();
  /** stage → flag → variant: a report is looked up without building a key string. */
  private readonly byVariant = new Map<string, Map<string, Map<string, VariantEntry>>>();
  private variantCount = 0;
  private full = false;

  constructor(private readonly notice: (line: string) => void = () => {}) {}

  /** The counters of a flag's variant in a stage, made on first use; undefined past MAX_VARIANT_SERIES. */
  private variantMetrics(stage: string, flag: string, variant: string): VersionMetrics | undefined {
    let flags = this.byVariant.get(stage);
    if (!flags) this.byVariant.set(stage, (flags = new Map()));
    let variants = flags.get(flag);
    if (!variants) flags.set(flag, (variants = new Map()));
    let e = variants.get(variant);
    if (!e) {
      if (this.variantCount >= MAX_VARIANT_SERIES) {
        if (!this.full) this.notice(`metrics: ${MAX_VARIANT_SERIES} flag variants are counted already; ${stage}/${flag}/${variant} and later ones are not`);
        this.full = true;
        return undefined;
      }
      this.variantCount++;
      variants.set(variant, (e = { stage, flag, variant, m: new VersionMetrics() }));
    }
    return e.m;
  }

  /** The recorder of a flag's variant in a stage, for requests the router answered; the router keeps it with the stage's counted flags. */
  variantRecorder(stage: string, flag: string, variant: string): Recorder {
    const m = this.variantMetrics(stage, flag, variant);
    return m ? (status, ms) => m.record(status, ms, Date.now()) : ignore;
  }

  /** Records a provider's report of one flag variant's evaluations and errors, at the time it is received. */
  report(stage: string, flag: string, variant: string, evaluations: number, errors: number, nowMs = Date.now()): void {
    this.variantMetrics(stage, flag, variant)?.reported(evaluations, errors, nowMs);
  }

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

  /** A version's seconds, or a flag variant's when `version` is `variantSeries(flag, variant)`. */
  series(stage: string, version: string, fromSecond: number, toSecond: number): SecondSample[] {
    const v = parseVariantSeries(version);
    if (v) return this.byVariant.get(stage)?.get(v.flag)?.get(v.variant)?.m.series(fromSecond, toSecond) ?? [];
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
    this.variantFamilies(lines, esc);
    return `${lines.join('\n')}\n`;
  }

  /**
   * The flag-variant families, apart from the version ones (a variant's requests are also its version's requests):
   * requests by class (the router's status classes, and `evaluation` for what providers reported), errors as the
   * series counts them, and the latency of requests the router timed.
   */
  private variantFamilies(lines: string[], esc: (v: string) => string): void {
    const entries: VariantEntry[] = [];
    for (const flags of this.byVariant.values()) for (const variants of flags.values()) for (const e of variants.values()) entries.push(e);
    const label = (e: VariantEntry) => `stage="${esc(e.stage)}",flag="${esc(e.flag)}",variant="${esc(e.variant)}"`;
    lines.push('# HELP sluice_flag_variant_requests_total Requests to a stage the router counted for a flag variant (by status class), and evaluations providers reported (class="evaluation").');
    lines.push('# TYPE sluice_flag_variant_requests_total counter');
    for (const e of entries) {
      const l = label(e);
      STATUS_CLASSES.forEach((c, i) => {
        lines.push(`sluice_flag_variant_requests_total{${l},class="${c}"} ${e.m.classes[i]}`);
      });
      lines.push(`sluice_flag_variant_requests_total{${l},class="evaluation"} ${e.m.evaluations}`);
    }
    lines.push('# HELP sluice_flag_variant_errors_total Errors counted for a flag variant: 5xx and failed requests, and errors providers reported.');
    lines.push('# TYPE sluice_flag_variant_errors_total counter');
    for (const e of entries) lines.push(`sluice_flag_variant_errors_total{${label(e)}} ${e.m.classes[4]! + e.m.classes[5]! + e.m.reportedErrors}`);
    lines.push('# HELP sluice_flag_variant_request_duration_seconds Time from request to the end of the response, of requests the router counted for a flag variant.');
    lines.push('# TYPE sluice_flag_variant_request_duration_seconds histogram');
    for (const e of entries) {
      const l = label(e);
      LATENCY_BUCKETS.forEach((b, i) => {
        lines.push(`sluice_flag_variant_request_duration_seconds_bucket{${l},le="${b}"} ${e.m.buckets[i]}`);
      });
      lines.push(`sluice_flag_variant_request_duration_seconds_bucket{${l},le="+Inf"} ${e.m.count}`);
      lines.push(`sluice_flag_variant_request_duration_seconds_sum{${l}} ${e.m.sumSeconds}`);
      lines.push(`sluice_flag_variant_request_duration_seconds_count{${l}} ${e.m.count}`);
    }
  }
}
