import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnalysisOutcome, runAnalysis, warmupBudget } from './analysis-runner.js';
import { judgeRequestSchema, runJudgeRequest } from './judge-request.js';
import { inThreadJudge, type JudgeRunner } from './ports/judge-runner.js';
import type { MetricQuery, MetricsProvider } from './ports/metrics-provider.js';
import type { AnalysisPlan } from './rollout-plan.js';

const START = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A provider that answers `values` in turn (then no data), and shows a new series after `warmupMs` when given. */
function fakeProvider(values: (number | null)[], warmupMs?: number) {
  const asked: MetricQuery[] = [];
  const provider: MetricsProvider = {
    async measure(_m, q) {
      asked.push(q);
      return values[asked.length - 1] ?? null;
    },
    async series() {
      return [];
    },
    ...(warmupMs !== undefined ? { warmupMs: () => warmupMs } : {}),
  };
  return { provider, asked };
}

const plan = (count: number, intervalMs = 1000): AnalysisPlan => ({
  name: 'errors',
  intervalMs,
  count,
  thresholds: [{ name: 'error-rate', metric: { prometheus: 'sum(rate(x[{{window}}]))' }, max: 0.05 }],
  compare: [],
  judge: {},
});

/** Runs an analysis on a clock that moves when the runner waits, so no test sleeps. */
async function run(provider: MetricsProvider, a: AnalysisPlan, judge?: JudgeRunner): Promise<{ out: AnalysisOutcome; logs: string[] }> {
  let t = START;
  const logs: string[] = [];
  const out = await runAnalysis(provider, a, {
    stage: 'prod',
    canary: '2.0.0',
    baseline: '1.0.0',
    startedAt: START,
    background: false,
    signal: new AbortController().signal,
    log: (l) => logs.push(l),
    ...(judge ? { judge } : {}),
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
  });
  return { out, logs };
}

describe('analysis warm-up', () => {
  it('the budget covers the time the provider may take to show a new series, in whole intervals', () => {
    assert.equal(warmupBudget(4000, 1000), 4, 'Prometheus scraping every second, 1 s interval');
    assert.equal(warmupBudget(4000, 3000), 2);
    assert.equal(warmupBudget(60_000, 5000), 12, "Prometheus' default 15 s scrape, 5 s interval");
    assert.equal(warmupBudget(60_000, 60_000), 1);
    assert.equal(warmupBudget(60_000, 120_000), 1, 'a first measurement is always forgiven when there is any delay');
    assert.equal(warmupBudget(0, 1000), 0, 'the router counters show a new version at once');
  });

  it("a new version's first empty windows do not pause it, and the recorded request replays to the same verdict", async () => {
    const { provider, asked } = fakeProvider([null, null, 0.01, 0.02, 0.01, 0.01], 4000);
    const { out, logs } = await run(provider, plan(6));
    assert.equal(out.ok, true);
    assert.equal(out.inconclusive, undefined, out.reason);
    assert.deepEqual(
      asked.map((q) => [q.fromMs - START, q.toMs - START]),
      [[0, 1000], [1000, 2000], [2000, 3000], [3000, 4000], [4000, 5000], [5000, 6000]],
      'windows aligned to the step start',
    );
    const threshold = out.detail!.request.thresholds![0]!;
    assert.equal(threshold.warmup, 4);
    assert.deepEqual(threshold.measurements, [null, null, 0.01, 0.02, 0.01, 0.01], 'the excused measurements are kept, not hidden');
    const counts = out.detail!.response.thresholds[0]!.counts;
    assert.deepEqual(counts, { successful: 4, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0, warmup: 2 });
    assert.ok(logs.some((l) => /= no data → not counted: no data yet, warm-up 2\/4/.test(l)), logs.join('\n'));
    assert.equal(runJudgeRequest(judgeRequestSchema.parse(out.detail!.request)).outcome, 'pass');
  });

  it('without a delay to allow for (the router counters), the same empty windows pause the rollout as before', async () => {
    const { provider } = fakeProvider([null, null, 0.01, 0.02, 0.01, 0.01]);
    const { out } = await run(provider, plan(6));
    assert.equal(out.inconclusive, true);
    assert.equal(out.detail!.request.thresholds![0]!.warmup, undefined);
    assert.match(out.reason!, /2 measurement\(s\) with no data \(limit 0\)/);
  });

  it('data that never comes is inconclusive, never a pass, also when the analysis ends within the warm-up', async () => {
    const { out } = await run(fakeProvider([null, null, null], 4000).provider, plan(3));
    assert.equal(out.inconclusive, true);
    assert.match(out.reason!, /no data yet: 3 measurement\(s\) without data in the warm-up \(4\)/);
  });

  it('no data past the budget counts as before', async () => {
    const { out } = await run(fakeProvider([null, null, null, 0.01, 0.01], 2000).provider, plan(5));
    assert.equal(out.inconclusive, true);
    assert.match(out.reason!, /1 measurement\(s\) with no data \(limit 0\)/);
  });

  it('a failing value in the warm-up fails the canary at once', async () => {
    const { provider, asked } = fakeProvider([null, 0.5, 0.01, 0.01], 4000);
    const { out } = await run(provider, plan(4));
    assert.equal(out.ok, false);
    assert.match(out.reason!, /1 failed measurement/);
    assert.equal(asked.length, 2, 'stopped at the failure');
  });
});

describe('an analysis without a verdict is inconclusive, never a pass', () => {
  it('every window left out (the data plane was not counting): no measurements, inconclusive', async () => {
    const { provider } = fakeProvider([null, null, null]);
    const { out, logs } = await run({ ...provider, countingSince: async () => Number.MAX_SAFE_INTEGER }, plan(3));
    assert.equal(out.inconclusive, true, out.reason);
    assert.match(out.reason!, /error-rate Inconclusive: no measurements/);
    assert.deepEqual(out.detail!.request.thresholds![0]!.measurements, []);
    assert.equal(logs.filter((l) => /no data, left out: the data plane was not counting/.test(l)).length, 3);
  });

  it('a request past the judge\'s limits is inconclusive with the reason, and the rollout waits for a person', async () => {
    const { provider } = fakeProvider([0.01, 0.01, 0.01]);
    const { out, logs } = await run(provider, plan(3), inThreadJudge({ maxValues: 2 }));
    assert.equal(out.ok, true);
    assert.equal(out.inconclusive, true);
    assert.match(out.reason!, /^no verdict: the judge request of analysis errors has 3 values; the judge takes at most 2 per request \(setting judgeMaxValues\)/);
    assert.ok(logs.some((l) => l.startsWith('analysis errors: inconclusive: no verdict:')), logs.join('\n'));
    const { out: within } = await run(fakeProvider([0.01, 0.01, 0.01]).provider, plan(3), inThreadJudge({ maxValues: 3 }));
    assert.equal(within.inconclusive, undefined, 'at the cap it is judged');
  });
});
