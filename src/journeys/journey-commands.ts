import { own } from '../kernel/own.js';
import type { Role, TokenActor } from '../kernel/actor.js';
import { SluiceError } from '../kernel/errors.js';
import { liveReleases } from './journey-decider.js';
import type { JourneyEvent } from './journey-events.js';
import {
  approvalCount,
  approvalsRequired,
  BACKGROUND_ANALYSIS,
  canaryStepName,
  currentCanaryStep,
  type JourneyState,
  pendingGate,
  type StageState,
  type StageStatus,
} from './journey-reducer.js';
import { DEFAULT_APPROVERS, DEFAULT_PROMOTERS, deployHold, requireRole } from './protection.js';

/** The events a person's command adds, and the journey they go to. Each function validates and changes nothing itself. */
export interface CommandResult {
  journeyId: string;
  event: JourneyEvent;
}

function pickStage(j: JourneyState, stage: string | undefined, wanted: StageStatus[], verb: string): StageState {
  if (stage !== undefined) {
    const s = own(j.stages, stage);
    if (!s) throw new SluiceError('NOT_FOUND', `release ${j.release.version} has no stage "${stage}"`, { stage });
    if (!wanted.includes(s.status))
      throw new SluiceError(
        'INVALID_STATE',
        `cannot ${verb} ${j.release.version} at ${stage}: the stage is ${s.status}, not ${wanted.join(' or ')}`,
        { stage, status: s.status },
      );
    return s;
  }
  const s = j.plan.stages.map((p) => own(j.stages, p.name)!).find((x) => wanted.includes(x.status));
  if (!s)
    throw new SluiceError('INVALID_STATE', `release ${j.release.version} has no stage that is ${wanted.join(' or ')}`, {
      stages: Object.fromEntries(Object.values(j.stages).map((x) => [x.name, x.status])),
    });
  return s;
}

/**
 * Lets the journey into a stage whose autoPromote is false (without a stage, the first one waiting);
 * with `full`, skips a canary's remaining steps and promotes it to all traffic now. The stage's protection decides
 * who may (FORBIDDEN), and a promotion outside its deploy windows or inside a freeze is refused, naming the next opening.
 */
export function promoteCommand(
  j: JourneyState,
  stage: string | undefined,
  actor: TokenActor,
  now: number,
  full = false,
  defaultPromoters: readonly Role[] = DEFAULT_PROMOTERS,
): CommandResult {
  const by = actor.name;
  if (full) {
    const s = pickStage(j, stage, ['rolling-out', 'paused'], 'promote in full');
    requireRole(actor, planOf(j, s).protection?.promote ?? DEFAULT_PROMOTERS, `promote ${j.release.version} at ${s.name}`);
    return { journeyId: j.id, event: { type: 'stage.promoted-full', stage: s.name, by } };
  }
  const s = pickStage(j, stage, ['awaiting-promotion'], 'promote');
  const sp = planOf(j, s);
  // `defaultPromoters`: who promotes where the stage's protection names nobody (an environment's review adds its reviewers, ADR 27).
  requireRole(actor, sp.protection?.promote ?? defaultPromoters, `promote ${j.release.version} into ${s.name}`);
  const hold = deployHold(sp.protection, now);
  if (hold)
    throw new SluiceError('INVALID_STATE', `cannot promote ${j.release.version} into ${s.name} now: ${hold.message}`, {
      stage: s.name,
      hold: hold.kind,
      opensAt: new Date(hold.until).toISOString(),
      ...(hold.reason ? { reason: hold.reason } : {}),
    });
  return { journeyId: j.id, event: { type: 'stage.promoted', stage: s.name, by } };
}

const planOf = (j: JourneyState, s: StageState) => j.plan.stages.find((p) => p.name === s.name)!;

/** Rolls a stage the journey holds back now: a canary loses its traffic at once. */
export function abortCommand(j: JourneyState, stage: string | undefined, by: string, reason: string): CommandResult {
  const s = pickStage(j, stage, ['deploying', 'rolling-out', 'paused', 'verifying', 'baking', 'awaiting-approval'], 'abort');
  return { journeyId: j.id, event: { type: 'stage.rollback-requested', stage: s.name, by, reason: reason || 'aborted' } };
}

/** Holds a canary rollout at its current step. */
export function pauseCommand(j: JourneyState, stage: string | undefined, by: string): CommandResult {
  const s = pickStage(j, stage, ['rolling-out'], 'pause');
  return { journeyId: j.id, event: { type: 'stage.paused', stage: s.name, by } };
}

/** Lets a paused rollout go on: after sluice pause, past a pause without duration, or past an inconclusive analysis. */
export function resumeCommand(j: JourneyState, stage: string | undefined, by: string): CommandResult {
  const s = pickStage(j, stage, ['paused'], 'resume');
  if (s.pausedBy !== undefined) return { journeyId: j.id, event: { type: 'stage.resumed', stage: s.name, by } };
  const sp = j.plan.stages.find((p) => p.name === s.name)!;
  const i = currentCanaryStep(sp, s);
  const step = i < 0 ? BACKGROUND_ANALYSIS : canaryStepName(i);
  return { journeyId: j.id, event: { type: 'stage.resumed', stage: s.name, by, step } };
}

