import { type MannWhitneyResult, mannWhitney } from './judge-stats.js';

/**
 * The canary judge: compares each metric of a canary with its baseline (Kayenta's semantics), scores the metrics by
 * group, and classifies the whole comparison. Also the threshold analysis (Argo Rollouts' semantics) used for plain
 * per-measurement checks. Pure: the same input gives the same verdict, with every figure behind it.
 */

/** Which change counts against the canary. */
export type Direction = 'increase' | 'decrease' | 'either';
/** What NaN means: `remove` drops it (an empty series is then Nodata); `replace` counts it as 0. */
export type NanStrategy = 'remove' | 'replace';

/**
 * A metric's classification:
 * - Pass: no significant difference in the direction that matters.
 * - High / Low: the canary is significantly higher / lower than the baseline.
 * - Nodata: a series is empty; it fails only when the metric must have data (NodataFail) or is critical.
 * - NodataFail: a series is empty and the metric must have data.
 */
export type MetricClassification = 'Pass' | 'High' | 'Low' | 'Nodata' | 'NodataFail';

/** The verdict on the comparison: Pass, Marginal (between the two thresholds) or Fail. */
export type JudgeVerdict = 'Pass' | 'Marginal' | 'Fail';

export interface EffectSize {
  /** The canary/baseline mean ratio at or above which a significant increase counts (default 1). */
  allowedIncrease?: number;
  /** The ratio at or below which a significant decrease counts (default 1). */
  allowedDecrease?: number;
  /** For critical metrics: the ratio from which a High fails the whole comparison (default: allowedIncrease). */
  criticalIncrease?: number;
  criticalDecrease?: number;
}

export interface MetricSpec {
  name: string;
  /** Metrics are scored in groups; default: the metric's own name. */
  group?: string;
  direction?: Direction;
  nanStrategy?: NanStrategy;
  /** A failing critical metric makes the score 0. */
  critical?: boolean;
  /** An empty series fails the metric instead of being left out. */
  mustHaveData?: boolean;
  effectSize?: EffectSize;
  /** Drop outliers by the IQR rule (outside Q1 − f·IQR … Q3 + f·IQR) before comparing. */
  outliers?: { remove: boolean; factor?: number };
}

export interface JudgeConfig {
  /** Default 0.98. */
  confidenceLevel?: number;
  /** A shift counts only if its interval clears tolerance × |estimate| (default 0.25). */
  tolerance?: number;
  /** Score thresholds (0-100); defaults pass 95, marginal 75. */
  passThreshold?: number;
  marginalThreshold?: number;
  /** Group weights summing to at most 100; groups without one share what is left equally. */
  groupWeights?: Record<string, number>;
}

export interface MetricInput extends MetricSpec {
  canary: readonly (number | null)[];
  baseline: readonly (number | null)[];
}

export interface SeriesSummary {
  count: number;
  mean: number | null;
  median: number | null;
  min: number | null;
  max: number | null;
}

export interface MetricResult {
  name: string;
  group: string;
  classification: MetricClassification;
  /** True when this metric alone fails the comparison. */
  criticalFailure: boolean;
  reason: string;
  /** Canary mean / baseline mean (1 when the baseline mean is 0 or a series is empty). */
  ratio: number;
  canary: SeriesSummary;
  baseline: SeriesSummary;
  /** The test behind a High, Low or Pass; absent when no test was needed (no data, identical series). */
  test?: MannWhitneyResult & { bounds: [number, number] };
}

export interface GroupScore {
  name: string;
  score: number;
  weight: number;
  noData: boolean;
  counts: Record<MetricClassification, number>;
}

export interface JudgeResult {
  verdict: JudgeVerdict;
  /** 0-100, two decimals. */
  score: number;
  reason: string;
  thresholds: { pass: number; marginal: number };
  groups: GroupScore[];
  metrics: MetricResult[];
}

const NODATA_SHARE_THAT_FAILS = 50;

function clean(values: readonly (number | null)[], nan: NanStrategy): number[] {
  const out: number[] = [];
  for (const v of values) {
    const ok = typeof v === 'number' && Number.isFinite(v);
    if (ok) out.push(v);
    else if (nan === 'replace') out.push(0);
  }
  return out;
}

