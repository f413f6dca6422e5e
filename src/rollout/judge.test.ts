import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyMetric, evaluateThreshold, judge, type Measurement, type MetricInput, percentile } from './judge.js';

const seq = (from: number, n: number, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);
// Two clearly separated series: the canary is ~50% higher.
const base = seq(100, 40, 0.5);
const high = seq(150, 40, 0.5);
const low = seq(50, 40, 0.5);
const metric = (over: Partial<MetricInput>): MetricInput => ({ name: 'latency', canary: high, baseline: base, ...over });

describe('classifyMetric', () => {
  it('High when the canary is significantly higher, with the statistics behind it', () => {
    const r = classifyMetric(metric({}));
    assert.equal(r.classification, 'High');
    assert.ok(r.test && r.test.lower > r.test.bounds[1]);
    assert.equal(r.test!.estimate, 50);
    assert.ok(Math.abs(r.ratio - high.reduce((a, b) => a + b) / base.reduce((a, b) => a + b)) < 1e-12);
    assert.match(r.reason, /canary is higher: shift 50 \(98% interval/);
    assert.equal(r.canary.count, 40);
    assert.equal(r.baseline.median, percentile(base, 50));
  });

  it('direction decides which change fails', () => {
    assert.equal(classifyMetric(metric({ direction: 'decrease' })).classification, 'Pass');
    assert.equal(classifyMetric(metric({ direction: 'increase' })).classification, 'High');
    assert.equal(classifyMetric(metric({ canary: low, direction: 'decrease' })).classification, 'Low');
    assert.equal(classifyMetric(metric({ canary: low, direction: 'increase' })).classification, 'Pass');
    assert.equal(classifyMetric(metric({ canary: low })).classification, 'Low');
  });

  it('effect size: a significant but small change passes below the allowed ratio', () => {
    const slightly = base.map((v) => v * 1.05);
    assert.equal(classifyMetric(metric({ canary: slightly })).classification, 'High');
    assert.equal(classifyMetric(metric({ canary: slightly, effectSize: { allowedIncrease: 1.1 } })).classification, 'Pass');
    assert.equal(classifyMetric(metric({ canary: slightly, effectSize: { allowedIncrease: 1.04 } })).classification, 'High');
    const lower = base.map((v) => v * 0.95);
    assert.equal(classifyMetric(metric({ canary: lower, effectSize: { allowedDecrease: 0.9 } })).classification, 'Pass');
  });

  it('no significant change passes: overlapping noisy series', () => {
    const a = [101, 99, 100, 102, 98, 100, 101, 99, 103, 97];
    const b = [100, 100, 99, 101, 102, 98, 100, 99, 101, 100];
    const r = classifyMetric(metric({ canary: a, baseline: b }));
    assert.equal(r.classification, 'Pass');
    assert.ok(r.test && r.test.lower <= r.test.bounds[1]);
  });

  it('ties: identical series pass without a test; one value everywhere passes', () => {
    const same = classifyMetric(metric({ canary: [3, 1, 2, 2], baseline: [2, 2, 1, 3] }));
    assert.equal(same.classification, 'Pass');
    assert.equal(same.reason, 'canary and baseline data are identical');
    assert.equal(same.test, undefined);
    const flat = classifyMetric(metric({ canary: [7, 7, 7], baseline: [7, 7] }));
    assert.equal(flat.classification, 'Pass');
    assert.equal(flat.reason, 'every value is the same');
  });

  it('all-equal within each series but different between them is a real shift', () => {
    const r = classifyMetric(metric({ canary: [5, 5, 5, 5], baseline: [3, 3, 3, 3] }));
    assert.equal(r.classification, 'High');
    assert.deepEqual([r.test!.lower, r.test!.estimate, r.test!.upper], [2, 2, 2]);
  });

  it('heavy ties: tested like R and Kayenta; an interval touching 0 is not a significant shift', () => {
    // R: wilcox.test gives estimate -1, 98% interval [-1, 0], p ≈ 9.06e-6.
    const c = [...Array(30).fill(1), ...Array(10).fill(2)];
    const b = [...Array(10).fill(1), ...Array(30).fill(2)];
    const r = classifyMetric(metric({ canary: c, baseline: b }));
    assert.deepEqual([r.test!.lower, r.test!.estimate, r.test!.upper], [-1, -1, 0]);
    assert.ok(Math.abs(r.test!.pValue - 9.057028e-6) < 1e-11);
    assert.equal(r.classification, 'Pass');
  });

  it('empty series: Nodata by default, NodataFail when data is required, critical Nodata fails the comparison', () => {
    const nodata = classifyMetric(metric({ canary: [] }));
    assert.equal(nodata.classification, 'Nodata');
    assert.equal(nodata.reason, 'no canary data');
    assert.equal(nodata.criticalFailure, false);
    assert.equal(classifyMetric(metric({ baseline: [], mustHaveData: true })).classification, 'NodataFail');
    const crit = classifyMetric(metric({ canary: [], baseline: [], critical: true, mustHaveData: true }));
    assert.equal(crit.classification, 'Nodata');
    assert.equal(crit.criticalFailure, true);
    assert.equal(crit.reason, 'no canary and baseline data for a critical metric');
  });

  it('NaN under remove is dropped (all-NaN is Nodata); under replace it counts as 0', () => {
    const withNaN = [...high.slice(0, 30), Number.NaN, null, Number.POSITIVE_INFINITY];
    const removed = classifyMetric(metric({ canary: withNaN }));
    assert.equal(removed.canary.count, 30);
    assert.equal(removed.classification, 'High');
    assert.equal(classifyMetric(metric({ canary: [Number.NaN, null] })).classification, 'Nodata');
    const replaced = classifyMetric(metric({ canary: [Number.NaN, null], nanStrategy: 'replace' }));
    assert.equal(replaced.canary.count, 2);
    assert.equal(replaced.canary.mean, 0);
    assert.equal(replaced.classification, 'Low');
    assert.equal(classifyMetric(metric({ canary: [], nanStrategy: 'replace' })).classification, 'Pass');
  });

  it('outliers: the IQR rule drops a spike that would otherwise fail the canary', () => {
    const c = [...base.slice(0, 39), 1e9];
    const spiky = classifyMetric(metric({ canary: c.map((v) => v + 0), baseline: base, direction: 'increase' }));
    assert.equal(spiky.canary.max, 1e9);
    const cleaned = classifyMetric(metric({ canary: c, baseline: base, outliers: { remove: true } }));
    assert.equal(cleaned.canary.count, 39);
    assert.equal(cleaned.canary.max, base[38]);
  });

  it('critical: only a failure at or past the critical ratio is critical', () => {
    const slightly = base.map((v) => v * 1.05);
    const notCritical = classifyMetric(metric({ canary: slightly, critical: true, effectSize: { criticalIncrease: 1.2 } }));
    assert.equal(notCritical.classification, 'High');
    assert.equal(notCritical.criticalFailure, false);
    assert.equal(classifyMetric(metric({ critical: true })).criticalFailure, true);
  });
});

describe('judge: scores and verdicts', () => {
  const pass = (name: string, group?: string): MetricInput => ({ name, ...(group ? { group } : {}), canary: base, baseline: base });
  const fail = (name: string, group?: string): MetricInput => ({ name, ...(group ? { group } : {}), canary: high, baseline: base });

  it('all pass: 100 and Pass', () => {
    const r = judge([pass('a'), pass('b')]);
    assert.equal(r.score, 100);
    assert.equal(r.verdict, 'Pass');
  });

  it('groups share weight equally, and the score is the weighted pass share', () => {
    const r = judge([pass('a', 'errors'), fail('b', 'errors'), pass('c', 'latency'), pass('d', 'latency')]);
    assert.deepEqual(
      r.groups.map((g) => [g.name, g.score, g.weight]),
      [
        ['errors', 50, 50],
        ['latency', 100, 50],
      ],
    );
    assert.equal(r.score, 75);
    assert.equal(r.verdict, 'Marginal');
    assert.match(r.reason, /score 75; b High/);
  });

  it('given weights apply, the rest is shared, and thresholds classify', () => {
    const metrics = [fail('a', 'errors'), pass('b', 'latency'), pass('c', 'saturation')];
    const r = judge(metrics, { groupWeights: { errors: 10 } });
    assert.deepEqual(
      r.groups.map((g) => g.weight),
      [10, 45, 45],
    );
    assert.equal(r.score, 90);
    assert.equal(r.verdict, 'Marginal');
    assert.equal(judge(metrics, { groupWeights: { errors: 10 }, passThreshold: 90 }).verdict, 'Pass');
    assert.equal(judge(metrics, { groupWeights: { errors: 30 }, marginalThreshold: 80 }).verdict, 'Fail');
  });

  it('a group named after an Object property (constructor, toString, __proto__) is a group like any other', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const metrics = [fail('a', name), pass('b', 'latency'), pass('c', 'saturation')];
      const r = judge(metrics);
      assert.deepEqual(r.groups.map((g) => [g.name, g.weight]), [[name, 100 / 3], ['latency', 100 / 3], ['saturation', 100 / 3]], name);
      assert.equal(r.score, 66.67, name);
      const weighted = judge(metrics, { groupWeights: JSON.parse(`{"${name}": 10}`) as Record<string, number> });
      assert.deepEqual(weighted.groups.map((g) => g.weight), [10, 45, 45], name);
      assert.equal(weighted.score, 90, name);
    }
  });

  it('a failed critical metric makes the score 0 whatever the rest', () => {
    const r = judge([{ ...fail('errors'), critical: true }, pass('b'), pass('c'), pass('d')]);
    assert.equal(r.score, 0);
    assert.equal(r.verdict, 'Fail');
    assert.match(r.reason, /critical metric errors failed/);
  });

  it('half or more of the metrics without data fails; a group with no data counts as passing otherwise', () => {
    const half = judge([pass('a'), { ...pass('b'), canary: [] }]);
    assert.equal(half.score, 0);
    assert.match(half.reason, /1 of 2 metrics had no data/);
    const third = judge([pass('a', 'g1'), pass('b', 'g1'), { ...pass('c', 'g2'), canary: [] }]);
    assert.equal(third.groups.find((g) => g.name === 'g2')!.noData, true);
    assert.equal(third.score, 100);
    const required = judge([pass('a', 'g1'), pass('b', 'g1'), { ...pass('c', 'g2'), canary: [], mustHaveData: true }]);
    assert.equal(required.score, 50);
  });

  it('no metrics fails', () => {
    assert.equal(judge([]).verdict, 'Fail');
  });
});

