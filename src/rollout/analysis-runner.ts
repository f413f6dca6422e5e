import { setTimeout as sleep } from 'node:timers/promises';
import { type JudgeRequest, type JudgeResponse } from './judge-request.js';
import { evaluateThreshold, type Measurement, type ThresholdSpec } from './judge.js';
import { DEFAULT_JUDGE_LIMITS, inThreadJudge, type JudgeRunner } from './ports/judge-runner.js';
import type { MetricsProvider } from './ports/metrics-provider.js';
import type { SyntheticTraffic } from './ports/synthetic-traffic.js';
import type { AnalysisPlan, MetricRef } from './rollout-plan.js';

/** A stretch of an analysis without data, and why. */
export interface AnalysisGap {
  fromMs: number;
  toMs: number;
  reason: string;
}

/** What an analysis stores with its outcome: the judge request it built (replayable with `sluice judge`) and the answer. */
export interface AnalysisDetail {
  analysis: string;
  stage: string;
  canary: string;
  baseline: string;
  fromMs: number;
  toMs: number;
  /** What each metric asked: a built-in metric's name, or the PromQL template ({{stage}}, {{version}}, {{window}}). */
  queries: Record<string, MetricRef>;
  /** Windows left out of the thresholds for want of data that could not be had: the data plane restarting, or the control plane away. */
  gaps: AnalysisGap[];
  request: JudgeRequest;
  response: JudgeResponse;
}

/** How an analysis ended, as the journey acts on it. */
export interface AnalysisOutcome {
  ok: boolean;
  exitCode: null;
  reason?: string;
  inconclusive?: boolean;
  detail?: AnalysisDetail;
}

export interface AnalysisRun {
  stage: string;
  canary: string;
  baseline: string;
  /**
   * When the step started (epoch ms). Windows count from here, so an analysis adopted after a restart carries on where
   * it was: the windows that passed meanwhile are measured from the data plane's counters, which kept counting.
   */
  startedAt: number;
  /** Runs until `conclude` (a background analysis), instead of for `count` intervals. */
  background: boolean;
  /** Stops the analysis with no verdict (the stage is rolling back). */
  signal: AbortSignal;
  /** Ends a background analysis now, with the verdict on what it measured (the rollout's steps are done). */
  conclude?: AbortSignal;
  log: (line: string) => void;
  /** Where synthetic traffic goes, when the analysis asks for some. */
  stageUrl?: string;
  traffic?: SyntheticTraffic;
  now?: () => number;
  /** Where the verdict is reached (the control plane's judge thread); default: on this thread, with the default value cap. */
  judge?: JudgeRunner;
  /** Waits until the next window ends; tests pass one that moves their clock instead. It rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
}

/**
 * How many of an analysis' first measurements may have no data before they count: enough intervals to cover the time
 * its metrics provider may take to show a new version's series (`MetricsProvider.warmupMs`). At a 1 s interval on
 * Prometheus scraping every second that is 4; at 1 m on Prometheus' default of 15 s, 1; on the router's own counters, 0.
 */
export function warmupBudget(warmupMs: number, intervalMs: number): number {
  return warmupMs > 0 ? Math.ceil(warmupMs / intervalMs) : 0;
}

/**
 * Runs an analysis: every interval, each threshold is measured on the canary and checked (a failure ends the analysis
 * at once); after `count` intervals (or when concluded), the canary's series are compared with the baseline's by the
 * judge. The verdict is the judge's, from the same input `sluice judge` takes.
 */
export async function runAnalysis(metrics: MetricsProvider, a: AnalysisPlan, r: AnalysisRun): Promise<AnalysisOutcome> {
  const traffic = new AbortController();
  r.signal.addEventListener('abort', () => traffic.abort(), { once: true });
  if (a.traffic && r.stageUrl && r.traffic) {
    r.traffic(r.stageUrl, a.traffic.paths, a.traffic.rate, traffic.signal);
    r.log(`synthetic traffic: ${a.traffic.rate}/s to each of stable and canary on ${a.traffic.paths.join(', ')}`);
  }
  try {
    return await measureAndJudge(metrics, a, r);
  } finally {
    traffic.abort();
  }
}

async function measureAndJudge(metrics: MetricsProvider, a: AnalysisPlan, r: AnalysisRun): Promise<AnalysisOutcome> {
  const now = r.now ?? Date.now;
  const wait = r.sleep ?? ((ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }));
  const fromMs = r.startedAt;
  // The warm-up goes into the judge request with the measurements, so `sluice judge` replays the same verdict.
  const warmupMs = (m: MetricRef) => {
    try {
      return metrics.warmupMs?.(m) ?? 0;
    } catch {
      return 0; // a metric no provider answers fails at its first measurement, where the analysis reports errors
    }
  };
  const specs: ThresholdSpec[] = a.thresholds.map(({ metric, ...spec }) => {
    const warmup = warmupBudget(warmupMs(metric), a.intervalMs);
    return warmup > 0 ? { ...spec, warmup } : spec;
  });
  const resumedAt = now();
  const measurements: Measurement[][] = a.thresholds.map(() => []);
  // Per threshold, the measurements the warm-up has left out so far, to say so when it leaves out one more.
  const excused = a.thresholds.map(() => 0);
  const gaps: AnalysisGap[] = [];
  const gap = (fromMs: number, toMs: number, reason: string) => {
    const last = gaps.at(-1);
    if (last && last.reason === reason && last.toMs === fromMs) last.toMs = toMs;
    else gaps.push({ fromMs, toMs, reason });
  };
  const stop = AbortSignal.any([r.signal, ...(r.conclude ? [r.conclude] : [])]);
  if (resumedAt - fromMs > a.intervalMs) r.log(`--- sluice: analysis adopted after a restart; measuring the ${Math.floor((resumedAt - fromMs) / a.intervalMs)} interval(s) that passed meanwhile from the data plane's counters`);

