import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { averageRanks, erfc, mannWhitney, normalCdf, normalQuantile } from './judge-stats.js';

interface RCase {
  name: string;
  canary: number[];
  baseline: number[];
  W: number;
  pValue: number;
  ci98: [number, number];
  ci95: [number, number];
  medianOfDifferences: number;
}
// Computed with R 4.2: wilcox.test(canary, baseline, conf.int = TRUE, exact = FALSE, correct = TRUE, tol.root = 1e-14)
// and median(outer(canary, baseline, "-")). See test/fixtures/README.md.
const R_CASES = JSON.parse(readFileSync(new URL('../../../test/fixtures/wilcox-r.json', import.meta.url), 'utf8')) as RCase[];

const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

describe('normal distribution', () => {
  // Values from R's pnorm and qnorm.
  it('Φ matches R to 1e-14 relative, far into the tails', () => {
    const cases: [number, number][] = [
      [-1, 1.5865525393145705e-1],
      [-3, 1.3498980316300946e-3],
      [-6, 9.8658764503769809e-10],
      [-8.5, 9.4795348222033192e-18],
      [0.3, 6.1791142218895267e-1],
      [2, 9.7724986805182079e-1],
      [0, 0.5],
    ];
    for (const [z, p] of cases) assert.ok(Math.abs(normalCdf(z) - p) <= 1e-14 * p, `Φ(${z}) = ${normalCdf(z)}, R says ${p}`);
    assert.equal(erfc(0), 1);
    assert.ok(Math.abs(erfc(2.5) - 4.069520174449590e-4) < 1e-18);
  });

  it('Φ⁻¹ matches R to 1e-12', () => {
    const cases: [number, number][] = [
      [0.99, 2.3263478740408408],
      [0.975, 1.9599639845400536],
      [0.01, -2.3263478740408408],
      [1e-10, -6.3613409024040557],
      [0.5, 0],
      [0.7, 0.52440051270804067],
    ];
    for (const [p, z] of cases) close(normalQuantile(p), z, 1e-12, `Φ⁻¹(${p})`);
    assert.equal(normalQuantile(0), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(normalQuantile(1.5)));
  });
});

describe('Mann-Whitney U with the Hodges-Lehmann interval', () => {
  it('ranks ties by their average', () => {
    assert.deepEqual(averageRanks([10, 20, 10, 30, 20, 20]), [1.5, 4, 1.5, 6, 4, 4]);
  });

  for (const c of R_CASES) {
    it(`matches R's wilcox.test to 1e-9: ${c.name}`, () => {
      const r98 = mannWhitney(c.canary, c.baseline, 0.98);
      const r95 = mannWhitney(c.canary, c.baseline, 0.95);
      assert.equal(r98.u, c.W);
      close(r98.pValue, c.pValue, 1e-9, 'p-value');
      close(r98.lower, c.ci98[0], 1e-9, '98% lower');
      close(r98.upper, c.ci98[1], 1e-9, '98% upper');
      close(r95.lower, c.ci95[0], 1e-9, '95% lower');
      close(r95.upper, c.ci95[1], 1e-9, '95% upper');
      close(r98.estimate, c.medianOfDifferences, 1e-12, 'estimate');
    });
  }

  it('a textbook example: Hollander & Wolfe (1973, p. 69), W = 35', () => {
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    const r = mannWhitney(x, y, 0.95);
    assert.equal(r.u, 35);
    close(r.estimate, 0.305, 1e-12, 'estimate');
  });

  // An independent reference: U by counting pairs, and each bound by scanning every pairwise difference with the
  // z statistic computed from pair counts (no ranks, no search).
  function reference(x: number[], y: number[], level: number) {
    let u = 0;
    for (const a of x) for (const b of y) u += a > b ? 1 : a === b ? 0.5 : 0;
    const m = x.length;
    const n = y.length;
    const N = m * n;
    const tie = (vs: number[]) => {
      const c = new Map<number, number>();
      for (const v of vs) c.set(v, (c.get(v) ?? 0) + 1);
      return [...c.values()].reduce((s, t) => s + t ** 3 - t, 0);
    };
    const sigma = Math.sqrt(((m * n) / 12) * (m + n + 1 - (tie(x) + tie(y)) / ((m + n) * (m + n - 1))));
    const zq = normalQuantile(1 - (1 - level) / 2);
    const diffs = x.flatMap((a) => y.map((b) => a - b)).sort((p, q) => p - q);
    const stat = (mu: number) => {
      let c = 0;
      for (const d of diffs) if (d > mu) c++;
      const dz = c - N / 2;
      return (dz - 0.5 * Math.sign(dz)) / sigma;
    };
    // Just above each difference the statistic takes its value for the next interval; a bound is the first
    // difference after which the statistic is at or below the quantile.
    const eps = 1e-9;
    const find = (q: number) => {
      if (stat(diffs[0]! - eps) - q <= 0) return diffs[0]!;
      for (const d of diffs) if (stat(d + eps) - q <= 0) return d;
      return diffs[N - 1]!;
    };
    return { u, lower: find(zq), upper: find(-zq), median: N % 2 ? diffs[(N - 1) / 2]! : (diffs[N / 2 - 1]! + diffs[N / 2]!) / 2 };
  }

  it('agrees with the brute-force reference on 300 random samples, with and without ties', () => {
    let seed = 99;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let t = 0; t < 300; t++) {
      const m = 1 + Math.floor(rand() * 25);
      const n = 1 + Math.floor(rand() * 25);
      const grid = rand() < 0.5; // integer grid: many ties
      const shift = (rand() - 0.5) * 10;
      const draw = (s: number) => (grid ? Math.floor(rand() * 8) + Math.round(s) : Math.round((rand() * 10 + s) * 1000) / 1000);
      const x = Array.from({ length: m }, () => draw(shift));
      const y = Array.from({ length: n }, () => draw(0));
      if (new Set([...x, ...y]).size === 1) continue;
      const ref = reference(x, y, 0.98);
      const got = mannWhitney(x, y, 0.98);
      const tieOnly = x.every((v) => v === x[0]) && y.every((v) => v === y[0]);
      assert.equal(got.u, ref.u, `U for ${JSON.stringify({ x, y })}`);
      assert.equal(got.estimate, ref.median);
      if (!tieOnly) {
        // Two differences that are equal but for floating-point rounding may stand in for each other.
        close(got.lower, ref.lower, 1e-12, `lower for ${JSON.stringify({ x, y })}`);
        close(got.upper, ref.upper, 1e-12, `upper for ${JSON.stringify({ x, y })}`);
      }
      assert.ok(got.lower <= got.estimate && got.estimate <= got.upper);
      assert.ok(got.pValue >= 0 && got.pValue <= 1);
    }
  });

  it('gives a point interval when each series is constant, and refuses empty series', () => {
    const r = mannWhitney([5, 5, 5], [3, 3], 0.98);
    assert.deepEqual([r.lower, r.estimate, r.upper], [2, 2, 2]);
    assert.throws(() => mannWhitney([], [1], 0.98), /at least one value/);
  });
});