describe('threshold analysis (failureLimit, inconclusiveLimit, consecutiveErrorLimit)', () => {
  const spec = { name: 'error-rate', max: 0.01 };
  it('the first failure fails by default; failureLimit allows some', () => {
    assert.equal(evaluateThreshold(spec, [0.001, 0.002]).outcome, 'Successful');
    assert.equal(evaluateThreshold(spec, [0.001, 0.05]).outcome, 'Failed');
    assert.equal(evaluateThreshold({ ...spec, failureLimit: 1 }, [0.05, 0.001]).outcome, 'Successful');
    assert.equal(evaluateThreshold({ ...spec, failureLimit: 1 }, [0.05, 0.06]).outcome, 'Failed');
    assert.equal(evaluateThreshold({ name: 'rps', min: 10 }, [9]).outcome, 'Failed');
  });

  it('no measurements at all are inconclusive, never a pass', () => {
    for (const limits of [{}, { inconclusiveLimit: 5 }, { failureLimit: 3 }, { inconclusiveLimit: 2, warmup: 3 }]) {
      const r = evaluateThreshold({ ...spec, ...limits }, []);
      assert.equal(r.outcome, 'Inconclusive', JSON.stringify(limits));
      assert.equal(r.reason, 'no measurements');
    }
    assert.equal(evaluateThreshold({ ...spec, inconclusiveLimit: 2 }, [null, null]).outcome, 'Inconclusive', 'no data within the limit is no value either');
    assert.equal(evaluateThreshold({ ...spec, failureLimit: 1 }, [0.5]).outcome, 'Successful', 'a failed value within failureLimit is a value');
  });

  it('no data is inconclusive, never a pass, unless configured to fail', () => {
    const r = evaluateThreshold(spec, [0.001, null, Number.NaN]);
    assert.equal(r.outcome, 'Inconclusive');
    assert.equal(r.counts.inconclusive, 2);
    assert.equal(evaluateThreshold({ ...spec, inconclusiveLimit: 2 }, [0.001, null, Number.NaN]).outcome, 'Successful');
    assert.equal(evaluateThreshold({ ...spec, onEmpty: 'fail' }, [null]).outcome, 'Failed');
  });

  it('the fifth consecutive error fails; a good measurement resets the count', () => {
    const e = { error: 'connection refused' };
    const four = evaluateThreshold(spec, [e, e, e, e]);
    assert.equal(four.outcome, 'Inconclusive', 'errors below the limit are no error, and no value either');
    assert.match(four.reason, /no measurement yet, only 4 query error\(s\)/);
    const five = evaluateThreshold(spec, [e, e, e, e, e]);
    assert.equal(five.outcome, 'Error');
    assert.match(five.reason, /5 consecutive query errors \(limit 4\); last: connection refused/);
    assert.equal(evaluateThreshold(spec, [e, e, e, e, 0.001, e, e, e, e]).outcome, 'Successful');
    assert.equal(evaluateThreshold({ ...spec, consecutiveErrorLimit: 0 }, [e]).outcome, 'Error');
  });
});

