import { mayCall, type Role } from '../../kernel/actor.js';
import type { WebRoute } from './routes.js';
import { routes } from './routes.js';

/** The action buttons, by their accessible names. */
export type ActionName = 'Promote' | 'Approve' | 'Reject' | 'Pause' | 'Resume' | 'Abort' | 'Retry' | 'Rollback';

/** A stage's status, as the API reports it. */
export type StageStatus =
  | 'waiting' | 'awaiting-promotion' | 'ready' | 'deploying' | 'rolling-out' | 'paused' | 'verifying' | 'baking'
  | 'awaiting-approval' | 'passed' | 'rolling-back' | 'rolled-back' | 'failed' | 'skipped';

/** Who may promote into a stage and decide there, as its protection says (the pipeline's `protection`). */
export interface StageProtection {
  promote?: readonly Role[];
  approve?: readonly Role[];
  approvals?: number;
  separateApprover?: boolean;
}

/** The engine's defaults when a stage's protection does not name roles (see src/journeys/protection.ts). */
export const DEFAULT_PROMOTERS: readonly Role[] = ['deployer'];
export const DEFAULT_APPROVERS: readonly Role[] = ['approver'];

/** One button: what it does, where, and whether it asks first. */
export interface ActionButton {
  name: ActionName;
  /** The stage it acts on (absent for a retry, which acts on the journey). */
  stage?: string;
  /** Opens a dialog with a comment and Confirm: always for approve and reject, and for every action on production. */
  confirm: boolean;
  /** The dialog must have a comment (a rejection says why). */
  commentRequired: boolean;
  /** Where the comment goes in the call's body; absent: the route records none. */
  commentField?: 'comment' | 'reason';
  /** A promotion of a canary to all traffic (`full`), rather than into a stage waiting for promotion. */
  full?: boolean;
  /** A sentence for the dialog: what will happen. */
  describe: string;
}

/** A stage named prod or prod-* (or marked as production) asks before every action. */
export function isProduction(stage: string, marked?: boolean): boolean {
  return marked === true || stage === 'prod' || stage.startsWith('prod-') || stage === 'production';
}

const allowed = (role: Role, route: WebRoute, stageRoles?: readonly Role[]) =>
  mayCall(role, route.roles) && (stageRoles === undefined || mayCall(role, stageRoles));

/** What the journey view and the board know of a stage when deciding its buttons. */
export interface StageActionInput {
  role: Role;
  stage: string;
  /** The status of the journey's stage (null: no journey there). */
  status: StageStatus | null;
  protection?: StageProtection;
  production?: boolean;
  /** The stage serves a release now, so it can be rolled back. */
  serving?: boolean;
  /** A canary stage (promote means: to all traffic now). */
  canary?: boolean;
}

/**
 * The buttons a role sees for a stage: only actions the stage's status allows, and only to roles the route and the
 * stage's protection allow (the server checks again; this keeps people from offering what will be refused).
 */
export function stageActions(i: StageActionInput): ActionButton[] {
  const prod = isProduction(i.stage, i.production);
  const out: ActionButton[] = [];
  const add = (b: Omit<ActionButton, 'confirm' | 'commentRequired'> & { confirm?: boolean; commentRequired?: boolean }) =>
    out.push({ ...b, stage: i.stage, confirm: b.confirm === true || prod, commentRequired: b.commentRequired ?? false });
  const promoters = i.protection?.promote ?? DEFAULT_PROMOTERS;
  const approvers = i.protection?.approve ?? DEFAULT_APPROVERS;
  const s = i.status;
  if (s === 'awaiting-promotion' && allowed(i.role, routes.promote, promoters)) add({ name: 'Promote', describe: `Promote into ${i.stage}.` });
  if ((s === 'rolling-out' || s === 'paused') && i.canary !== false && allowed(i.role, routes.promote, promoters))
    add({ name: 'Promote', full: true, describe: `Promote the canary at ${i.stage} to all traffic now, skipping its remaining steps.` });
  if (s === 'awaiting-approval' && allowed(i.role, routes.approve, approvers))
    add({ name: 'Approve', confirm: true, commentField: 'comment', describe: `Approve the release at ${i.stage}.` });
  if ((s === 'awaiting-approval' || s === 'baking') && allowed(i.role, routes.reject, approvers))
    add({ name: 'Reject', confirm: true, commentRequired: true, commentField: 'comment', describe: `Reject the release at ${i.stage}: the stage rolls back and the journey fails.` });
  if (s === 'rolling-out' && allowed(i.role, routes.pause)) add({ name: 'Pause', describe: `Hold the rollout at ${i.stage} where it is.` });
  if (s === 'paused' && allowed(i.role, routes.resume)) add({ name: 'Resume', describe: `Let the rollout at ${i.stage} go on.` });
  if (s !== null && ABORTABLE.has(s) && allowed(i.role, routes.abort))
    add({ name: 'Abort', commentField: 'reason', describe: `Roll ${i.stage} back now${i.canary ? ': the canary loses its users at once' : ''}.` });
  // Rolling back is for a settled stage; while a release is still moving through it, Abort is the way back.
  if (i.serving && s !== 'rolling-back' && !(s !== null && ABORTABLE.has(s)) && allowed(i.role, routes.rollback))
    add({ name: 'Rollback', commentField: 'reason', describe: `Put ${i.stage} back on the release it ran before.` });
  return out;
}

const ABORTABLE: ReadonlySet<StageStatus> = new Set(['deploying', 'rolling-out', 'paused', 'verifying', 'baking', 'awaiting-approval']);

/** The journey's own button: a failed journey may be retried from the stages that failed. */
export function journeyActions(role: Role, status: string, failedStage?: string, production?: boolean): ActionButton[] {
  if (status !== 'failed' || !allowed(role, routes.retry)) return [];
  const prod = failedStage !== undefined && isProduction(failedStage, production);
  return [{ name: 'Retry', confirm: prod, commentRequired: false, describe: `Run the journey again from the stages that failed${failedStage ? ` (${failedStage})` : ''}.` }];
}

/** A stage's protection from the pipeline as `GET /api/v1/pipeline` shows it (a resolved plan), by stage name. */
export function protectionByStage(plan: unknown): Map<string, { protection?: StageProtection; canary: boolean; production?: boolean }> {
  const out = new Map<string, { protection?: StageProtection; canary: boolean; production?: boolean }>();
  const stages = (plan as { stages?: unknown } | null)?.stages;
  if (!Array.isArray(stages)) return out;
  for (const s of stages as Array<Record<string, unknown>>) {
    if (typeof s?.name !== 'string') continue;
    const p = s.protection as StageProtection | undefined;
    out.set(s.name, {
      ...(p && typeof p === 'object' ? { protection: p } : {}),
      canary: s.canary !== undefined && s.canary !== null,
      ...(typeof s.production === 'boolean' ? { production: s.production } : {}),
    });
  }
  return out;
}

/**
 * Whether a role may change a stage's flags (toggle, default variant, targeting): the flag route's roles, and what
 * deploying to the stage needs (its protection's `promote`, else deployers; admin always), as the server checks (ADR 20).
 * Deploy windows and freezes do not hold flag changes, so the stage's status plays no part.
 */
export function mayChangeFlags(role: Role, protection?: StageProtection): boolean {
  return allowed(role, routes.setFlag, protection?.promote ?? DEFAULT_PROMOTERS);
}
