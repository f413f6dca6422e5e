import { own } from '../kernel/own.js';
import { laneWait, liveReleases } from './journey-decider.js';
import type { ApprovalGate, ReleaseRef } from './journey-events.js';
import { approvalCount, approvalsRequired, type JourneyState, type JourneyStatus, pendingGate, type StageState, type StageStatus, type StepStatus } from './journey-reducer.js';
import type { Plan, StagePlan } from '../pipeline/pipeline.js';
import { type DeployHold, deployHold } from './protection.js';

export interface StepView {
  name: string;
  status: StepStatus;
  durationMs?: number;
  reason?: string;
  /** What the step found: for an analysis, the judge request it built and the verdict. */
  detail?: unknown;
}

export interface StageJourneyView {
  version: string;
  status: StageStatus;
  failure?: string;
  warnings: string[];
  steps: StepView[];
  bakeUntil?: number;
  /** Awaiting approval: which one, how many distinct tokens approved, how many must, and who did. */
  approvals?: { gate: ApprovalGate; received: number; required: number; by: string[] };
  /** Ready to deploy but held by the stage's deploy windows or a freeze: why, and until when. */
  hold?: DeployHold;
}

export interface BoardStage {
  name: string;
  after: string[];
  target: string;
  /** What the stage serves now. */
  live: ReleaseRef | null;
  /** The newest journey that reached this stage (or is about to), if any. */
  latest: StageJourneyView | null;
}

export interface JourneySummary {
  /** The journey's own id. */
  id: string;
  version: string;
  digest: string;
  status: JourneyStatus;
  createdAt: number;
  updatedAt: number;
  failure?: { stage: string; reason: string };
  commit: StageJourneyView;
  stages: Record<string, StageStatus>;
  /** Waiting for a stage with a lane: the releases in it that have not reached the last stages, and those queued before. */
  lane?: { stage: string; ahead: string[]; before: string[] };
}

export interface Board {
  app: string;
  stages: BoardStage[];
  journeys: JourneySummary[];
}

/** A stage of one journey for people; with its plan and the time, what it waits for (approvals, a window, a freeze). */
export function stageView(version: string, s: StageState, sp?: StagePlan, now?: number): StageJourneyView {
  let approvals: StageJourneyView['approvals'];
  if (sp && s.status === 'awaiting-approval') {
    const gate = pendingGate(sp, s);
    const by = s.approvals.filter((a) => a.gate === gate).map((a) => a.by);
    approvals = { gate, received: approvalCount(s, gate), required: approvalsRequired(sp), by };
  }
  const waitsToDeploy = s.status === 'ready' || (s.status === 'deploying' && s.steps.deploy === undefined);
  const hold = sp && now !== undefined && waitsToDeploy ? deployHold(sp.protection, now) : undefined;
  return {
    version,
    status: s.status,
    warnings: s.warnings,
    steps: s.stepOrder.map((n) => {
      const st = own(s.steps, n)!;
      return {
        name: n,
        status: st.status,
        ...(st.finishedAt !== undefined ? { durationMs: st.finishedAt - st.startedAt } : {}),
        ...(st.reason ? { reason: st.reason } : {}),
        ...(st.detail !== undefined ? { detail: st.detail } : {}),
      };
    }),
    ...(s.failure ? { failure: s.failure } : {}),
    ...(s.bakeUntil !== undefined ? { bakeUntil: s.bakeUntil } : {}),
    ...(approvals ? { approvals } : {}),
    ...(hold ? { hold } : {}),
  };
}

/** A journey's headline; given every journey, also the lane it waits in, if any. */
export function journeySummary(j: JourneyState, journeys?: readonly JourneyState[]): JourneySummary {
  const laneStage = journeys && j.status === 'running' ? j.plan.stages.find((sp) => sp.lane && own(j.stages, sp.name)?.status === 'ready') : undefined;
  const waits = laneStage && laneWait(j, laneStage, journeys!);
  return {
    id: j.id,
    version: j.release.version,
    digest: j.release.digest,
    status: j.status,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    ...(j.failure ? { failure: j.failure } : {}),
    commit: stageView(j.release.version, j.commit),
    stages: Object.fromEntries(Object.values(j.stages).map((s) => [s.name, s.status])),
    ...(waits ? { lane: { stage: laneStage!.name, ...waits } } : {}),
  };
}

const NOT_REACHED: ReadonlySet<StageStatus> = new Set(['waiting', 'skipped']);

/** The pipeline board: each stage with what it serves and the newest journey there (and, given the time, what holds it). */
export function buildBoard(plan: Plan, journeys: readonly JourneyState[], now?: number): Board {
  const live = liveReleases(journeys);
  const newestFirst = [...journeys].sort((a, b) => b.ordinal - a.ordinal);
  return {
    app: plan.app,
    stages: plan.stages.map((sp) => {
      const j = newestFirst.find((x) => own(x.stages, sp.name) && !NOT_REACHED.has(own(x.stages, sp.name)!.status));
      return {
        name: sp.name,
        after: sp.after,
        target: sp.target,
        live: live.get(sp.name)?.release ?? null,
        latest: j ? stageView(j.release.version, own(j.stages, sp.name)!, j.plan.stages.find((p) => p.name === sp.name), now) : null,
      };
    }),
    journeys: newestFirst.map((j) => journeySummary(j, journeys)),
  };
}
