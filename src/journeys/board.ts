import { own } from '../kernel/own.js';
import { liveReleases } from './journey-decider.js';
import type { ReleaseRef } from './journey-events.js';
import type { JourneyState, JourneyStatus, StageState, StageStatus, StepStatus } from './journey-reducer.js';
import type { Plan } from '../pipeline/pipeline.js';

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
}

export interface Board {
  app: string;
  stages: BoardStage[];
  journeys: JourneySummary[];
}

export function stageView(version: string, s: StageState): StageJourneyView {
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
  };
}

export function journeySummary(j: JourneyState): JourneySummary {
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
  };
}

const NOT_REACHED: ReadonlySet<StageStatus> = new Set(['waiting', 'skipped']);

/** The pipeline board: each stage with what it serves and the newest journey there. */
export function buildBoard(plan: Plan, journeys: readonly JourneyState[]): Board {
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
        latest: j ? stageView(j.release.version, own(j.stages, sp.name)!) : null,
      };
    }),
    journeys: newestFirst.map(journeySummary),
  };
}
