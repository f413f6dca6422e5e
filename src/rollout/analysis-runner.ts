import { setTimeout as sleep } from 'node:timers/promises';
import { type JudgeRequest, type JudgeResponse, judgeRequestSchema, runJudgeRequest } from './judge-request.js';
import { evaluateThreshold, type Measurement } from './judge.js';
import type { AnalysisPlan, MetricRef } from '../pipeline/pipeline.js';
import type { MetricsProvider } from './ports/metrics-provider.js';
import type { StepOutcome } from '../journeys/step-runner.js';
import { startSyntheticTraffic } from '../adapters/traffic-http/synthetic-traffic.js';

export interface AnalysisTarget {
  stage: string;
  canary: string;
  baseline: string;
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
  request: JudgeRequest;
  response: JudgeResponse;
}

/**
 * Runs an analysis: every interval, each threshold is measured on the canary and checked (a failure ends the analysis
 * at once); after `count` intervals, the canary's series are compared with the baseline's by the judge.
 * A background analysis measures until it is aborted. The verdict is the judge's, from the same input `sluice judge` takes.
 */
export async function runAnalysis(
  metrics: MetricsProvider,
  a: AnalysisPlan,
  t: AnalysisTarget,
  opts: { signal: AbortSignal; background: boolean; log: (line: string) => void; stageUrl?: string },
): Promise<StepOutcome & { detail?: AnalysisDetail }> {
  const traffic = new AbortController();
  opts.signal.addEventListener('abort', () => traffic.abort(), { once: true });
  if (a.traffic && opts.stageUrl) {
    startSyntheticTraffic(opts.stageUrl, a.traffic.paths, a.traffic.rate, traffic.signal);
    opts.log(`synthetic traffic: ${a.traffic.rate}/s to each of stable and canary on ${a.traffic.paths.join(', ')}`);
  }
  try {
    return await measureAndJudge(metrics, a, t, opts);
  } finally {
    traffic.abort();
  }
}

async function measureAndJudge(
  metrics: MetricsProvider,
  a: AnalysisPlan,
  t: AnalysisTarget,
  opts: { signal: AbortSignal; background: boolean; log: (line: string) => void },
): Promise<StepOutcome & { detail?: AnalysisDetail }> {
  const fromMs = Date.now();
  const measurements: Measurement[][] = a.thresholds.map(() => []);
  const finish = async (toMs: number): Promise<StepOutcome & { detail: AnalysisDetail }> => {
    const compare = await Promise.all(
      a.compare.map(async (c) => {
        const { metric, ...spec } = c;
        const [canary, baseline] = await Promise.all([
          metrics.series(metric, { stage: t.stage, version: t.canary, fromMs, toMs }),
          metrics.series(metric, { stage: t.stage, version: t.baseline, fromMs, toMs }),
        ]);
        return { ...spec, canary, baseline };
      }),
    );
    const request: JudgeRequest = {
      config: a.judge,
      ...(compare.length ? { metrics: compare } : {}),
      ...(a.thresholds.length ? { thresholds: a.thresholds.map(({ metric: _m, ...spec }, i) => ({ ...spec, measurements: measurements[i]! })) } : {}),
    };
    const response = runJudgeRequest(judgeRequestSchema.parse(request));
    const queries = Object.fromEntries([...a.thresholds, ...a.compare].map((m) => [m.name, m.metric]));
    const detail: AnalysisDetail = { analysis: a.name, ...t, fromMs, toMs, queries, request, response };
    opts.log(`analysis ${a.name}: ${response.outcome}: ${response.reason}`);
    if (response.outcome === 'pass') return { ok: true, exitCode: null, detail };
    if (response.outcome === 'inconclusive') return { ok: true, exitCode: null, inconclusive: true, reason: response.reason, detail };
    return { ok: false, exitCode: null, reason: `analysis ${a.name} failed: ${response.reason}`, detail };
  };

  for (let n = 0; opts.background || n < a.count; n++) {
    try {
      await sleep(a.intervalMs, undefined, { signal: opts.signal });
    } catch {
      return { ok: true, exitCode: null, reason: 'analysis stopped' };
    }
    const toMs = Date.now();
    const window = { stage: t.stage, version: t.canary, fromMs: toMs - a.intervalMs, toMs };
    for (const [i, th] of a.thresholds.entries()) {
      let m: Measurement;
      try {
        m = await metrics.measure(th.metric, window);
      } catch (e) {
        m = { error: (e as Error).message };
      }
      measurements[i]!.push(m);
      const r = evaluateThreshold(th, measurements[i]!);
      const label = typeof th.metric === 'string' ? th.metric : `prometheus: ${th.metric.prometheus}`;
      opts.log(`${new Date(toMs).toISOString().slice(11, 23)} ${th.name} (${label}) = ${typeof m === 'number' ? m.toPrecision(4) : m === null ? 'no data' : `error: ${m.error}`} → ${r.outcome}`);
      if (r.outcome === 'Failed' || r.outcome === 'Error') return finish(toMs);
    }
  }
  return finish(Date.now());
}