describe("threshold warm-up: a new version's first measurements without data", () => {
  const spec = { name: 'error-rate', max: 0.01, warmup: 4 };
  const e = { error: 'timeout' };

  it('before data arrives: empty measurements are not counted, and the threshold cannot pass yet', () => {
    const r = evaluateThreshold(spec, [null, Number.NaN]);
    assert.equal(r.outcome, 'Inconclusive');
    assert.match(r.reason, /no data yet: 2 measurement\(s\) without data in the warm-up \(4\)/);
    assert.deepEqual([r.counts.warmup, r.counts.inconclusive], [2, 0]);
    // The same measurements without a warm-up: counted against inconclusiveLimit, as before.
    const without = evaluateThreshold({ ...spec, warmup: 0 }, [null, Number.NaN]);
    assert.deepEqual([without.outcome, without.counts.warmup, without.counts.inconclusive], ['Inconclusive', 0, 2]);
    assert.equal(evaluateThreshold({ name: 'x', max: 1 }, [null]).counts.inconclusive, 1, 'no warm-up by default');
  });

  it('once data arrives within the warm-up, the empty measurements before it are left out', () => {
    const r = evaluateThreshold(spec, [null, null, null, 0.001, 0.002]);
    assert.equal(r.outcome, 'Successful');
    assert.deepEqual([r.counts.warmup, r.counts.inconclusive, r.counts.successful], [3, 0, 2]);
    assert.match(r.reason, /2 measurement\(s\) within bounds; 3 without data in the warm-up left out/);
    assert.equal(evaluateThreshold({ ...spec, warmup: 0 }, [null, null, null, 0.001, 0.002]).outcome, 'Inconclusive');
  });

  it('after the first value, no data counts as before, even within the warm-up', () => {
    const r = evaluateThreshold(spec, [null, 0.001, null]);
    assert.deepEqual([r.outcome, r.counts.warmup, r.counts.inconclusive], ['Inconclusive', 1, 1]);
    assert.equal(evaluateThreshold({ ...spec, inconclusiveLimit: 1 }, [null, 0.001, null]).outcome, 'Successful');
  });

  it('once the warm-up is spent, no data counts as before', () => {
    const spent = evaluateThreshold(spec, [null, null, null, null, null]);
    assert.deepEqual([spent.outcome, spent.counts.warmup, spent.counts.inconclusive], ['Inconclusive', 4, 1]);
    assert.match(spent.reason, /1 measurement\(s\) with no data \(limit 0\)/);
    assert.equal(evaluateThreshold(spec, [null, null, null, null, 0.001]).outcome, 'Successful', 'data in the last measurement of the warm-up');
    assert.equal(evaluateThreshold(spec, [null, null, null, null, null, 0.001]).outcome, 'Inconclusive', 'data one measurement too late');
    assert.equal(evaluateThreshold({ ...spec, inconclusiveLimit: 1 }, [null, null, null, null, null, 0.001]).outcome, 'Successful');
  });

  it('failed values always count, in the warm-up or after it', () => {
    assert.equal(evaluateThreshold(spec, [0.5]).outcome, 'Failed');
    assert.equal(evaluateThreshold(spec, [null, 0.5]).outcome, 'Failed');
    const r = evaluateThreshold({ ...spec, failureLimit: 1 }, [null, 0.5, null]);
    assert.deepEqual([r.outcome, r.counts.failed, r.counts.warmup, r.counts.inconclusive], ['Inconclusive', 1, 1, 1]);
    assert.equal(evaluateThreshold({ ...spec, failureLimit: 1 }, [null, 0.5, 0.6]).outcome, 'Failed');
  });

  it('with onEmpty: fail, the warm-up excuses the same measurements, and no more', () => {
    const s = { ...spec, onEmpty: 'fail' as const, warmup: 2 };
    assert.equal(evaluateThreshold(s, [null, null, 0.001]).outcome, 'Successful');
    const late = evaluateThreshold(s, [null, null, null, 0.001]);
    assert.deepEqual([late.outcome, late.counts.failed, late.counts.warmup], ['Failed', 1, 2]);
    assert.equal(evaluateThreshold(s, [null]).outcome, 'Inconclusive', 'no data yet is not a failure');
  });

  it('errors count as errors and take their place in the warm-up', () => {
    assert.equal(evaluateThreshold({ ...spec, warmup: 2 }, [e, null, 0.001]).outcome, 'Successful');
    const r = evaluateThreshold({ ...spec, warmup: 2 }, [e, e, null, 0.001]);
    assert.deepEqual([r.outcome, r.counts.errors, r.counts.warmup, r.counts.inconclusive], ['Inconclusive', 2, 0, 1]);
    assert.equal(evaluateThreshold({ ...spec, warmup: 10 }, [e, e, e, e, e]).outcome, 'Error');
    assert.equal(evaluateThreshold(spec, [e, e]).outcome, 'Inconclusive', 'errors alone are no value: they never pass');
  });

  it('over every sequence of 6 measurements and warm-ups 0-7, exactly the empties before the first value and within the warm-up are left out', () => {
    const alphabet: Measurement[] = [null, 0.001, 0.5, e];
    let sequences: Measurement[][] = [[]];
    for (let n = 0; n < 6; n++) sequences = [...sequences, ...sequences.filter((s) => s.length === n).flatMap((s) => alphabet.map((m) => [...s, m]))];
    for (const seq of sequences)
      for (let warmup = 0; warmup <= 7; warmup++) {
        const r = evaluateThreshold({ ...spec, failureLimit: 2, inconclusiveLimit: 1, warmup }, seq);
        const firstValue = seq.findIndex((m) => typeof m === 'number');
        const excused = seq.filter((m, i) => m === null && i < warmup && (firstValue < 0 || i < firstValue)).length;
        const counted = seq.filter((m, i) => !(m === null && i < warmup && (firstValue < 0 || i < firstValue)));
        // An excused measurement is still a query that answered, so it ends a run of errors as it always did.
        let run = 0;
        let errorRun = 0;
        for (const m of seq) {
          run = m !== null && typeof m === 'object' ? run + 1 : 0;
          errorRun = Math.max(errorRun, run);
        }
        const plain = evaluateThreshold({ ...spec, failureLimit: 2, inconclusiveLimit: 1, consecutiveErrorLimit: 100, warmup: 0 }, counted);
        const label = `${JSON.stringify(seq)} warmup ${warmup}`;
        if (errorRun > 4) {
          assert.equal(r.outcome, 'Error', label);
          continue;
        }
        assert.equal(r.counts.warmup, excused, label);
        if (excused > 0 && firstValue < 0 && plain.outcome === 'Successful') assert.equal(r.outcome, 'Inconclusive', `${label}: no data at all never passes`);
        else assert.equal(r.outcome, plain.outcome, `${label}: the same as without the excused measurements`);
      }
  });
});