  const finish = async (toMs: number): Promise<AnalysisOutcome> => {
    const compare = await Promise.all(
      a.compare.map(async (c) => {
        const { metric, ...spec } = c;
        const [canary, baseline] = await Promise.all([
          metrics.series(metric, { stage: r.stage, version: r.canary, fromMs, toMs }),
          metrics.series(metric, { stage: r.stage, version: r.baseline, fromMs, toMs }),
        ]);
        return { ...spec, canary, baseline };
      }),
    );
    const request: JudgeRequest = {
      config: a.judge,
      ...(compare.length ? { metrics: compare } : {}),
      ...(specs.length ? { thresholds: specs.map((spec, i) => ({ ...spec, measurements: measurements[i]! })) } : {}),
    };
    let response: JudgeResponse;
    try {
      response = await (r.judge ?? inThreadJudge(DEFAULT_JUDGE_LIMITS)).judge(JSON.stringify(request), `the judge request of analysis ${a.name}`);
    } catch (e) {
      // Past the judge's limits (too many values, too long to judge) there is no verdict: a person decides.
      const reason = `no verdict: ${(e as Error).message}`;
      r.log(`analysis ${a.name}: inconclusive: ${reason}`);
      return { ok: true, exitCode: null, inconclusive: true, reason };
    }
    const queries = Object.fromEntries([...a.thresholds, ...a.compare].map((m) => [m.name, m.metric]));
    const { stage, canary, baseline } = r;
    const detail: AnalysisDetail = { analysis: a.name, stage, canary, baseline, fromMs, toMs, queries, gaps, request, response };
    const gapNote = gaps.length ? ` (${gaps.length} gap(s): ${gaps.map((g) => `${Math.round((g.toMs - g.fromMs) / 1000)}s ${g.reason}`).join(', ')})` : '';
    r.log(`analysis ${a.name}: ${response.outcome}: ${response.reason}${gapNote}`);
    if (response.outcome === 'pass') return { ok: true, exitCode: null, detail };
    if (response.outcome === 'inconclusive') return { ok: true, exitCode: null, inconclusive: true, reason: response.reason, detail };
    return { ok: false, exitCode: null, reason: `analysis ${a.name} failed: ${response.reason}`, detail };
  };

  for (let n = 0; r.background || n < a.count; n++) {
    const toMs = fromMs + (n + 1) * a.intervalMs;
    const left = toMs - now();
    if (left > 0) {
      try {
        await wait(left, stop);
      } catch {
        if (r.signal.aborted) return { ok: true, exitCode: null, reason: 'analysis stopped' };
        return finish(now());
      }
    }
    const window = { stage: r.stage, version: r.canary, fromMs: toMs - a.intervalMs, toMs };
    const at = new Date(toMs).toISOString().slice(11, 23);
    for (const [i, th] of a.thresholds.entries()) {
      let m: Measurement;
      try {
        m = await metrics.measure(th.metric, window);
      } catch (e) {
        m = { error: (e as Error).message };
      }
      if (m === null) {
        // No data for a reason that is not the canary's: leave the window out, and say so.
        const since = await metrics.countingSince?.(th.metric).catch(() => undefined);
        const why =
          since !== undefined && since > window.fromMs
            ? 'the data plane was not counting (it restarted, or the window is older than it remembers)'
            : toMs <= resumedAt
              ? 'the control plane was away'
              : undefined;
        if (why) {
          gap(window.fromMs, toMs, why);
          r.log(`${at} ${th.name}: no data, left out: ${why}`);
          continue;
        }
      }
      measurements[i]!.push(m);
      const res = evaluateThreshold(specs[i]!, measurements[i]!);
      const label = typeof th.metric === 'string' ? th.metric : `prometheus: ${th.metric.prometheus}`;
      const value = typeof m === 'number' ? m.toPrecision(4) : m === null ? 'no data' : `error: ${m.error}`;
      const verdict = res.counts.warmup > excused[i]! ? `not counted: no data yet, warm-up ${res.counts.warmup}/${specs[i]!.warmup}` : res.outcome;
      excused[i] = res.counts.warmup;
      r.log(`${at} ${th.name} (${label}) = ${value} → ${verdict}`);
      if (res.outcome === 'Failed' || res.outcome === 'Error') return finish(toMs);
    }
  }
  return finish(now());
}
