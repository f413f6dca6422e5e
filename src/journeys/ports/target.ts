import { workloadEnv } from '../../kernel/workload-env.js';
import type { StagePlan } from '../../pipeline/pipeline.js';
import type { DesiredStage } from '../desired-state.js';
import type { ReleaseRef } from '../journey-events.js';
import type { StepIO } from './step-workspace.js';

export type { StagePlan } from '../../pipeline/pipeline.js';
export type { DesiredStage } from '../desired-state.js';
export type { ReleaseRef } from '../journey-events.js';
export type { StepIO } from './step-workspace.js';

/**
 * The values of a stage's declared secrets, by name. Rejects, naming the command that sets it, when one is not set.
 * A stage that declares none gets `{}`.
 */
export type StageSecrets = (stage: { name: string; secrets?: readonly string[] }) => Promise<Record<string, string>>;

export interface TargetRequest {
  stage: StagePlan;
  /** The step's idempotency key: asking twice with one key does the work once. */
  key: string;
  io: StepIO;
}

/** What a prune of unpacked release folders did. */
export interface PruneResult {
  /** The folders it removed, by stage and the digest of the release unpacked there. */
  removed: { stage: string; digest: string }[];
  /** Folders it left only because they were used at or after the time it was given: worth another look later. */
  deferred: number;
}

/** What a target that can split traffic offers for canary rollouts. */
export interface CanaryOps {
  /** Starts `release` beside the stable version, with no traffic yet. */
  deployCanary(req: TargetRequest & { release: ReleaseRef }): Promise<void>;
  /** Sends `weight` percent of the stage's users to the canary, and verifies that the router took it. */
  setCanaryWeight(req: TargetRequest & { release: ReleaseRef; weight: number }): Promise<void>;
  /** Makes the canary the stable version at full size; the old version drains and stops. */
  promoteCanary(req: TargetRequest & { release: ReleaseRef }): Promise<void>;
  /** Where the canary answers alone, for verification before the switch and for testers. */
  previewUrl(stage: StagePlan): string;
}

/** Every place Sluice can deploy to implements this. One contract suite (target.contract.ts) runs against each. */
export interface Target {
  readonly kind: StagePlan['target'];
  /** Puts `release` on the stage and returns once it serves (or throws saying why it does not). */
  deploy(req: TargetRequest & { release: ReleaseRef }): Promise<void>;
  /** Puts `to` back on the stage (or takes the stage down when `to` is null). */
  rollback(req: TargetRequest & { from: ReleaseRef; to: ReleaseRef | null }): Promise<void>;
  /** Whether the stage is healthy now, with a sentence for people. */
  health(req: TargetRequest & { release: ReleaseRef }): Promise<{ ok: boolean; detail: string }>;
  /** The URL the stage answers at, handed to verify commands as SLUICE_STAGE_URL. */
  url(stage: StagePlan): string | undefined;
  /**
   * Called once at start-up with what each stage should serve (the desired state kept with the event log) and the step
   * keys the engine is about to resume. The target converges to it: it adopts what still runs, and rebuilds what its
   * own files no longer say (a missing or corrupt file is a cache, never a reason to fail).
   */
  restore(desired: DesiredStage[], resuming: ReadonlySet<string>): Promise<void>;
  /**
   * Removes the unpacked release folders of every stage of this target except those of the releases `keep` names for
   * the stage (none for a stage it does not name) and those the target's own state still needs (what runs there,
   * starts, drains, or runs as a canary). A folder used at or after `unusedSince` (epoch ms) stays, and is counted as
   * deferred. A release whose folder was removed can still be deployed while its artifact is stored: it is unpacked
   * again.
   */
  pruneReleases(keep: ReadonlyMap<string, ReadonlySet<string>>, unusedSince: number): Promise<PruneResult>;
  /**
   * Removes every trace of a stage that no longer exists (a destroyed environment): its routes, anything of it still
   * running, and its folder with the releases unpacked there. Call it after taking the stage down (`rollback` to null).
   */
  forgetStage(stage: string): Promise<void>;
  /** The control plane stops: stop watching. What runs keeps running and serving. */
  close(): Promise<void>;
  /** Present on targets that can run canaries. */
  readonly canary?: CanaryOps;
}

/** The name of a release's unpacked folder under a stage's `releases/`: `sha256-<hex>`. */
export function releaseFolder(digest: string): string {
  return digest.replace(':', '-');
}

/** The digest a release folder's name stands for; undefined for any other name. */
export function digestOfReleaseFolder(name: string): string | undefined {
  const m = /^sha256-([0-9a-f]{64})$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

/**
 * Environment every process and command gets for a stage and a release: see `workloadEnv` (Sluice's own environment
 * only through its allow-list, the stage's `env`, the stage's secrets, and the `SLUICE_*` variables set here).
 */
export function releaseEnv(
  host: Readonly<Record<string, string | undefined>>,
  stage: StagePlan,
  release: ReleaseRef | null,
  extra: Record<string, string> = {},
  secrets: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return workloadEnv({
    host,
    stageEnv: stage.env,
    secrets,
    sluice: {
      SLUICE_STAGE: stage.name,
      SLUICE_CONFIG: JSON.stringify(stage.config),
      ...(release ? { SLUICE_RELEASE_VERSION: release.version, SLUICE_ARTIFACT_DIGEST: release.digest } : {}),
      ...extra,
    },
  });
}
