import type { Clock } from '../kernel/clock.js';
import { isSluiceError } from '../kernel/errors.js';
import type { JudgeRequest, JudgeResponse } from '../rollout/judge-request.js';
import type { MetricResult, MetricSpec } from '../rollout/judge.js';
import type { JudgeRunner } from '../rollout/ports/judge-runner.js';
import type { MetricsProvider } from '../rollout/ports/metrics-provider.js';
import { RAMP_LIMITS, type RampMetric, rampDueAt } from './flag-ramp.js';
import type { FlagService, RampJudgement, RampView } from './flag-service.js';
import { variantSeries } from './ports/variant-metrics.js';

/** What people hear of a ramp that regressed or paused for want of a verdict. */
export interface RampNotice {
  stage: string;
  flag: string;
  /** `regressed`: the judge found the treatment worse; `paused`: no verdict after the step's holds. */
  kind: 'regressed' | 'paused';
  reason: string;
  at: number;
  /** The id of the flags event that recorded it (a notification is filed once per event). */
  eventId: number;
}

export interface RampRunnerOptions {
  flags: Pick<FlagService, 'ramps' | 'rampJudged' | 'history'>;
  /** Per-variant counters (`variantSeries(flag, variant)` as the version): the data plane's, through the built-in metrics. */
  metrics: MetricsProvider;
  judge: JudgeRunner;
  clock: Clock;
  /** Tells people (the notifications outbox). */
  notify?: (n: RampNotice) => Promise<void>;
  onError?: (e: unknown) => void;
  /** One line for people about what a ramp did. */
  log?: (line: string) => void;
}

/** A ramp's metrics, treatment against control, over a window. */
export interface RampSeries {
  fromMs: number;
  toMs: number;
  metrics: Array<MetricSpec & { metric: RampMetric['metric']; canary: number[]; baseline: number[] }>;
}

/** How often the runner looks for a judgement that is due. */
export const RAMP_TICK_MS = 1_000;

/**
 * Drives the running ramps in the control plane: each one whose step's wait is over is judged (treatment against
 * control over the step, from the data plane's per-variant counters) and the verdict is recorded through the flags
 * service, which asks the decider what follows. It keeps nothing of its own: after a restart it reads every ramp from
 * the store where it was, and a judgement that fell due while it was away is made at once, on counters the data plane
 * kept. Of several replicas, one records each judgement; the others get CONFLICT and read the ramp again.
 */
export class RampRunner {
  private timer: ReturnType<typeof setInterval> | undefined;
  private pass: Promise<void> | null = null;