/**
 * Approves a stage waiting for approval, as one of the distinct tokens it needs. Refused (FORBIDDEN) to a role the
 * stage's protection does not name, and, with separateApprover, to the token that created the release; a token that
 * already approved at this gate is refused (INVALID_STATE).
 */
export function approveCommand(j: JourneyState, stage: string | undefined, actor: TokenActor, comment?: string): CommandResult {
  const s = pickStage(j, stage, ['awaiting-approval'], 'approve');
  const sp = planOf(j, s);
  const v = j.release.version;
  requireRole(actor, sp.protection?.approve ?? DEFAULT_APPROVERS, `approve ${v} at ${s.name}`);
  if (sp.protection?.separateApprover && j.createdBy?.id === actor.id)
    throw new SluiceError(
      'FORBIDDEN',
      `token "${actor.name}" created release ${v}, and ${s.name} needs a separate approver: another token must approve it`,
      { stage: s.name, createdBy: j.createdBy.name },
    );
  const gate = pendingGate(sp, s);
  const need = approvalsRequired(sp);
  if (s.approvals.some((a) => a.gate === gate && (a.byId ?? a.by) === actor.id))
    throw new SluiceError(
      'INVALID_STATE',
      `token "${actor.name}" already approved ${v} at ${s.name} (${approvalCount(s, gate)} of ${need}); another token must approve`,
      { stage: s.name, approvals: approvalCount(s, gate), required: need },
    );
  return {
    journeyId: j.id,
    event: {
      type: 'stage.approved',
      stage: s.name,
      by: actor.name,
      byId: actor.id,
      ...(gate === 'before-deploy' ? { gate } : {}),
      ...(comment !== undefined ? { comment } : {}),
    },
  };
}

/** Rejects a stage waiting for approval (or still baking): it is rolled back and the journey fails. Its approvers' roles may. */
export function rejectCommand(j: JourneyState, stage: string | undefined, actor: TokenActor, comment: string): CommandResult {
  if (!comment.trim()) throw new SluiceError('BAD_REQUEST', 'a rejection needs a comment saying why');
  const s = pickStage(j, stage, ['awaiting-approval', 'baking'], 'reject');
  requireRole(actor, planOf(j, s).protection?.approve ?? DEFAULT_APPROVERS, `reject ${j.release.version} at ${s.name}`);
  return { journeyId: j.id, event: { type: 'stage.rejected', stage: s.name, by: actor.name, comment } };
}

/** Puts a stage back on the release it ran before the one it runs now. */
export function rollbackCommand(
  journeys: readonly JourneyState[],
  stage: string,
  by: string,
  reason: string,
): CommandResult {
  const live = liveReleases(journeys).get(stage);
  if (!live) {
    const known = journeys.some((j) => own(j.stages, stage) !== undefined);
    throw new SluiceError(
      known ? 'INVALID_STATE' : 'NOT_FOUND',
      known ? `stage "${stage}" has never been deployed; nothing to roll back` : `no stage "${stage}"`,
      { stage },
    );
  }
  if (live.via === 'rollback')
    throw new SluiceError(
      'INVALID_STATE',
      `stage "${stage}" was already rolled back to ${live.release?.version ?? 'nothing'}; release a fix or promote another release instead`,
      { stage },
    );
  const j = journeys.find((x) => x.id === live.journeyId)!;
  const s = own(j.stages, stage)!;
  if (s.rollbackRequest || s.status === 'rolling-back')
    throw new SluiceError('INVALID_STATE', `stage "${stage}" is already rolling back`, { stage });
  return { journeyId: j.id, event: { type: 'stage.rollback-requested', stage, by, reason } };
}

/** Runs a failed journey again from the stages that failed: the explicit retry a rolled-back release needs. */
export function retryCommand(j: JourneyState, by: string): CommandResult {
  if (j.status !== 'failed')
    throw new SluiceError('INVALID_STATE', `release ${j.release.version} is ${j.status}; only a failed journey can be retried`, { status: j.status });
  return { journeyId: j.id, event: { type: 'journey.retried', by } };
}

/**
 * Records a guard trip reported by the data plane on the journey whose canary it cut off, once. Undefined when no
 * journey rolls that version out at that stage any more (the trip was recorded already, or the rollout moved on).
 */
export function guardTripCommand(
  journeys: readonly JourneyState[],
  trip: { stage: string; version: string; reason: string },
): CommandResult | undefined {
  const j = journeys.find((x) => {
    const s = own(x.stages, trip.stage);
    return x.release.version === trip.version && s !== undefined && !s.guardTrip && ['rolling-out', 'paused', 'verifying'].includes(s.status);
  });
  return j ? { journeyId: j.id, event: { type: 'stage.guard-tripped', stage: trip.stage, version: trip.version, reason: trip.reason } } : undefined;
}
