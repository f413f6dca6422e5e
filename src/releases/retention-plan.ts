import { own } from '../kernel/own.js';
import { desiredStages } from '../journeys/desired-state.js';
import { liveReleases } from '../journeys/journey-decider.js';
import type { ReleaseRef } from '../journeys/journey-events.js';
import { HOLDING_STATUSES, type JourneyState, type StageStatus, type StepState } from '../journeys/journey-reducer.js';
import type { ReleaseRecord } from './ports/release-store.js';

/** How many releases each stage keeps on disk when nothing says otherwise. */
export const DEFAULT_KEEP_RELEASES = 5;

/**
 * Why a release is kept, the first that applies in this order:
 * - serving: the stage's users reach it (its stable release).
 * - canary: it rolls out beside the stable release.
 * - rollback-target: the stage goes back to it when a person asks for a rollback, or when the journey that holds
 *   the stage fails there.
 * - in-flight: its journey still runs (or was only just created), and may deploy it anywhere its plan goes.
 * - newest: it is among the newest releases the stage ran.
 * - recent-release: it is among the newest releases created, so a failed one can still be retried (artifacts only).
 */
export type KeepReason = 'serving' | 'canary' | 'rollback-target' | 'in-flight' | 'newest' | 'recent-release';

const PRECEDENCE: readonly KeepReason[] = ['serving', 'canary', 'rollback-target', 'in-flight', 'newest', 'recent-release'];

/** Records `reason` for `digest` unless a reason that comes earlier is there already. */
function note(m: Map<string, KeepReason>, digest: string, reason: KeepReason): void {
  const had = m.get(digest);
  if (had === undefined || PRECEDENCE.indexOf(reason) < PRECEDENCE.indexOf(had)) m.set(digest, reason);
}

/** Stage statuses after which the journey never deploys to the stage again (short of a retry, which needs it failed). */
const DONE: ReadonlySet<StageStatus> = new Set(['passed', 'rolled-back', 'failed', 'skipped']);

/** What a retention pass keeps; everything else may go. */
export interface RetentionPlan {
  /** Per stage, the releases (by digest) whose unpacked folders stay there, each with why. */
  stages: Map<string, Map<string, KeepReason>>;
  /** The artifacts (by digest) that stay in the artifact store, each with why. */
  artifacts: Map<string, KeepReason>;
}

export interface RetentionInput {
  journeys: readonly JourneyState[];
  /** Every release recorded; those whose journey is not among `journeys` yet count as in flight. */
  releases: readonly Pick<ReleaseRecord, 'version' | 'digest' | 'createdAt' | 'journeyId'>[];
  /** How many of the newest releases each stage ran it keeps (at least 1). */
  keep: number;
}

/**
 * Pure: what stays on disk, from the journeys' states. Each stage keeps the newest `keep` releases it ran (deployed,
 * promoted or rolled back to), and always, whatever `keep` is, what it serves, its canary, its rollback target and
 * the release of every journey still running. An artifact stays while any stage keeps it, while a running journey
 * needs it, or while it belongs to one of the newest `keep` releases created.
 */
export function retentionPlan({ journeys, releases, keep }: RetentionInput): RetentionPlan {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a whole number of at least 1, got ${keep}`);
  const stages = new Map<string, Map<string, KeepReason>>();
  const keepAt = (stage: string, release: ReleaseRef | null | undefined, reason: KeepReason) => {
    if (!release) return;
    let m = stages.get(stage);
    if (!m) stages.set(stage, (m = new Map()));
    note(m, release.digest, reason);
  };

  for (const d of desiredStages(journeys).values()) {
    keepAt(d.stage, d.stable?.release, 'serving');
    keepAt(d.stage, d.canary?.release, 'canary');
  }
  const byId = new Map(journeys.map((j) => [j.id, j]));
  for (const [stage, live] of liveReleases(journeys)) {
    // After a rollback nothing further back is offered (sluice rollback refuses), so only a deploy leaves a target.
    if (live.via === 'deploy') keepAt(stage, byId.get(live.journeyId)?.stages[stage]?.previous, 'rollback-target');
  }
  const inFlight = journeys.filter((j) => j.status === 'running');
  for (const j of inFlight) {
    for (const sp of j.plan.stages) {
      const s = own(j.stages, sp.name);
      if (!s || DONE.has(s.status)) continue;
      // A stage the journey holds goes back to what ran before it if a step fails or a person rejects or aborts.
      if (HOLDING_STATUSES.has(s.status)) keepAt(sp.name, s.previous, 'rollback-target');
      keepAt(sp.name, j.release, 'in-flight');
    }
  }

  // The releases each stage ran, newest first by when they last started serving there.
  const ran = new Map<string, { digest: string; at: number; release: ReleaseRef }[]>();
  const offer = (stage: string, release: ReleaseRef | null | undefined, step: StepState | undefined) => {
    if (!release || step?.status !== 'passed' || step.finishedId === undefined) return;
    const list = ran.get(stage) ?? [];
    list.push({ digest: release.digest, at: step.finishedId, release });
    ran.set(stage, list);
  };
  for (const j of journeys)
    for (const s of Object.values(j.stages)) {
      offer(s.name, j.release, s.steps.deploy);
      offer(s.name, j.release, s.steps.promote);
      offer(s.name, s.previous, s.steps.rollback);
    }
  for (const [stage, list] of ran) {
    const newest = new Set<string>();
    for (const r of list.sort((a, b) => b.at - a.at)) {
      if (newest.size >= keep) break;
      if (newest.has(r.digest)) continue;
      newest.add(r.digest);
      keepAt(stage, r.release, 'newest');
    }
  }

  const artifacts = new Map<string, KeepReason>();
  for (const m of stages.values()) for (const [digest, reason] of m) note(artifacts, digest, reason);
  for (const j of inFlight) note(artifacts, j.release.digest, 'in-flight');
  for (const r of releases) if (!byId.has(r.journeyId)) note(artifacts, r.digest, 'in-flight');
  // Records made in the same millisecond are told apart by their journeys' order; one not loaded yet is the newest.
  const ordinal = (r: { journeyId: string }) => byId.get(r.journeyId)?.ordinal ?? Number.MAX_SAFE_INTEGER;
  const created = [...releases].sort((a, b) => b.createdAt - a.createdAt || ordinal(b) - ordinal(a));
  for (const r of created.slice(0, keep)) note(artifacts, r.digest, 'recent-release');
  return { stages, artifacts };
}
