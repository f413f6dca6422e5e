import { own } from '../kernel/own.js';
import { type ApprovalGate, COMMIT_STAGE, type ReleaseCreator, type ReleaseRef, type StoredEvent } from './journey-events.js';
import type { Plan, StagePlan } from '../pipeline/pipeline.js';

/**
 * Step statuses:
 * - running: started and not yet finished (possibly interrupted by a crash; the executor resumes it by key).
 * - passed / failed: finished with that outcome.
 * - inconclusive: an analysis that could not decide; the rollout waits for a person.
 * - cancelled: stopped because the stage rolls back.
 */
export type StepStatus = 'running' | 'passed' | 'failed' | 'inconclusive' | 'cancelled';

export interface StepState {
  name: string;
  key: string;
  status: StepStatus;
  startedAt: number;
  finishedAt?: number;
  /** Global id of the finishing event: orders outcomes across journeys. */
  finishedId?: number;
  exitCode?: number | null;
  reason?: string;
  detail?: unknown;
}

/**
 * Stage statuses, in the order a stage normally passes through them:
 * - waiting: a parent stage (or the commit stage) has not passed yet.
 * - awaiting-promotion: parents passed, but autoPromote is false and nobody has promoted yet.
 * - ready: may enter as soon as no other journey holds the stage.
 * - deploying, verifying, baking: the journey holds the stage and is working on it.
 * - rolling-out: a canary takes a growing share of the traffic, step by step, under analysis.
 * - paused: the rollout waits for a person (a pause without duration, an inconclusive analysis, or sluice pause).
 * - awaiting-approval: verified and baked, or (with approval before deploy) entered and not yet deployed; people must
 *   approve (as many distinct tokens as the stage's protection asks) or one reject.
 * - passed: every gate held; children may start.
 * - rolling-back: a step failed, a person rejected, or a rollback was asked for; the previous release is being restored.
 * - rolled-back: the previous release is back.
 * - failed: the commit stage failed, or the rollback itself failed.
 * - skipped: the journey ended (failed or superseded) before reaching the stage.
 */
export type StageStatus =
  | 'waiting'
  | 'awaiting-promotion'
  | 'ready'
  | 'deploying'
  | 'rolling-out'
  | 'paused'
  | 'verifying'
  | 'baking'
  | 'awaiting-approval'
  | 'passed'
  | 'rolling-back'
  | 'rolled-back'
  | 'failed'
  | 'skipped';

/** Statuses in which the journey holds the stage, so no other journey may enter it. */
export const HOLDING_STATUSES: ReadonlySet<StageStatus> = new Set([
  'deploying',
  'rolling-out',
  'paused',
  'verifying',
  'baking',
  'awaiting-approval',
  'rolling-back',
]);

/** One person's approval of a stage. `byId` is the token's id (absent in older logs). */
export interface Approval {
  by: string;
  byId?: string;
  gate: ApprovalGate;
  at: number;
  comment?: string;
}

export interface StageState {
  name: string;
  status: StageStatus;
  entered: boolean;
  enteredAt?: number;
  /** What the stage ran before this journey entered it: the rollback target. */
  previous?: ReleaseRef | null;
  /** Step names in start order. */
  stepOrder: string[];
  steps: Record<string, StepState>;
  warnings: string[];
  promotedBy?: string;
  /** Approvals in the order given; one per token and gate. */
  approvals: Approval[];
  rejection?: { by: string; comment: string; at: number };
  bakeUntil?: number;
  rollbackRequest?: { by: string; reason: string; at: number };
  /** Set by stage.paused, cleared by a stage.resumed without a step. */
  pausedBy?: string;
  /** Steps (manual pauses, inconclusive analyses) a person let the rollout go past. */
  resumedSteps: string[];
  promotedFullBy?: string;
  /** The data plane's guard cut the canary off. */
  guardTrip?: { reason: string; at: number };
  /** Why the stage failed, in words for people. */
  failure?: string;
}

/**
 * Journey statuses:
 * - running: work remains (including a rollback under way, or a person's decision awaited).
 * - succeeded: every stage passed.
 * - failed: a stage failed, was rejected or rolled back; nothing runs any more.
 * - superseded: a newer release took a stage first; nothing runs any more.
 */
export type JourneyStatus = 'running' | 'succeeded' | 'failed' | 'superseded';

export interface JourneyState {
  id: string;
  /** Global id of the creating event: newer journeys have larger ordinals. */
  ordinal: number;
  release: ReleaseRef;
  plan: Plan;
  createdAt: number;
  updatedAt: number;
  /** Seq of the last event applied. */
  seq: number;
  /** 0 for the first run; each journey.retried adds one. Step keys carry it, so a retried step runs again. */
  attempt: number;
  status: JourneyStatus;
  commit: StageState;
  stages: Record<string, StageState>;
  supersededBy?: string;
  /** The token that created the release (absent for releases made before it was recorded). */
  createdBy?: ReleaseCreator;
  /** The first failure, for headlines. */
  failure?: { stage: string; reason: string };
}