  constructor(private readonly o: RampRunnerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick().catch((e: unknown) => this.o.onError?.(e)), RAMP_TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /** Judges every ramp that is due now (one pass at a time); resolves when the pass is done. */
  tick(): Promise<void> {
    this.pass ??= this.run().finally(() => {
      this.pass = null;
    });
    return this.pass;
  }

  private async run(): Promise<void> {
    const now = this.o.clock.now();
    for (const r of await this.o.flags.ramps()) {
      if (r.run?.status !== 'running' || now < rampDueAt(r.plan, r.run)) continue;
      try {
        await this.judgeOne(r, now);
      } catch (e) {
        // Another replica recorded this judgement first: the next pass reads the ramp as it is now.
        if (isSluiceError(e) && e.code === 'CONFLICT') this.o.log?.(`ramp of ${r.flag} in ${r.stage}: another replica judged it first`);
        else this.o.onError?.(e);
      }
    }
  }

  /** Judges one ramp's step and records the verdict. */
  async judgeOne(r: RampView, now: number): Promise<void> {
    const run = r.run!;
    const judgement = await this.judgeStep(r, now);
    const res = await this.o.flags.rampJudged(r.stage, r.flag, r.revision, judgement);
    const after = res.ramp.run!;
    this.o.log?.(`ramp of ${r.flag} in ${r.stage} at ${run.percent} %: ${judgement.outcome} → ${after.status} at ${after.percent} %`);
    if (res.notify && this.o.notify) {
      const event = (await this.o.flags.history({ stage: r.stage, flag: r.flag, limit: 1 })).at(-1);
      const kind = judgement.outcome === 'fail' ? 'regressed' : 'paused';
      await this.o.notify({ stage: r.stage, flag: r.flag, kind, reason: after.reason ?? judgement.reason, at: now, eventId: event?.id ?? 0 });
    }
  }

  /**
   * Each compared metric's series for the treatment's users (`canary`) and the control's (`baseline`), one value a
   * second with traffic: over the current step for a running or paused ramp, else over what the counters remember
   * (the last 600 s, so never further back).
   */
  async series(r: Pick<RampView, 'stage' | 'flag' | 'plan' | 'run'>, now: number): Promise<RampSeries> {
    const oldest = now - RAMP_LIMITS.countersKeepMs;
    const inStep = r.run?.status === 'running' || r.run?.status === 'paused';
    const fromMs = inStep ? Math.max(r.run!.stepStartedAt, oldest) : oldest;
    const q = (variant: string) => ({ stage: r.stage, version: variantSeries(r.flag, variant), fromMs, toMs: now });
    const metrics = await Promise.all(
      r.plan.compare.map(async ({ metric, ...spec }) => {
        const [canary, baseline] = await Promise.all([
          this.o.metrics.series(metric, q(r.plan.treatment)),
          this.o.metrics.series(metric, q(r.plan.control)),
        ]);
        return { ...spec, metric, canary, baseline };
      }),
    );
    return { fromMs, toMs: now, metrics };
  }

  /**
   * The step's window runs from its start to now. Too few seconds with traffic on either side is no data; otherwise
   * the judge's verdict, with the deciding metric's figures.
   */
  private async judgeStep(r: RampView, now: number): Promise<RampJudgement> {
    const metrics = (await this.series(r, now)).metrics.map(({ metric: _m, ...m }) => m);
    const thin = metrics.find((m) => m.canary.length < RAMP_LIMITS.minSeconds || m.baseline.length < RAMP_LIMITS.minSeconds);
    if (thin)
      return {
        outcome: 'nodata',
        score: null,
        reason: `too little traffic to judge ${thin.name}: ${thin.canary.length} s with requests on ${r.plan.treatment}, ${thin.baseline.length} s on ${r.plan.control} (at least ${RAMP_LIMITS.minSeconds} each)`,
      };
    const request: JudgeRequest = { config: r.plan.judge, metrics };
    let response: JudgeResponse;
    try {
      response = await this.o.judge.judge(JSON.stringify(request), `the judge request of the ramp of ${r.flag} in ${r.stage}`);
    } catch (e) {
      return { outcome: 'inconclusive', score: null, reason: `no verdict: ${(e as Error).message}` };
    }
    const c = response.comparison;
    const score = c?.score ?? null;
    const deciding = c?.metrics.find((m) => m.criticalFailure) ?? c?.metrics.find((m) => m.classification !== 'Pass');
    const figures = c?.metrics.map(figuresOf);
    const why = deciding ? `${describe(deciding, r.plan.treatment, r.plan.control)}; score ${score}` : response.reason;
    return { outcome: response.outcome, score, reason: why, ...(figures ? { figures } : {}) };
  }
}

const fmt = (v: number | null) => (v === null ? 'no data' : Number(v.toPrecision(4)).toString());

/** One metric's figures, as kept with the ramp's event. */
function figuresOf(m: MetricResult) {
  return { metric: m.name, classification: m.classification, treatmentMean: m.canary.mean, controlMean: m.baseline.mean, ratio: m.ratio };
}

/** `error-rate High: treatment (on) mean 0.5 vs control (off) mean 0.01, ratio 50` (no ratio to a control mean of 0). */
function describe(m: MetricResult, treatment: string, control: string): string {
  return `${m.name} ${m.classification}: treatment (${treatment}) mean ${fmt(m.canary.mean)} vs control (${control}) mean ${fmt(m.baseline.mean)}${m.baseline.mean ? `, ratio ${fmt(m.ratio)}` : ''}`;
}
