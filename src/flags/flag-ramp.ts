/**
 * Guarded ramps (ADR 23): one flag in one stage moves its users from a control variant to a treatment variant in
 * steps (e.g. 1 %, 5 %, 25 %, 100 %); at the end of each step's wait the canary judge compares the treatment's users
 * with the control's, and a regression sends the treatment back to 0 % (or pauses the ramp). Pure: the plan's rules,
 * the targeting a step compiles to, and the decider (state + now + input → what to do next).
 */
import type { JudgeConfig, MetricSpec } from '../rollout/judge.js';
import type { BuiltinMetric } from '../rollout/rollout-plan.js';
import { parseVariantKey } from './ports/variant-metrics.js';

/** What the ramp does when the judge finds the treatment worse: `zero` sends every user back to control; `pause` holds the percentage for a person. */
export type OnRegression = 'zero' | 'pause';

/** One metric the ramp judges: a built-in metric of the data plane's per-variant counters, compared as an analysis' `compare`. */
export type RampMetric = MetricSpec & { metric: Extract<BuiltinMetric, 'error-rate' | 'latency-mean'> };

/** A ramp as declared (in the flags file or given to `sluice flags ramp start`). */
export interface RampPlan {
  treatment: string;
  control: string;
  /** Treatment percentages, strictly increasing, the last one 100 (reached when the step before it passes; never judged). */
  steps: number[];
  /** How long each step runs before it is judged (ms). */
  waitMs: number;
  /** Default: the error rate, an increase counts, critical. */
  compare: RampMetric[];
  /** The judge's thresholds (as an analysis' `judge`). */
  judge: JudgeConfig;
  /** The context attribute users are bucketed by; default `targetingKey`. */
  bucketBy: string;
  /** Where the router reads a request's targeting key (`header:<name>` / `cookie:<name>`); absent: the provider's reports. */
  variantKey?: string;
  onRegression: OnRegression;
  /** Judgements without a verdict (marginal, no data) a step takes before the ramp pauses; default 3. */
  maxHolds: number;
}

/** Bounds of a ramp plan; past them it is refused. */
export const RAMP_LIMITS = {
  minWaitMs: 5_000,
  maxWaitMs: 7 * 24 * 3_600_000,
  maxSteps: 20,
  maxHolds: 20,
  maxMetrics: 5,
  /** Verdicts kept with the ramp (the newest). */
  verdictsKept: 10,
  /** How far back the data plane's per-second counters reach (the built-in metrics keep 600 s). */
  countersKeepMs: 600_000,
  /** The fewest seconds with traffic each side needs for a verdict. */
  minSeconds: 3,
} as const;

export const DEFAULT_RAMP_METRICS: RampMetric[] = [{ name: 'error-rate', metric: 'error-rate', direction: 'increase', critical: true }];

/**
 * Where a ramp is:
 * - running: serving `steps[step]` % treatment; judged at the end of the wait.
 * - paused: serving its percentage, not judged, until `resume` (by a person, or after a regression with `pause`).
 * - regressed: the judge found the treatment worse; back at 0 % treatment (`zero`). `start` begins again.
 * - completed: the last step passed: the stage serves the treatment to everyone.
 * - aborted: stopped by a person; the flag's targeting is what it was before the ramp.
 */
export type RampStatus = 'running' | 'paused' | 'regressed' | 'completed' | 'aborted';

/** One judgement of a step. */
export interface RampVerdict {
  at: number;
  step: number;
  percent: number;
  /** pass, fail, inconclusive (marginal score) or nodata (too little traffic on a side). */
  outcome: 'pass' | 'fail' | 'inconclusive' | 'nodata';
  score: number | null;
  /** The judge's reason, with the figures of the metric that decided it. */
  reason: string;
}