const emptyStage = (name: string): StageState => ({
  name,
  status: 'waiting',
  entered: false,
  stepOrder: [],
  steps: {},
  warnings: [],
  resumedSteps: [],
  approvals: [],
});

/** Builds a journey's state from its events. Pure: same events, same state. */
export function reduceJourney(events: readonly StoredEvent[]): JourneyState {
  const [first, ...rest] = events;
  if (first?.type !== 'journey.created') throw new Error('a journey starts with journey.created');
  let state: JourneyState = {
    id: first.journeyId,
    ordinal: first.id,
    release: first.release,
    plan: first.plan,
    createdAt: first.at,
    updatedAt: first.at,
    seq: first.seq,
    attempt: 0,
    status: 'running',
    commit: { ...emptyStage(COMMIT_STAGE), entered: true, enteredAt: first.at },
    stages: Object.fromEntries(first.plan.stages.map((s) => [s.name, emptyStage(s.name)])),
    ...(first.createdBy ? { createdBy: first.createdBy } : {}),
  };
  state = derive(state);
  for (const e of rest) state = applyEvent(state, e);
  return state;
}

/** Applies one more event. Returns a new state; the old one is left as it was. */
export function applyEvent(prev: JourneyState, e: StoredEvent): JourneyState {
  if (e.journeyId !== prev.id) throw new Error(`event of ${e.journeyId} applied to ${prev.id}`);
  const j: JourneyState = { ...prev, stages: { ...prev.stages }, seq: e.seq, updatedAt: e.at };
  const stageOf = (name: string): StageState | undefined => {
    if (name === COMMIT_STAGE) {
      j.commit = { ...j.commit, steps: { ...j.commit.steps } };
      return j.commit;
    }
    const s = own(j.stages, name);
    if (!s) return undefined;
    const copy = { ...s, steps: { ...s.steps } };
    j.stages[name] = copy;
    return copy;
  };
  switch (e.type) {
    case 'journey.created':
      throw new Error('journey.created may only come first');
    case 'journey.superseded':
      j.supersededBy = e.by;
      break;
    case 'journey.retried': {
      if (prev.status !== 'failed') break;
      j.attempt = prev.attempt + 1;
      // Stages that failed, rolled back or never ran start afresh; those that passed stay passed.
      if (j.commit.status === 'failed') j.commit = { ...emptyStage(COMMIT_STAGE), entered: true, enteredAt: e.at };
      for (const [name, s] of Object.entries(j.stages))
        if (s.status === 'failed' || s.status === 'rolled-back' || s.status === 'skipped') j.stages[name] = emptyStage(name);
      break;
    }
    case 'step.started': {
      const s = stageOf(e.stage);
      if (!s || own(s.steps, e.step)) break;
      s.steps[e.step] = { name: e.step, key: e.key, status: 'running', startedAt: e.at };
      s.stepOrder = [...s.stepOrder, e.step];
      break;
    }
    case 'step.finished': {
      const s = stageOf(e.stage);
      const step = s ? own(s.steps, e.step) : undefined;
      if (!s || !step || step.status !== 'running') break;
      s.steps[e.step] = {
        ...step,
        status: e.cancelled ? 'cancelled' : e.inconclusive ? 'inconclusive' : e.ok ? 'passed' : 'failed',
        finishedAt: e.at,
        finishedId: e.id,
        exitCode: e.exitCode,
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.detail !== undefined ? { detail: e.detail } : {}),
      };
      break;
    }
    case 'step.warned': {
      const s = stageOf(e.stage);
      if (s) s.warnings = [...s.warnings, e.message];
      break;
    }
    case 'stage.entered': {
      const s = stageOf(e.stage);
      if (s && !s.entered) Object.assign(s, { entered: true, enteredAt: e.at, previous: e.previous });
      break;
    }
    case 'stage.promoted': {
      const s = stageOf(e.stage);
      if (s) s.promotedBy = e.by;
      break;
    }
    case 'stage.approved': {
      const s = stageOf(e.stage);
      const gate = e.gate ?? 'after-verify';
      const who = e.byId ?? e.by;
      if (s && !s.rejection && !s.approvals.some((a) => a.gate === gate && approverOf(a) === who))
        s.approvals = [
          ...s.approvals,
          { by: e.by, gate, at: e.at, ...(e.byId !== undefined ? { byId: e.byId } : {}), ...(e.comment !== undefined ? { comment: e.comment } : {}) },
        ];
      break;
    }
    case 'stage.rejected': {
      const s = stageOf(e.stage);
      if (s && !s.rejection) s.rejection = { by: e.by, comment: e.comment, at: e.at };
      break;
    }
    case 'stage.bake-started': {
      const s = stageOf(e.stage);
      if (s && s.bakeUntil === undefined) s.bakeUntil = e.until;
      break;
    }
    case 'stage.paused': {
      const s = stageOf(e.stage);
      if (s) s.pausedBy = e.by;
      break;
    }
    case 'stage.resumed': {
      const s = stageOf(e.stage);
      if (!s) break;
      if (e.step === undefined) delete s.pausedBy;
      else if (!s.resumedSteps.includes(e.step)) s.resumedSteps = [...s.resumedSteps, e.step];
      break;
    }
    case 'stage.promoted-full': {
      const s = stageOf(e.stage);
      if (s && !s.promotedFullBy) s.promotedFullBy = e.by;
      break;
    }
    case 'stage.guard-tripped': {
      const s = stageOf(e.stage);
      if (s && !s.guardTrip && e.version === prev.release.version) s.guardTrip = { reason: e.reason, at: e.at };
      break;
    }
    case 'stage.rollback-requested': {
      const s = stageOf(e.stage);
      if (s && !s.rollbackRequest) s.rollbackRequest = { by: e.by, reason: e.reason, at: e.at };
      break;
    }
  }
  return derive(j);
}

