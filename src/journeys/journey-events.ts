import type { Actor } from '../kernel/actor.js';
import type { Plan } from '../pipeline/pipeline.js';

/** What a release is: a version pinned to one artifact digest. */
export interface ReleaseRef {
  version: string;
  digest: string;
}

/** The token that created a release: absent for releases made before it was recorded. */
export interface ReleaseCreator {
  id: string;
  name: string;
}

/** Which approval of a stage: before it deploys, or after it is verified and baked. */
export type ApprovalGate = 'before-deploy' | 'after-verify';

/** The name under which commit steps are recorded. It can never be a stage name. */
export const COMMIT_STAGE = 'commit';

/**
 * Everything that can happen to a journey. Events are facts, appended once and never changed;
 * the state of every stage is derived from them by `reduceJourney`.
 */
export type JourneyEvent =
  /** A release entered the pipeline, with the plan resolved from the file at that moment. */
  | { type: 'journey.created'; release: ReleaseRef; plan: Plan; createdBy?: ReleaseCreator }
  /** An effect was about to start. Its key makes re-running it after a crash a no-op. */
  | { type: 'step.started'; stage: string; step: string; key: string }
  /** An effect ended. `ok: false` fails the stage. */
  | {
    type: 'step.finished';
    stage: string;
    step: string;
    key: string;
    ok: boolean;
    exitCode: number | null;
    reason?: string;
    /** An analysis that could not decide: the rollout waits for a person (resume, or abort). */
    inconclusive?: boolean;
    /** Stopped because the stage is rolling back; neither a pass nor a failure. */
    cancelled?: boolean;
    /** What the step found, for people: an analysis's measurements, queries and statistics. */
    detail?: unknown;
  }
  /** Something worth a person's attention that does not fail the step (e.g. 80% of the commit budget used). */
  | { type: 'step.warned'; stage: string; step: string; message: string }
  /** The journey took the stage; `previous` is what the stage ran before, the rollback target. */
  | { type: 'stage.entered'; stage: string; previous: ReleaseRef | null }
  /** A person let the journey into a stage whose autoPromote is false. */
  | { type: 'stage.promoted'; stage: string; by: string }
  /**
   * A person approved the stage. `byId` is their token's id (absent in older logs: the name counts); `gate` says which
   * approval it counts for: before the deploy, or (absent) after verify.
   */
  | { type: 'stage.approved'; stage: string; by: string; byId?: string; gate?: ApprovalGate; comment?: string }
  | { type: 'stage.rejected'; stage: string; by: string; comment: string }
  /** Verification passed and the stage must now stay healthy until `until` (epoch ms). */
  | { type: 'stage.bake-started'; stage: string; until: number }
  /** A person asked for the stage to go back to `previous`. */
  | { type: 'stage.rollback-requested'; stage: string; by: string; reason: string }
  /** A person held the rollout where it is. */
  | { type: 'stage.paused'; stage: string; by: string }
  /** A person let the rollout go on: past a manual pause or an inconclusive analysis (`step`), or after stage.paused. */
  | { type: 'stage.resumed'; stage: string; by: string; step?: string }
  /**
   * The data plane's guard moved the canary's users back to stable (too many errors among its last answers); the
   * stage rolls back. `version` is the canary's.
   */
  | { type: 'stage.guard-tripped'; stage: string; version: string; reason: string }
  /** A person skipped the remaining canary steps: promote to 100% now. */
  | { type: 'stage.promoted-full'; stage: string; by: string }
  /** A person asked to run a failed journey again from the stages that failed; earlier attempts stay in the log. */
  | { type: 'journey.retried'; by: string }
  /** A newer release took the next stage first, so this journey stops where it is. */
  | { type: 'journey.superseded'; by: string };

/**
 * An event as stored: with its global id (total order across journeys), its position in the journey, its time, and
 * who caused it (a token for a person's command; Sluice, with the reason, for what the engine did).
 */
export type StoredEvent = JourneyEvent & { id: number; journeyId: string; seq: number; at: number; actor: Actor };

/** Who caused an event stored before events named their actor. */
export const LEGACY_ACTOR: Actor = { kind: 'system', reason: 'recorded before actors' };