/** The p-th percentile (0-100) by the (n + 1)p rule, with linear interpolation. */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (p / 100) * (n + 1);
  if (pos < 1) return sorted[0]!;
  if (pos >= n) return sorted[n - 1]!;
  const lo = Math.floor(pos);
  return sorted[lo - 1]! + (pos - lo) * (sorted[lo]! - sorted[lo - 1]!);
}

function removeOutliers(values: number[], factor: number): number[] {
  const s = [...values].sort((a, b) => a - b);
  const q1 = percentile(s, 25);
  const q3 = percentile(s, 75);
  const iqr = q3 - q1;
  return values.filter((v) => v >= q1 - factor * iqr && v <= q3 + factor * iqr);
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function summary(xs: readonly number[]): SeriesSummary {
  if (xs.length === 0) return { count: 0, mean: null, median: null, min: null, max: null };
  const s = [...xs].sort((a, b) => a - b);
  return { count: s.length, mean: mean(s), median: percentile(s, 50), min: s[0]!, max: s[s.length - 1]! };
}

/** Classifies one metric. */
export function classifyMetric(input: MetricInput, config: JudgeConfig = {}): MetricResult {
  const nan = input.nanStrategy ?? 'remove';
  const direction = input.direction ?? 'either';
  let canary = clean(input.canary, nan);
  let baseline = clean(input.baseline, nan);
  if (input.outliers?.remove) {
    canary = removeOutliers(canary, input.outliers.factor ?? 3);
    baseline = removeOutliers(baseline, input.outliers.factor ?? 3);
  }
  const base = {
    name: input.name,
    group: input.group ?? input.name,
    canary: summary(canary),
    baseline: summary(baseline),
  };
  const critical = input.critical ?? false;

  if (canary.length === 0 || baseline.length === 0) {
    const which = canary.length === 0 && baseline.length === 0 ? 'canary and baseline' : canary.length === 0 ? 'canary' : 'baseline';
    if (nan === 'replace') return { ...base, classification: 'Pass', criticalFailure: false, reason: `no ${which} data; counted as 0`, ratio: 1 };
    const reason = `no ${which} data`;
    if (input.mustHaveData && !critical) return { ...base, classification: 'NodataFail', criticalFailure: false, reason: `${reason}, and the metric must have data`, ratio: 1 };
    return { ...base, classification: 'Nodata', criticalFailure: critical, reason: critical ? `${reason} for a critical metric` : reason, ratio: 1 };
  }

  const baselineMean = mean(baseline);
  const ratio = baselineMean === 0 ? 1 : mean(canary) / baselineMean;
  const sortedC = [...canary].sort((a, b) => a - b);
  const sortedB = [...baseline].sort((a, b) => a - b);
  if (sortedC.length === sortedB.length && sortedC.every((v, i) => v === sortedB[i]))
    return { ...base, classification: 'Pass', criticalFailure: false, reason: 'canary and baseline data are identical', ratio: 1 };
  if (sortedC[0] === sortedC.at(-1) && sortedB[0] === sortedB.at(-1) && sortedC[0] === sortedB[0])
    return { ...base, classification: 'Pass', criticalFailure: false, reason: 'every value is the same', ratio: 1 };

  const t = mannWhitney(canary, baseline, config.confidenceLevel ?? 0.98);
  const critical_ = (config.tolerance ?? 0.25) * Math.abs(t.estimate);
  const bounds: [number, number] = [-critical_, critical_];
  const es = input.effectSize ?? {};
  const allowedIncrease = es.allowedIncrease ?? 1;
  const allowedDecrease = es.allowedDecrease ?? 1;
  const test = { ...t, bounds };
  const fmt = (x: number) => Number(x.toPrecision(6));
  const significant = (classification: 'High' | 'Low', isCritical: boolean): MetricResult => ({
    ...base,
    classification,
    criticalFailure: isCritical,
    reason: `canary is ${classification === 'High' ? 'higher' : 'lower'}: shift ${fmt(t.estimate)} (${Math.round(t.confidenceLevel * 100)}% interval ${fmt(t.lower)} … ${fmt(t.upper)}), mean ratio ${fmt(ratio)}${isCritical ? '; critical' : ''}`,
    ratio,
    test,
  });
  if ((direction === 'increase' || direction === 'either') && t.lower > bounds[1] && ratio >= allowedIncrease)
    return significant('High', critical && ratio >= (es.criticalIncrease ?? allowedIncrease));
  if ((direction === 'decrease' || direction === 'either') && t.upper < bounds[0] && ratio <= allowedDecrease)
    return significant('Low', critical && ratio <= (es.criticalDecrease ?? allowedDecrease));
  return { ...base, classification: 'Pass', criticalFailure: false, reason: `no significant ${direction === 'either' ? 'change' : direction}`, ratio, test };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Classifies every metric, scores them by group, and gives the verdict. */
export function judge(metrics: readonly MetricInput[], config: JudgeConfig = {}): JudgeResult {
  const pass = config.passThreshold ?? 95;
  const marginal = config.marginalThreshold ?? 75;
  const results = metrics.map((m) => classifyMetric(m, config));
  const names = [...new Set(results.map((r) => r.group))];
  // A Map, not the object: a group named `constructor` or `toString` is a group like any other.
  const weights = new Map(Object.entries(config.groupWeights ?? {}));
  const given = [...weights].filter(([g]) => names.includes(g));
  const givenSum = given.reduce((a, [, w]) => a + w, 0);
  const unweighted = names.filter((g) => !weights.has(g));
  const share = unweighted.length > 0 ? (100 - givenSum) / unweighted.length : 0;
  const groups: GroupScore[] = names.map((name) => {
    const counts: Record<MetricClassification, number> = { Pass: 0, High: 0, Low: 0, Nodata: 0, NodataFail: 0 };
    for (const r of results) if (r.group === name) counts[r.classification]++;
    const counted = counts.Pass + counts.High + counts.Low + counts.NodataFail;
    return { name, score: counted === 0 ? 0 : (counts.Pass / counted) * 100, weight: weights.get(name) ?? share, noData: counted === 0, counts };
  });
  const thresholds = { pass, marginal };
  const verdictOf = (score: number): JudgeVerdict => (score >= pass ? 'Pass' : score >= marginal ? 'Marginal' : 'Fail');

  const criticalFailure = results.find((r) => r.criticalFailure);
  if (criticalFailure) return { verdict: 'Fail', score: 0, reason: `critical metric ${criticalFailure.name} failed: ${criticalFailure.reason}`, thresholds, groups, metrics: results };
  const nodata = results.filter((r) => r.classification === 'Nodata').length;
  if (results.length === 0 || (nodata / results.length) * 100 >= NODATA_SHARE_THAT_FAILS)
    return {
      verdict: 'Fail',
      score: 0,
      reason: results.length === 0 ? 'no metrics to judge' : `${nodata} of ${results.length} metrics had no data (${NODATA_SHARE_THAT_FAILS}% or more fails the comparison)`,
      thresholds,
      groups,
      metrics: results,
    };
  // A group with no data counts as passing, so that its weight does not drag the score down.
  const score = round2(groups.reduce((acc, g) => acc + (g.noData ? 100 : g.score) * (g.weight / 100), 0));
  const failing = results.filter((r) => r.classification !== 'Pass' && r.classification !== 'Nodata');
  const verdict = verdictOf(score);
  return {
    verdict,
    score,
    reason: failing.length === 0 ? `every metric passed (score ${score})` : `score ${score}; ${failing.map((r) => `${r.name} ${r.classification}`).join(', ')}`,
    thresholds,
    groups,
    metrics: results,
  };
}

/**
 * Outcomes of a threshold analysis:
 * - Successful: no limit was exceeded.
 * - Failed: more failed measurements than failureLimit.
 * - Inconclusive: more inconclusive measurements (no data, unless empty counts as failure) than inconclusiveLimit; or
 *   no value measured at all (none taken, or only query errors and measurements without data, within their limits).
 * - Error: more consecutive query errors than consecutiveErrorLimit.
 */
export type ThresholdOutcome = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** One measurement: a value, no data (null or NaN), or a query error. */
export type Measurement = number | null | { error: string };

export interface ThresholdSpec {
  name: string;
  /** The measurement passes when it is ≥ min and ≤ max. */
  min?: number;
  max?: number;
  /** Default 0: the first failed measurement fails the metric. */
  failureLimit?: number;
  /** Default 0. */
  inconclusiveLimit?: number;
  /** Default 4: the fifth consecutive error fails the metric. */
  consecutiveErrorLimit?: number;
  /** What a measurement with no data counts as (default inconclusive; it never passes). */
  onEmpty?: 'inconclusive' | 'fail';
  /**
   * Of the first `warmup` measurements, those with no data that come before the first value are not counted at all
   * (default 0): a new version's series may take a few scrapes to appear. From the first value on, or once the warm-up
   * has passed, no data counts as `onEmpty` says. Values and errors always count. The analysis sets it from how long
   * its metrics provider may take to show a new series (see analysis-runner.ts).
   */
  warmup?: number;
}

export interface ThresholdResult {
  name: string;
  outcome: ThresholdOutcome;
  reason: string;
  /** `warmup`: measurements with no data that the warm-up left out. */
  counts: { successful: number; failed: number; inconclusive: number; errors: number; consecutiveErrors: number; warmup: number };
}

const isEmpty = (m: Measurement): m is null => m === null || (typeof m === 'number' && Number.isNaN(m));

/** Evaluates the measurements taken so far: Successful means no limit has been exceeded. */
export function evaluateThreshold(spec: ThresholdSpec, measurements: readonly Measurement[]): ThresholdResult {
  const counts = { successful: 0, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0, warmup: 0 };
  const failureLimit = spec.failureLimit ?? 0;
  const inconclusiveLimit = spec.inconclusiveLimit ?? 0;
  const errorLimit = spec.consecutiveErrorLimit ?? 4;
  const warmup = spec.warmup ?? 0;
  let sawValue = false;
  for (const [i, m] of measurements.entries()) {
    if (m !== null && typeof m === 'object') {
      counts.errors++;
      counts.consecutiveErrors++;
      if (counts.consecutiveErrors > errorLimit)
        return { name: spec.name, outcome: 'Error', reason: `${counts.consecutiveErrors} consecutive query errors (limit ${errorLimit}); last: ${m.error}`, counts };
      continue;
    }
    counts.consecutiveErrors = 0;
    if (isEmpty(m)) {
      if (!sawValue && i < warmup) counts.warmup++;
      else if (spec.onEmpty === 'fail') counts.failed++;
      else counts.inconclusive++;
      continue;
    }
    sawValue = true;
    if ((spec.min !== undefined && m < spec.min) || (spec.max !== undefined && m > spec.max)) counts.failed++;
    else counts.successful++;
  }
  if (counts.failed > failureLimit) return { name: spec.name, outcome: 'Failed', reason: `${counts.failed} failed measurement(s) (limit ${failureLimit})`, counts };
  if (counts.inconclusive > inconclusiveLimit)
    return { name: spec.name, outcome: 'Inconclusive', reason: `${counts.inconclusive} measurement(s) with no data (limit ${inconclusiveLimit})`, counts };
  // What the warm-up left out is not a pass either: with no value at all, the threshold cannot say yet.
  if (!sawValue && counts.warmup > 0)
    return { name: spec.name, outcome: 'Inconclusive', reason: `no data yet: ${counts.warmup} measurement(s) without data in the warm-up (${warmup})`, counts };
  // Nothing measured is nothing shown: a threshold passes only on values.
  if (counts.successful + counts.failed === 0)
    return { name: spec.name, outcome: 'Inconclusive', reason: counts.errors > 0 ? `no measurement yet, only ${counts.errors} query error(s)` : 'no measurements', counts };
  const excused = counts.warmup > 0 ? `; ${counts.warmup} without data in the warm-up left out` : '';
  return { name: spec.name, outcome: 'Successful', reason: `${counts.successful} measurement(s) within bounds${excused}`, counts };
}