/** Recomputes every status from the facts. */
function derive(j: JourneyState): JourneyState {
  j.commit = deriveCommit(j.commit, j.plan);
  const failures: { stage: string; reason: string }[] = [];
  if (j.commit.failure) failures.push({ stage: COMMIT_STAGE, reason: j.commit.failure });
  const ended = () => failures.length > 0 || j.supersededBy !== undefined;
  for (const sp of j.plan.stages) {
    const before = own(j.stages, sp.name)!;
    const parentsPassed = j.commit.status === 'passed' && sp.after.every((p) => own(j.stages, p)?.status === 'passed');
    const next = deriveStage(before, sp, parentsPassed, ended());
    if (next.failure) failures.push({ stage: sp.name, reason: next.failure });
    if (next.status !== before.status || next.failure !== before.failure) j.stages[sp.name] = next;
  }
  j.failure = failures[0];
  const all = [j.commit, ...Object.values(j.stages)];
  const busy =
    all.some((s) => HOLDING_STATUSES.has(s.status) && s.status !== 'awaiting-approval') ||
    all.some((s) => Object.values(s.steps).some((st) => st.status === 'running'));
  if (j.failure) j.status = busy || all.some((s) => s.status === 'awaiting-approval') ? 'running' : 'failed';
  else if (j.supersededBy !== undefined) j.status = busy ? 'running' : 'superseded';
  else if (j.plan.stages.every((s) => own(j.stages, s.name)?.status === 'passed')) j.status = 'succeeded';
  else j.status = 'running';
  return j;
}

function deriveCommit(s: StageState, plan: Plan): StageState {
  const steps = plan.commit.steps.map((c) => own(s.steps, c.name));
  const failed = steps.find((st) => st?.status === 'failed');
  let status: StageStatus;
  let failure: string | undefined;
  if (failed) {
    status = 'failed';
    failure = `commit step "${failed.name}" failed${failed.reason ? `: ${failed.reason}` : ''}`;
  } else if (steps.every((st) => st?.status === 'passed')) status = 'passed';
  else if (steps.some((st) => st !== undefined)) status = 'verifying';
  else status = 'ready';
  if (status === s.status && failure === s.failure) return s;
  return { ...s, status, ...(failure ? { failure } : {}) };
}