/** A ramp as it runs: kept with the stage's flag config, changed only through ramp events. */
export interface RampRun {
  status: RampStatus;
  /** Index into `plan.steps`. */
  step: number;
  /** The treatment percentage served now. */
  percent: number;
  startedAt: number;
  /** When the current step (or the wait after a resume) began: the wait counts from here. */
  stepStartedAt: number;
  /** Judgements of this step without a verdict so far. */
  holds: number;
  verdicts: RampVerdict[];
  /** Why it is paused, regressed or aborted. */
  reason?: string;
  /** The flag's default variant and targeting before the ramp, put back on abort. */
  before: { defaultVariant: string; targeting?: unknown };
}

/** A flag's ramp in one stage: its plan and, once started, its run. */
export interface FlagRamp {
  plan: RampPlan;
  run?: RampRun;
}

/** What can happen to a ramp. */
export type RampInput =
  | { kind: 'start'; before: RampRun['before'] }
  | { kind: 'pause'; reason: string }
  | { kind: 'resume' }
  | { kind: 'abort'; reason: string }
  | { kind: 'verdict'; verdict: Omit<RampVerdict, 'at' | 'step' | 'percent'> };

/** The event a decision records (one of the flags events). */
export type RampEventType = 'ramp.started' | 'ramp.stepped' | 'ramp.held' | 'ramp.regressed' | 'ramp.paused' | 'ramp.resumed' | 'ramp.completed' | 'ramp.aborted';

/**
 * What the decider says: the run afterwards, the event to record, and what the flag serves: a split at `percent`,
 * the treatment to everyone (`complete`), or the targeting from before the ramp (`restore`). `notify`: people should hear of it.
 */
export type RampDecision =
  | { ok: true; run: RampRun; event: RampEventType; serve: { split: number } | 'complete' | 'restore'; notify: boolean }
  | { ok: false; refusal: string };

/** When a running ramp's next judgement is due. */
export function rampDueAt(plan: RampPlan, run: RampRun): number {
  return run.stepStartedAt + (run.holds + 1) * plan.waitMs;
}

/**
 * The decider: from a ramp's run (undefined: never started), the time and an input, what to do. Refusals name what
 * is wrong and what to do; a verdict is taken only by a running ramp whose judgement is due.
 */
