import { own } from '../kernel/own.js';
import { COMMIT_STAGE, type JourneyEvent, type ReleaseRef } from './journey-events.js';
import {
  BACKGROUND_ANALYSIS,
  canaryStepName,
  currentCanaryStep,
  HOLDING_STATUSES,
  type JourneyState,
  type StageState,
  usesCanary,
  verifiesPreview,
} from './journey-reducer.js';
import type { AnalysisPlan, CommandSpec, StagePlan } from '../pipeline/pipeline.js';
import { deployHold } from './protection.js';

/**
 * Effects the executor runs through its ports:
 * - command: a commit or verify command, run once by key.
 * - deploy: put `release` on the stage's target.
 * - traffic, analysis, promote: the steps of a canary rollout.
 * - health: ask the target whether the stage is healthy (at the end of a bake).
 * - rollback: put `to` back on the stage (or stop it when `to` is null).
 */
export type Effect =
  /** With `preview`, SLUICE_STAGE_URL is the stage's preview host (blue-green, before the switch). */
  | { kind: 'command'; purpose: 'commit' | 'verify'; stage: string; spec: CommandSpec; release: ReleaseRef; preview?: true }
  /** With `canary`, the release starts beside the stable one and takes no traffic yet. */
  | { kind: 'deploy'; stage: StagePlan; release: ReleaseRef; canary?: true }
  /** Moves the canary's share of the traffic. */
  | { kind: 'traffic'; stage: StagePlan; release: ReleaseRef; weight: number }
  /** Measures the canary (and compares it with `baseline`) for the analysis' window, or until cancelled when `background`. */
  | { kind: 'analysis'; stage: StagePlan; analysis: AnalysisPlan; release: ReleaseRef; baseline: ReleaseRef; background: boolean }
  /** The canary becomes the stable version at full size; the old one drains and stops. */
  | { kind: 'promote'; stage: StagePlan; release: ReleaseRef }
  | { kind: 'health'; stage: StagePlan; release: ReleaseRef }
  | { kind: 'rollback'; stage: StagePlan; from: ReleaseRef; to: ReleaseRef | null };

export interface StepRun {
  stage: string;
  step: string;
  key: string;
  effect: Effect;
  /** True when step.started is already recorded (the executor resumes it); false for a step to start now. */
  started: boolean;
}

export interface Decision {
  /** Events to append now, in order. After appending, decide again. */
  append: JourneyEvent[];
  /** Steps that should be running. */
  run: StepRun[];
  /** The earliest time at which deciding again may give something new. */
  wakeAt?: number;
  /** Keys of running steps to wrap up now with an outcome (a background analysis whose rollout's steps are done). */
  conclude?: string[];
}

export interface DecideContext {
  now: number;
  /** Every journey the engine knows, including the one decided for. */
  journeys: readonly JourneyState[];
}

/** A step's idempotency key: `<journey>/<stage>/<step>`, with `@<attempt>` after a retry. */
export const stepKey = (journeyId: string, stage: string, step: string, attempt = 0) =>
  `${journeyId}/${stage}/${step}${attempt > 0 ? `@${attempt}` : ''}`;
export const verifyStep = (name: string) => `verify:${name}`;