function deriveStage(s: StageState, sp: StagePlan, parentsPassed: boolean, journeyEnded: boolean): StageState {
  let status: StageStatus;
  let failure: string | undefined;
  if (!s.entered) {
    if (journeyEnded) status = 'skipped';
    else if (!parentsPassed) status = 'waiting';
    else status = !sp.autoPromote && s.promotedBy === undefined ? 'awaiting-promotion' : 'ready';
  } else {
    // The first step to fail, in time (steps run side by side in a canary).
    const failedStep = s.stepOrder
      .map((n) => own(s.steps, n)!)
      .filter((st) => st.status === 'failed' && st.name !== 'rollback')
      .sort((a, b) => (a.finishedId ?? 0) - (b.finishedId ?? 0))[0];
    if (failedStep) failure = `${failedStep.name} failed${failedStep.reason ? `: ${failedStep.reason}` : ''}`;
    else if (s.guardTrip) failure = `the data plane's guard cut the canary off: ${s.guardTrip.reason}`;
    else if (s.rejection) failure = `rejected by ${s.rejection.by}${s.rejection.comment ? `: ${s.rejection.comment}` : ''}`;
    else if (s.rollbackRequest)
      failure = `rolled back by ${s.rollbackRequest.by}${s.rollbackRequest.reason ? `: ${s.rollbackRequest.reason}` : ''}`;
    const rollback = s.steps.rollback;
    const deploy = s.steps.deploy;
    const verified = sp.verify.every((v) => own(s.steps, `verify:${v.name}`)?.status === 'passed');
    if (rollback?.status === 'failed') {
      status = 'failed';
      failure = `${failure ?? 'stage failed'}; rollback failed${rollback.reason ? `: ${rollback.reason}` : ''}`;
    } else if (rollback?.status === 'passed') status = 'rolled-back';
    // Nothing ran yet (e.g. rejected before its deploy): the stage still serves what it did, there is nothing to undo.
    else if (failure) status = s.stepOrder.length === 0 ? 'rolled-back' : 'rolling-back';
    else if (deploy === undefined && sp.approvalBeforeDeploy && approvalCount(s, 'before-deploy') < approvalsRequired(sp)) status = 'awaiting-approval';
    else if (deploy?.status !== 'passed') status = 'deploying';
    else if (verifiesPreview(sp, s) && !verified) status = 'verifying';
    else if (usesCanary(sp, s) && s.steps.promote?.status !== 'passed') status = canaryWaiting(sp, s) ? 'paused' : 'rolling-out';
    else if (!verified) status = 'verifying';
    else if (sp.bakeMs > 0 && own(s.steps, 'bake-check')?.status !== 'passed') status = 'baking';
    else if (sp.approval && approvalCount(s, 'after-verify') < approvalsRequired(sp)) status = 'awaiting-approval';
    else status = 'passed';
  }
  if (status === s.status && failure === s.failure) return s;
  const next: StageState = { ...s, status };
  if (failure) next.failure = failure;
  else delete next.failure;
  return next;
}

/** Who gave an approval: the token's id, or its name in logs from before ids were recorded. */
export const approverOf = (a: Approval): string => a.byId ?? a.by;

/** The distinct approvals a stage needs at each of its approval gates. */
export const approvalsRequired = (sp: StagePlan): number => sp.protection?.approvals ?? 1;

/** Distinct approvers at one gate. */
export function approvalCount(s: StageState, gate: ApprovalGate): number {
  return new Set(s.approvals.filter((a) => a.gate === gate).map(approverOf)).size;
}

/** The approval a stage waiting for one waits for: before its deploy when nothing was deployed yet, else after verify. */
export function pendingGate(sp: StagePlan, s: StageState): ApprovalGate {
  return sp.approvalBeforeDeploy && s.steps.deploy === undefined ? 'before-deploy' : 'after-verify';
}

/** A stage rolls out as a canary when its plan says so and something already runs there to compare with. */
export function usesCanary(sp: StagePlan, s: StageState): boolean {
  return sp.canary !== undefined && s.previous != null;
}

/** Blue-green: verify commands run against the preview host, before the switch. */
export function verifiesPreview(sp: StagePlan, s: StageState): boolean {
  return usesCanary(sp, s) && sp.canary!.preview && s.steps.promote?.status !== 'passed';
}

export const canaryStepName = (i: number) => `canary:${i}`;
export const BACKGROUND_ANALYSIS = 'canary:background';

/** A canary step is done when it passed, or was inconclusive and a person resumed past it. */
export function canaryStepDone(s: StageState, name: string): boolean {
  const st = own(s.steps, name);
  return st?.status === 'passed' || (st?.status === 'inconclusive' && s.resumedSteps.includes(name));
}

/** The index of the first canary step not done, or -1 when all are (or a person promoted in full). */
export function currentCanaryStep(sp: StagePlan, s: StageState): number {
  if (!sp.canary || s.promotedFullBy !== undefined) return -1;
  return sp.canary.steps.findIndex((_, i) => !canaryStepDone(s, canaryStepName(i)));
}

/** True when the rollout waits for a person. */
function canaryWaiting(sp: StagePlan, s: StageState): boolean {
  if (s.promotedFullBy !== undefined) return false;
  if (s.pausedBy !== undefined) return true;
  const i = currentCanaryStep(sp, s);
  // The steps are done; a background analysis that could not decide on the whole rollout waits for a person.
  if (i < 0) return own(s.steps, BACKGROUND_ANALYSIS)?.status === 'inconclusive' && !s.resumedSteps.includes(BACKGROUND_ANALYSIS);
  const name = canaryStepName(i);
  const st = own(s.steps, name);
  const step = sp.canary!.steps[i]!;
  if (st?.status === 'inconclusive') return true;
  return step.kind === 'pause' && step.durationMs === undefined && st?.status === 'running' && !s.resumedSteps.includes(name);
}
