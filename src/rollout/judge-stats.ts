/**
 * Statistics for the canary judge: the normal distribution, average ranks, and the two-sample Mann-Whitney U test
 * with the Hodges-Lehmann estimate and the asymptotic confidence interval that Kayenta computes (R's wilcox.test with
 * exact = FALSE and correct = TRUE). Pure functions of their inputs.
 */

const SQRT2 = Math.SQRT2;
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/** The complementary error function, to about 1e-15 relative accuracy. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 0.8) {
    // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): every term is positive, so nothing cancels.
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - 2 * INV_SQRT_PI * Math.exp(-x * x) * sum;
  }
  // Continued fraction: erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail.
  let k = x;
  for (let n = 400; n >= 1; n--) k = x + n / 2 / k;
  return (INV_SQRT_PI * Math.exp(-x * x)) / k;
}

/** Φ(z), the standard normal distribution function. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / SQRT2);
}

/** Φ⁻¹(p): Acklam's rational approximation, then two Halley steps on Φ, which bring it to machine precision. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lowTail = 0.02425;
  let x: number;
  if (p < lowTail) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - lowTail) {
    const q = p - 0.5;
    const r = q * q;
    const num = (((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q;
    x = num / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  for (let i = 0; i < 2; i++) {
    // Work in the smaller tail, where Φ is computed without cancellation.
    const e = x <= 0 ? normalCdf(x) - p : 1 - p - normalCdf(-x);
    const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
    x = x - u / (1 + (x * u) / 2);
  }
  return x;
}

/** Ranks (1-based) with ties given the average of the ranks they span. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = avg;
    i = j + 1;
  }
  return ranks;
}

/** Σ(t³ − t) over groups of tied values. */
function tieSum(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let s = 0;
  for (const t of counts.values()) s += t * t * t - t;
  return s;
}

export interface MannWhitneyResult {
  /** W: the rank sum of the canary minus m(m+1)/2, i.e. the number of (canary, baseline) pairs with canary > baseline, ties counting ½. */
  u: number;
  /** Two-sided p-value, normal approximation with tie and continuity corrections. */
  pValue: number;
  /** Hodges-Lehmann estimate of the location shift canary − baseline: the median of all pairwise differences. */
  estimate: number;
  /** Confidence interval for the shift at `confidenceLevel`. */
  lower: number;
  upper: number;
  confidenceLevel: number;
}

/** The largest number of pairwise differences the judge sorts (two series of about 4,500 points each). */
export const MAX_PAIRS = 20_000_000;

/**
 * Mann-Whitney U test of canary against baseline. Both series must be non-empty, finite, and not all one value.
 *
 * The interval is the asymptotic one: its bounds are where the continuity-corrected, tie-corrected z statistic of
 * the shifted samples crosses ±z(1−α/2). That statistic only changes at pairwise differences, so each bound is
 * one of them, found exactly rather than by numerical root finding.
 */
export function mannWhitney(canary: readonly number[], baseline: readonly number[], confidenceLevel: number): MannWhitneyResult {
  const m = canary.length;
  const n = baseline.length;
  const N = m * n;
  if (m === 0 || n === 0) throw new RangeError('both series need at least one value');
  if (N > MAX_PAIRS) throw new RangeError(`${m} × ${n} values are too many to compare; downsample to at most ${MAX_PAIRS} pairs`);

  const all = [...canary, ...baseline];
  const ranks = averageRanks(all);
  let rankSum = 0;
  for (let i = 0; i < m; i++) rankSum += ranks[i]!;
  const u = rankSum - (m * (m + 1)) / 2;
  const tieTerm = (ties: number) => Math.sqrt(((m * n) / 12) * (m + n + 1 - ties / ((m + n) * (m + n - 1))));
  const sigma0 = tieTerm(tieSum(all));
  const dz0 = u - N / 2;
  const z = sigma0 === 0 ? 0 : (dz0 - 0.5 * Math.sign(dz0)) / sigma0;
  const pValue = Math.min(1, 2 * Math.min(normalCdf(z), normalCdf(-z)));

  const diffs = new Float64Array(N);
  let k = 0;
  for (const x of canary) for (const y of baseline) diffs[k++] = x - y;
  diffs.sort();
  const estimate = N % 2 === 1 ? diffs[(N - 1) / 2]! : (diffs[N / 2 - 1]! + diffs[N / 2]!) / 2;

  // Away from the pairwise differences only ties inside each series remain, and they do not move with the shift.
  const sigma = tieTerm(tieSum(canary) + tieSum(baseline));
  const zq = normalQuantile(1 - (1 - confidenceLevel) / 2);
  // F(c): the statistic when c pairs have canary − shift > baseline; it grows with c.
  const F = (c: number, q: number) => {
    const dz = c - N / 2;
    return (dz - 0.5 * Math.sign(dz)) / sigma - q;
  };
  // The bound for quantile q is the smallest shift at which F ≤ 0: the (N − c₀)-th smallest difference,
  // where c₀ is the largest count with F(c₀) ≤ 0.
  const bound = (q: number) => {
    if (F(0, q) > 0) return diffs[N - 1]!;
    let lo = 0;
    let hi = N;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (F(mid, q) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const rank = N - lo;
    return rank === 0 ? diffs[0]! : diffs[rank - 1]!;
  };
  const lower = sigma === 0 ? estimate : bound(zq);
  const upper = sigma === 0 ? estimate : bound(-zq);
  return { u, pValue, estimate, lower, upper, confidenceLevel };
}