/** What should happen next for one journey. Pure: a function of the states and the time. */
export function decide(j: JourneyState, ctx: DecideContext): Decision {
  const d: Decision = { append: [], run: [] };
  const wake = (t: number) => {
    d.wakeAt = d.wakeAt === undefined ? t : Math.min(d.wakeAt, t);
  };
  const run = (stage: string, step: string, effect: Effect, state: StageState) => {
    const existing = own(state.steps, step);
    if (existing && existing.status !== 'running') return;
    d.run.push({ stage, step, key: stepKey(j.id, stage, step, j.attempt), effect, started: existing !== undefined });
  };

  decideCommit(j, ctx.now, d, wake, run);

  const live = liveReleases(ctx.journeys);
  for (const sp of j.plan.stages) {
    const s = own(j.stages, sp.name)!;
    switch (s.status) {
      case 'ready': {
        if (j.supersededBy !== undefined || j.failure) break;
        const others = ctx.journeys.filter((o) => o.id !== j.id);
        if (others.some((o) => HOLDING_STATUSES.has(own(o.stages, sp.name)?.status ?? 'waiting'))) break;
        // A stage with a lane takes its releases in order, none superseded, while fewer than maxAhead are ahead.
        if (sp.lane) {
          if (laneWait(j, sp, ctx.journeys)) break;
          d.append.push({ type: 'stage.entered', stage: sp.name, previous: live.get(sp.name)?.release ?? null });
          return d;
        }
        const newer = others.find((o) => o.ordinal > j.ordinal && takesStage(own(o.stages, sp.name)));
        if (newer) {
          d.append.push({ type: 'journey.superseded', by: newer.release.version });
          return d;
        }
        // Outside its deploy windows or inside a freeze, the stage is not entered: it waits, and goes on at the opening.
        const hold = deployHold(sp.protection, ctx.now);
        if (hold) {
          wake(hold.until);
          break;
        }
        d.append.push({ type: 'stage.entered', stage: sp.name, previous: live.get(sp.name)?.release ?? null });
        return d;
      }
      case 'deploying': {
        // Approved before its deploy, outside a window or inside a freeze: the deploy waits for the opening.
        const hold = s.steps.deploy === undefined ? deployHold(sp.protection, ctx.now) : undefined;
        if (hold) {
          wake(hold.until);
          break;
        }
        run(sp.name, 'deploy', { kind: 'deploy', stage: sp, release: j.release, ...(usesCanary(sp, s) ? { canary: true as const } : {}) }, s);
        break;
      }
      case 'rolling-out':
      case 'paused': {
        const appended = decideCanary(j, sp, s, ctx.now, d, wake, run);
        if (appended) return d;
        break;
      }
      case 'verifying': {
        // Verify commands run one after another, in file order, and stop at the first failure.
        const next = sp.verify.find((v) => own(s.steps, verifyStep(v.name))?.status !== 'passed');
        if (next)
          run(
            sp.name,
            verifyStep(next.name),
            { kind: 'command', purpose: 'verify', stage: sp.name, spec: next, release: j.release, ...(verifiesPreview(sp, s) ? { preview: true as const } : {}) },
            s,
          );
        break;
      }
      case 'baking':
        if (s.bakeUntil === undefined) {
          d.append.push({ type: 'stage.bake-started', stage: sp.name, until: ctx.now + sp.bakeMs });
          return d;
        }
        if (ctx.now < s.bakeUntil) wake(s.bakeUntil);
        else run(sp.name, 'bake-check', { kind: 'health', stage: sp, release: j.release }, s);
        break;
      case 'rolling-back': {
        // Measuring and waiting stop at once; a deploy, promotion or command under way is let finish first.
        const cancel = Object.values(s.steps).filter((st) => st.status === 'running' && st.name.startsWith('canary:') && !isTrafficStep(sp, st.name));
        if (cancel.length > 0) {
          for (const st of cancel)
            d.append.push({
              type: 'step.finished',
              stage: sp.name,
              step: st.name,
              key: st.key,
              ok: false,
              cancelled: true,
              exitCode: null,
              reason: 'cancelled: the stage is rolling back',
            });
          return d;
        }
        const stillRunning = Object.values(s.steps).some((st) => st.status === 'running' && st.name !== 'rollback');
        if (stillRunning) {
          for (const st of Object.values(s.steps)) if (st.status === 'running') d.run.push(resumeRun(j, sp, s, st.name));
          break;
        }
        run(sp.name, 'rollback', { kind: 'rollback', stage: sp, from: j.release, to: s.previous ?? null }, s);
        break;
      }
      default:
        break;
    }
  }
  return d;
}

/** A stage counts as taken by a journey that holds it, passed it, or is about to enter it. */
/**
 * Why a release waits for a stage with a lane, or undefined when it may enter: an older release waits for the stage
 * too (they go in order), or `maxAhead` releases are already in it without having passed the pipeline's last stages
 * (a journey that ended, however, no longer counts). Pure; the board shows the same answer.
 */
export function laneWait(j: JourneyState, sp: StagePlan, journeys: readonly JourneyState[]): { ahead: string[]; before: string[] } | undefined {
  if (!sp.lane) return undefined;
  const others = journeys.filter((o) => o.id !== j.id && o.status === 'running');
  const before = others.filter((o) => o.ordinal < j.ordinal && own(o.stages, sp.name)?.status === 'ready').map((o) => o.release.version);
  const ahead = others.filter((o) => own(o.stages, sp.name)?.entered === true && !reachedLast(o)).map((o) => o.release.version);
  return before.length > 0 || ahead.length >= sp.lane.maxAhead ? { ahead, before } : undefined;
}