export function decideRamp(plan: RampPlan, run: RampRun | undefined, now: number, input: RampInput): RampDecision {
  const refuse = (refusal: string): RampDecision => ({ ok: false, refusal });
  const status = run?.status;
  switch (input.kind) {
    case 'start': {
      if (status === 'running' || status === 'paused') return refuse(`the ramp is ${status} already; abort it first to start again`);
      const next: RampRun = { status: 'running', step: 0, percent: plan.steps[0]!, startedAt: now, stepStartedAt: now, holds: 0, verdicts: [], before: input.before };
      return { ok: true, run: next, event: 'ramp.started', serve: { split: next.percent }, notify: false };
    }
    case 'pause': {
      if (!run || status !== 'running') return refuse(`only a running ramp can be paused; this one is ${status ?? 'not started'}`);
      return { ok: true, run: { ...run, status: 'paused', reason: input.reason }, event: 'ramp.paused', serve: { split: run.percent }, notify: false };
    }
    case 'resume': {
      if (!run || status !== 'paused') return refuse(`only a paused ramp can be resumed; this one is ${status ?? 'not started'}`);
      const { reason: _r, ...rest } = run;
      // The wait starts again: what was measured before the pause is not judged with what comes after.
      return { ok: true, run: { ...rest, status: 'running', stepStartedAt: now, holds: 0 }, event: 'ramp.resumed', serve: { split: run.percent }, notify: false };
    }
    case 'abort': {
      if (!run || (status !== 'running' && status !== 'paused' && status !== 'regressed'))
        return refuse(`only a running, paused or regressed ramp can be aborted; this one is ${status ?? 'not started'}`);
      return { ok: true, run: { ...run, status: 'aborted', reason: input.reason }, event: 'ramp.aborted', serve: 'restore', notify: false };
    }
    case 'verdict': {
      if (!run || status !== 'running') return refuse(`only a running ramp is judged; this one is ${status ?? 'not started'}`);
      if (now < rampDueAt(plan, run)) return refuse(`the step's judgement is due at ${new Date(rampDueAt(plan, run)).toISOString()}, not yet`);
      const v: RampVerdict = { ...input.verdict, at: now, step: run.step, percent: run.percent };
      const verdicts = [...run.verdicts, v].slice(-RAMP_LIMITS.verdictsKept);
      if (v.outcome === 'fail') {
        const reason = `the judge found ${plan.treatment} worse than ${plan.control} at ${run.percent} %: ${v.reason}`;
        if (plan.onRegression === 'pause')
          return { ok: true, run: { ...run, status: 'paused', verdicts, holds: 0, reason }, event: 'ramp.regressed', serve: { split: run.percent }, notify: true };
        return { ok: true, run: { ...run, status: 'regressed', percent: 0, verdicts, holds: 0, reason }, event: 'ramp.regressed', serve: { split: 0 }, notify: true };
      }
      if (v.outcome === 'pass') {
        const step = run.step + 1;
        // The last step serves everyone: no user is left on the control to judge it against, so reaching it completes the ramp.
        if (step >= plan.steps.length - 1)
          return { ok: true, run: { ...run, status: 'completed', step: plan.steps.length - 1, percent: 100, verdicts, holds: 0 }, event: 'ramp.completed', serve: 'complete', notify: false };
        const percent = plan.steps[step]!;
        return { ok: true, run: { ...run, step, percent, stepStartedAt: now, holds: 0, verdicts }, event: 'ramp.stepped', serve: { split: percent }, notify: false };
      }
      const holds = run.holds + 1;
      if (holds > plan.maxHolds) {
        const reason = `no verdict after ${holds} judgements of the step at ${run.percent} % (${v.outcome}: ${v.reason}); resume it to judge again, or abort it`;
        return { ok: true, run: { ...run, status: 'paused', verdicts, holds: 0, reason }, event: 'ramp.paused', serve: { split: run.percent }, notify: true };
      }
      return { ok: true, run: { ...run, holds, verdicts }, event: 'ramp.held', serve: { split: run.percent }, notify: false };
    }
  }
}

/**
 * The targeting a ramp at `percent` serves: a `fractional` split with the treatment first, so that a larger percentage
 * only ever adds users (a user's bucket does not move; the treatment's share of the buckets grows from 0 up).
 */
export function rampTargeting(flagKey: string, plan: Pick<RampPlan, 'treatment' | 'control' | 'bucketBy'>, percent: number): unknown {
  const buckets = [
    [plan.treatment, percent],
    [plan.control, 100 - percent],
  ];
  // By targetingKey, flagd's own bucketing value (the flag key, then the key). By another attribute, the same shape spelled out.
  return { fractional: plan.bucketBy === 'targetingKey' ? buckets : [{ cat: [flagKey, { var: plan.bucketBy }] }, ...buckets] };
}

/** Whether targeting is one a ramp may take over: none, or a plain fractional split (a ramp's own, or a hand-made percentage). */
export function rampMayOwn(targeting: unknown): boolean {
  if (targeting === undefined || targeting === null) return true;
  if (typeof targeting !== 'object' || Array.isArray(targeting)) return false;
  const keys = Object.keys(targeting);
  return keys.length === 1 && keys[0] === 'fractional';
}

/** A ramp plan as given (file or API), before defaults. */
export interface RampPlanInput {
  treatment: string;
  control: string;
  steps: number[];
  waitMs: number;
  compare?: RampMetric[];
  judge?: JudgeConfig;
  bucketBy?: string;
  variantKey?: string;
  onRegression?: OnRegression;
  maxHolds?: number;
}

/**
 * Checks a ramp plan against the flag's variants and the limits, and fills in the defaults. Each problem names the
 * field and what would do; `where` says whose plan (e.g. `flag winter-sale in prod`).
 */
