import { COMMIT_STAGE, type JourneyEvent, type ReleaseRef } from './journey-events.js';
import { HOLDING_STATUSES, type JourneyState, type StageState } from './journey-reducer.js';
import type { CommandSpec, StagePlan } from './pipeline.js';

/**
 * Effects the executor runs through its ports:
 * - command: a commit or verify command, run once by key.
 * - deploy: put `release` on the stage's target.
 * - health: ask the target whether the stage is healthy (at the end of a bake).
 * - rollback: put `to` back on the stage (or stop it when `to` is null).
 */
export type Effect =
  | { kind: 'command'; purpose: 'commit' | 'verify'; stage: string; spec: CommandSpec; release: ReleaseRef }
  | { kind: 'deploy'; stage: StagePlan; release: ReleaseRef }
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
}

export interface DecideContext {
  now: number;
  /** Every journey the engine knows, including the one decided for. */
  journeys: readonly JourneyState[];
}

export const stepKey = (journeyId: string, stage: string, step: string) => `${journeyId}/${stage}/${step}`;
export const verifyStep = (name: string) => `verify:${name}`;

/** What should happen next for one journey. Pure: a function of the states and the time. */
export function decide(j: JourneyState, ctx: DecideContext): Decision {
  const d: Decision = { append: [], run: [] };
  const wake = (t: number) => {
    d.wakeAt = d.wakeAt === undefined ? t : Math.min(d.wakeAt, t);
  };
  const run = (stage: string, step: string, effect: Effect, state: StageState) => {
    const existing = state.steps[step];
    if (existing && existing.status !== 'running') return;
    d.run.push({ stage, step, key: stepKey(j.id, stage, step), effect, started: existing !== undefined });
  };

  decideCommit(j, ctx.now, d, wake, run);

  const live = liveReleases(ctx.journeys);
  for (const sp of j.plan.stages) {
    const s = j.stages[sp.name]!;
    switch (s.status) {
      case 'ready': {
        if (j.supersededBy !== undefined || j.failure) break;
        const others = ctx.journeys.filter((o) => o.id !== j.id);
        if (others.some((o) => HOLDING_STATUSES.has(o.stages[sp.name]?.status ?? 'waiting'))) break;
        const newer = others.find((o) => o.ordinal > j.ordinal && takesStage(o.stages[sp.name]));
        if (newer) {
          d.append.push({ type: 'journey.superseded', by: newer.release.version });
          return d;
        }
        d.append.push({ type: 'stage.entered', stage: sp.name, previous: live.get(sp.name)?.release ?? null });
        return d;
      }
      case 'deploying':
        run(sp.name, 'deploy', { kind: 'deploy', stage: sp, release: j.release }, s);
        break;
      case 'verifying': {
        // Verify commands run one after another, in file order, and stop at the first failure.
        const next = sp.verify.find((v) => s.steps[verifyStep(v.name)]?.status !== 'passed');
        if (next)
          run(
            sp.name,
            verifyStep(next.name),
            { kind: 'command', purpose: 'verify', stage: sp.name, spec: next, release: j.release },
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
        // A step of this stage may still be running (e.g. rejected while verifying): the rollback waits for it.
        const stillRunning = Object.values(s.steps).some((st) => st.status === 'running' && st.name !== 'rollback');
        if (stillRunning) {
          for (const st of Object.values(s.steps))
            if (st.status === 'running') d.run.push(resumeRun(j, sp, s, st.name));
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
function takesStage(s: StageState | undefined): boolean {
  if (!s) return false;
  return (
    s.status === 'ready' || s.status === 'awaiting-promotion' || s.status === 'passed' || HOLDING_STATUSES.has(s.status)
  );
}

function resumeRun(j: JourneyState, sp: StagePlan, s: StageState, step: string): StepRun {
  const key = stepKey(j.id, sp.name, step);
  let effect: Effect;
  if (step === 'deploy') effect = { kind: 'deploy', stage: sp, release: j.release };
  else if (step === 'bake-check') effect = { kind: 'health', stage: sp, release: j.release };
  else if (step === 'rollback') effect = { kind: 'rollback', stage: sp, from: j.release, to: s.previous ?? null };
  else {
    const spec = sp.verify.find((v) => verifyStep(v.name) === step);
    if (!spec) throw new Error(`unknown step ${step} in stage ${sp.name}`);
    effect = { kind: 'command', purpose: 'verify', stage: sp.name, spec, release: j.release };
  }
  return { stage: sp.name, step, key, effect, started: true };
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
      if (c.steps[spec.name]?.status === 'running')
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
      const st = c.steps[spec.name];
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
      const dep = s.steps.deploy;
      if (dep?.status === 'passed')
        offer(s.name, dep.finishedId, { release: j.release, journeyId: j.id, via: 'deploy' });
      const rb = s.steps.rollback;
      if (rb?.status === 'passed')
        offer(s.name, rb.finishedId, { release: s.previous ?? null, journeyId: j.id, via: 'rollback' });
    }
  }
  return new Map([...best].map(([k, { id: _id, ...v }]) => [k, v]));
}
