import { own } from '../kernel/own.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import type { ReleaseRef } from './journey-events.js';
import { liveReleases } from './journey-decider.js';
import { canaryStepName, type JourneyState, usesCanary } from './journey-reducer.js';

/**
 * What one stage should serve, as the journeys' events say. Targets and the router converge to it; their own files
 * are caches of it. Kept in the store beside the events (written in the same transaction) and rebuilt from the log.
 */
export interface DesiredStage {
  stage: string;
  /** What the stage's users reach, and the journey that put it there; null: nothing (never deployed, or rolled back to nothing). */
  stable: { release: ReleaseRef; journeyId: string } | null;
  /** A new version rolling out beside the stable one: its share of the users (0 while it is only deployed or previewed). */
  canary: { release: ReleaseRef; journeyId: string; weight: number } | null;
  /** The stage as planned by the journey that last changed it: instances, environment, stickiness, guard. */
  plan: StagePlan;
  /**
   * Scaled to zero (an idle environment, docs/adr/0029): its instances should not run, and its route holds requests
   * until it is woken. Absent: awake.
   */
  asleep?: boolean;
}

const ROLLING: ReadonlySet<string> = new Set(['rolling-out', 'paused', 'verifying']);

/** Pure: the desired state of every stage some journey has deployed to, from the journeys' states. */
export function desiredStages(journeys: readonly JourneyState[]): Map<string, DesiredStage> {
  const out = new Map<string, DesiredStage>();
  const live = liveReleases(journeys);
  const byId = new Map(journeys.map((j) => [j.id, j]));
  for (const [stage, l] of live) {
    const plan = byId.get(l.journeyId)?.plan.stages.find((s) => s.name === stage);
    if (plan) out.set(stage, { stage, stable: l.release ? { release: l.release, journeyId: l.journeyId } : null, canary: null, plan });
  }
  for (const j of journeys) {
    for (const sp of j.plan.stages) {
      const s = own(j.stages, sp.name)!;
      // A canary exists from its deploy until it is promoted (then it is the stable release, even while the stage
      // goes on verifying it); rolling back takes its users away at once.
      if (!usesCanary(sp, s) || s.steps.deploy?.status !== 'passed' || s.steps.promote?.status === 'passed' || !ROLLING.has(s.status)) continue;
      let weight = 0;
      if (sp.canary)
        sp.canary.steps.forEach((cs, i) => {
          if (cs.kind === 'setWeight' && own(s.steps, canaryStepName(i))) weight = cs.weight;
        });
      const base = out.get(sp.name);
      out.set(sp.name, {
        stage: sp.name,
        stable: base?.stable ?? null,
        canary: { release: j.release, journeyId: j.id, weight },
        plan: sp,
      });
    }
  }
  return out;
}

/** The stages whose desired state differs between two projections (added, changed or gone). */
export function changedStages(before: ReadonlyMap<string, DesiredStage>, after: ReadonlyMap<string, DesiredStage>): DesiredStage[] {
  const changed: DesiredStage[] = [];
  for (const [stage, d] of after) {
    const b = before.get(stage);
    if (!b || !sameDesired(b, d)) changed.push(d);
  }
  return changed;
}

function sameDesired(a: DesiredStage, b: DesiredStage): boolean {
  const ref = (x: { release: ReleaseRef; journeyId: string } | null) => (x ? `${x.journeyId}|${x.release.version}|${x.release.digest}` : '');
  return ref(a.stable) === ref(b.stable) && ref(a.canary) === ref(b.canary) && a.canary?.weight === b.canary?.weight && a.plan === b.plan;
}