export function checkRampPlan(input: RampPlanInput, variants: readonly string[], where: string): { plan: RampPlan } | { problems: string[] } {
  const problems: string[] = [];
  const known = `its variants: ${variants.join(', ')}`;
  if (!variants.includes(input.treatment)) problems.push(`treatment: ${JSON.stringify(input.treatment)} is not a variant of the flag (${known})`);
  if (!variants.includes(input.control)) problems.push(`control: ${JSON.stringify(input.control)} is not a variant of the flag (${known})`);
  if (input.treatment === input.control) problems.push(`treatment and control are both ${input.treatment}: name two different variants`);
  const steps = input.steps;
  if (!Array.isArray(steps) || steps.length < 2 || steps.length > RAMP_LIMITS.maxSteps)
    problems.push(`steps: give 2 to ${RAMP_LIMITS.maxSteps} percentages, the last 100, e.g. [1, 5, 25, 100] (a step below 100 is what gets judged)`);
  else {
    if (steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100)) problems.push(`steps: each is a whole percentage from 1 to 100, not ${JSON.stringify(steps)}`);
    else if (steps.some((s, i) => i > 0 && s <= steps[i - 1]!)) problems.push(`steps: ${JSON.stringify(steps)} must be strictly increasing`);
    else if (steps.at(-1) !== 100) problems.push(`steps: ${JSON.stringify(steps)} must end at 100 (the ramp ends with every user on the treatment)`);
  }
  if (!Number.isInteger(input.waitMs) || input.waitMs < RAMP_LIMITS.minWaitMs || input.waitMs > RAMP_LIMITS.maxWaitMs)
    problems.push(`wait: ${input.waitMs} ms is out of bounds: from ${RAMP_LIMITS.minWaitMs / 1000} s to ${RAMP_LIMITS.maxWaitMs / 86_400_000} days`);
  const compare = input.compare ?? DEFAULT_RAMP_METRICS;
  if (compare.length === 0 || compare.length > RAMP_LIMITS.maxMetrics) problems.push(`compare: give 1 to ${RAMP_LIMITS.maxMetrics} metrics`);
  for (const m of compare) if (m.metric !== 'error-rate' && m.metric !== 'latency-mean') problems.push(`compare: metric ${JSON.stringify(m.metric)} is not one a ramp judges (error-rate, latency-mean)`);
  const bucketBy = input.bucketBy ?? 'targetingKey';
  if (typeof bucketBy !== 'string' || !/^[A-Za-z_$][A-Za-z0-9_.$-]{0,127}$/.test(bucketBy)) problems.push(`bucketBy: ${JSON.stringify(bucketBy)} is not a context attribute name`);
  if (input.variantKey !== undefined && !parseVariantKey(input.variantKey))
    problems.push(`variantKey: ${JSON.stringify(input.variantKey)} is not header:<name> or cookie:<name> (e.g. header:x-user-id)`);
  const onRegression = input.onRegression ?? 'zero';
  if (onRegression !== 'zero' && onRegression !== 'pause') problems.push(`onRegression: ${JSON.stringify(onRegression)} is not zero or pause`);
  const maxHolds = input.maxHolds ?? 3;
  if (!Number.isInteger(maxHolds) || maxHolds < 0 || maxHolds > RAMP_LIMITS.maxHolds) problems.push(`maxHolds: a whole number from 0 to ${RAMP_LIMITS.maxHolds}, not ${maxHolds}`);
  if (problems.length > 0) return { problems: problems.map((p) => `${where}: ramp ${p}`) };
  return {
    plan: {
      treatment: input.treatment,
      control: input.control,
      steps: [...steps],
      waitMs: input.waitMs,
      compare,
      judge: input.judge ?? {},
      bucketBy,
      ...(input.variantKey !== undefined ? { variantKey: input.variantKey } : {}),
      onRegression,
      maxHolds,
    },
  };
}

/** How a ramp's variants are measured, for people: the router by header or cookie, or the provider's reports. */
export function rampMeasurement(plan: Pick<RampPlan, 'variantKey'>): string {
  const src = parseVariantKey(plan.variantKey);
  if (src) return `the router, counting requests by ${src.kind} ${src.name}`;
  return "the provider's reports (Sluice's OpenFeature provider with its hook)";
}