/** Whether a journey has passed every last stage of its pipeline (those no stage comes after). */
function reachedLast(j: JourneyState): boolean {
  const inner = new Set(j.plan.stages.flatMap((s) => s.after));
  return j.plan.stages.filter((s) => !inner.has(s.name)).every((s) => own(j.stages, s.name)?.status === 'passed');
}

function takesStage(s: StageState | undefined): boolean {
  if (!s) return false;
  return (
    s.status === 'ready' || s.status === 'awaiting-promotion' || s.status === 'passed' || HOLDING_STATUSES.has(s.status)
  );
}

function resumeRun(j: JourneyState, sp: StagePlan, s: StageState, step: string): StepRun {
  const key = stepKey(j.id, sp.name, step, j.attempt);
  const effect = stepEffect(j, sp, s, step);
  if (!effect) throw new Error(`step ${step} of stage ${sp.name} has no effect to resume`);
  return { stage: sp.name, step, key, effect, started: true };
}

/** The effect behind a step name; undefined for steps that are only waiting (pauses). */
function stepEffect(j: JourneyState, sp: StagePlan, s: StageState, step: string): Effect | undefined {
  if (step === 'deploy') return { kind: 'deploy', stage: sp, release: j.release, ...(usesCanary(sp, s) ? { canary: true as const } : {}) };
  if (step === 'bake-check') return { kind: 'health', stage: sp, release: j.release };
  if (step === 'rollback') return { kind: 'rollback', stage: sp, from: j.release, to: s.previous ?? null };
  if (step === 'promote') return { kind: 'promote', stage: sp, release: j.release };
  if (step === BACKGROUND_ANALYSIS && sp.canary?.background)
    return { kind: 'analysis', stage: sp, analysis: sp.canary.background, release: j.release, baseline: s.previous!, background: true };
  const canaryIndex = /^canary:(\d+)$/.exec(step);
  if (canaryIndex) {
    const cs = sp.canary?.steps[Number(canaryIndex[1])];
    if (cs?.kind === 'setWeight') return { kind: 'traffic', stage: sp, release: j.release, weight: cs.weight };
    if (cs?.kind === 'analysis') return { kind: 'analysis', stage: sp, analysis: cs.analysis, release: j.release, baseline: s.previous!, background: false };
    return undefined;
  }
  const spec = sp.verify.find((v) => verifyStep(v.name) === step);
  if (!spec) throw new Error(`unknown step ${step} in stage ${sp.name}`);
  return { kind: 'command', purpose: 'verify', stage: sp.name, spec, release: j.release, ...(verifiesPreview(sp, s) ? { preview: true as const } : {}) };
}

function isTrafficStep(sp: StagePlan, step: string): boolean {
  const i = /^canary:(\d+)$/.exec(step);
  return i !== null && sp.canary?.steps[Number(i[1])]?.kind === 'setWeight';
}

/**
 * One canary rollout: background analysis from the start; the steps in order (weights, pauses, analyses);
 * then promotion. Returns true when it appended events (decide again).
 */
function decideCanary(
  j: JourneyState,
  sp: StagePlan,
  s: StageState,
  now: number,
  d: Decision,
  wake: (t: number) => void,
  run: (stage: string, step: string, effect: Effect, state: StageState) => void,
): boolean {
  const canary = sp.canary!;
  const bg = own(s.steps, BACKGROUND_ANALYSIS);
  const i = currentCanaryStep(sp, s);
  if (i < 0) {
    // Every step done: the background analysis gives its verdict on the whole rollout, then the canary is promoted.
    if (bg?.status === 'running') {
      d.run.push(resumeRun(j, sp, s, BACKGROUND_ANALYSIS));
      d.conclude = [...(d.conclude ?? []), bg.key];
      return false;
    }
    if (bg?.status === 'inconclusive' && !s.resumedSteps.includes(BACKGROUND_ANALYSIS)) return false;
    run(sp.name, 'promote', { kind: 'promote', stage: sp, release: j.release }, s);
    return false;
  }
  if (canary.background && !bg) run(sp.name, BACKGROUND_ANALYSIS, stepEffect(j, sp, s, BACKGROUND_ANALYSIS)!, s);
  else if (bg?.status === 'running') d.run.push(resumeRun(j, sp, s, BACKGROUND_ANALYSIS));
  const name = canaryStepName(i);
  const step = canary.steps[i]!;
  const st = own(s.steps, name);
  if (s.pausedBy !== undefined && !st) return false;
  if (step.kind === 'pause') {
    if (!st) {
      d.append.push({ type: 'step.started', stage: sp.name, step: name, key: stepKey(j.id, sp.name, name, j.attempt) });
      return true;
    }
    if (st.status !== 'running') return false;
    const resumed = s.resumedSteps.includes(name);
    const due = step.durationMs !== undefined && now >= st.startedAt + step.durationMs;
    if (resumed || due) {
      d.append.push({ type: 'step.finished', stage: sp.name, step: name, key: st.key, ok: true, exitCode: null, reason: resumed ? 'resumed by a person' : 'pause over' });
      return true;
    }
    if (step.durationMs !== undefined) wake(st.startedAt + step.durationMs);
    return false;
  }
  if (st?.status === 'inconclusive') return false;
  run(sp.name, name, stepEffect(j, sp, s, name)!, s);
  return false;
}

function decideCommit(
  j: JourneyState,
  now: number,
  d: Decision,
  wake: (t: number) => void,
  run: (stage: string, step: string, effect: Effect, state: StageState) => void,
) {
  const c = j.commit;
  if (c.status === 'passed' || c.status === 'failed') {
    // A failed sibling does not stop the others; they finish and are recorded.
    for (const spec of j.plan.commit.steps)
      if (own(c.steps, spec.name)?.status === 'running')
        run(
          COMMIT_STAGE,
          spec.name,
          { kind: 'command', purpose: 'commit', stage: COMMIT_STAGE, spec, release: j.release },
          c,
        );
    return;
  }
  const budget = j.plan.commit.budgetMs;
  const deadline = j.createdAt + budget;
  const warnAt = j.createdAt + Math.floor(budget * 0.8);
  if (now >= deadline) {
    for (const spec of j.plan.commit.steps) {
      const st = own(c.steps, spec.name);
      const reason = `commit budget of ${Math.round(budget / 1000)}s exceeded`;
      if (st?.status === 'running')
        d.append.push({
          type: 'step.finished',
          stage: COMMIT_STAGE,
          step: spec.name,
          key: st.key,
          ok: false,
          exitCode: null,
          reason,
        });
    }
    if (d.append.length > 0) return;
  }
  if (now >= warnAt && c.warnings.length === 0 && c.stepOrder.length > 0) {
    d.append.push({
      type: 'step.warned',
      stage: COMMIT_STAGE,
      step: 'budget',
      message: `commit stage has used 80% of its ${Math.round(budget / 1000)}s budget`,
    });
    return;
  }
  for (const spec of j.plan.commit.steps)
    run(
      COMMIT_STAGE,
      spec.name,
      { kind: 'command', purpose: 'commit', stage: COMMIT_STAGE, spec, release: j.release },
      c,
    );
  if (now < warnAt) wake(warnAt);
  else wake(deadline);
}

export interface LiveRelease {
  /** Null when the stage was rolled back to nothing (its first release was rolled back). */
  release: ReleaseRef | null;
  journeyId: string;
  via: 'deploy' | 'rollback';
}

/** What each stage runs now: the latest successful deploy or rollback across all journeys. */
export function liveReleases(journeys: readonly JourneyState[]): Map<string, LiveRelease> {
  const best = new Map<string, LiveRelease & { id: number }>();
  const offer = (stage: string, id: number | undefined, live: LiveRelease) => {
    if (id === undefined) return;
    const cur = best.get(stage);
    if (!cur || cur.id < id) best.set(stage, { ...live, id });
  };
  for (const j of journeys) {
    for (const s of Object.values(j.stages)) {
      const sp = j.plan.stages.find((p) => p.name === s.name);
      // A canary serves the stage only once promoted.
      const dep = sp && usesCanary(sp, s) ? s.steps.promote : s.steps.deploy;
      if (dep?.status === 'passed')
        offer(s.name, dep.finishedId, { release: j.release, journeyId: j.id, via: 'deploy' });
      const rb = s.steps.rollback;
      if (rb?.status === 'passed')
        offer(s.name, rb.finishedId, { release: s.previous ?? null, journeyId: j.id, via: 'rollback' });
    }
  }
  return new Map([...best].map(([k, { id: _id, ...v }]) => [k, v]));
}
