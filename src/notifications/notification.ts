import type { StoredEvent } from '../journeys/journey-events.js';
import type { JourneyState, StageStatus } from '../journeys/journey-reducer.js';
import type { NotificationKind } from '../pipeline/pipeline-schema.js';
import type { NotifyTarget } from '../pipeline/pipeline.js';

export { NOTIFICATION_KINDS, type NotificationKind } from '../pipeline/pipeline-schema.js';

/**
 * What a notification says. `kind`:
 * - step-failed: a deploy, verify command, analysis, health check or commit step failed, or ran past its deadline.
 * - needs-decision: an analysis was inconclusive; the rollout waits for a person to resume or abort.
 * - rolled-back: the stage is back on the release it ran before.
 * - rollback-failed: the rollback itself failed; the stage needs a person.
 * - needs-approval: the stage is verified and baked, and waits for `sluice approve` (or reject).
 * - needs-promotion: the stage's parents passed; it waits for `sluice promote` (autoPromote: false).
 * - paused: the rollout reached a pause with no duration (or a blue-green switch that waits), until `sluice resume`.
 * - ramp-regressed: a flag's guarded ramp found the treatment worse than the control (back to 0 %, or paused).
 * - ramp-paused: a flag's guarded ramp had no verdict after its holds and waits for a person.
 */
export interface Notification {
  kind: NotificationKind;
  app: string;
  release: string;
  stage: string;
  step?: string;
  reason: string;
  at: string;
  /** Where to see the evidence: the release's journey and the step's (or the stage's) log. */
  links: { journey: string; logs: string };
}

/** Stage statuses in which a person must act, and what to tell them. */
const WAITING: Partial<Record<StageStatus, { kind: NotificationKind; says: (stage: string, v: string) => string }>> = {
  'awaiting-approval': { kind: 'needs-approval', says: (stage, v) => `${stage} waits for approval: sluice approve ${v} ${stage} (or reject)` },
  'awaiting-promotion': { kind: 'needs-promotion', says: (stage, v) => `${stage} waits to be promoted: sluice promote ${v} ${stage}` },
  paused: { kind: 'paused', says: (stage, v) => `the rollout at ${stage} waits: sluice resume ${v} ${stage} (or abort)` },
};

/**
 * The notifications one event makes. `before` is the journey before the event (none for its first), `after` as the
 * event left it. A failed step is news, and so is a successful rollback, since the stage changed under its users;
 * so is a stage that the event left waiting for a person.
 */
export function notificationsFor(e: StoredEvent, before: JourneyState | undefined, after: JourneyState, apiUrl: string): Notification[] {
  if (e.type === 'step.finished' && !e.cancelled && (!e.ok || e.inconclusive || e.step === 'rollback')) {
    if (e.ok && !e.inconclusive) {
      const s = after.stages[e.stage];
      return [build('rolled-back', e, after, apiUrl, `${e.stage} is back on ${s?.previous?.version ?? 'nothing'}: ${s?.failure ?? 'rolled back'}`)];
    }
    const kind: NotificationKind = e.inconclusive ? 'needs-decision' : e.step === 'rollback' ? 'rollback-failed' : 'step-failed';
    return [build(kind, e, after, apiUrl, e.reason ?? 'failed')];
  }
  const out: Notification[] = [];
  for (const sp of after.plan.stages) {
    const status = after.stages[sp.name]?.status;
    const waiting = status && WAITING[status];
    // Whoever paused a rollout by hand knows it waits.
    const byHand = e.type === 'stage.paused' && e.stage === sp.name;
    if (waiting && !byHand && before?.stages[sp.name]?.status !== status)
      out.push(build(waiting.kind, { stage: sp.name, at: e.at }, after, apiUrl, waiting.says(sp.name, after.release.version)));
  }
  return out;
}

function build(
  kind: NotificationKind,
  e: { stage: string; step?: string; at: number },
  j: JourneyState,
  apiUrl: string,
  reason: string,
): Notification {
  const v = encodeURIComponent(j.release.version);
  return {
    kind,
    app: j.plan.app,
    release: j.release.version,
    stage: e.stage,
    ...(e.step ? { step: e.step } : {}),
    reason,
    at: new Date(e.at).toISOString(),
    links: {
      journey: `${apiUrl}/api/v1/releases/${v}`,
      logs: `${apiUrl}/api/v1/releases/${v}/stages/${encodeURIComponent(e.stage)}/logs${e.step ? `?step=${encodeURIComponent(e.step)}` : ''}`,
    },
  };
}

const SLACK: Record<NotificationKind, [icon: string, what: string]> = {
  'step-failed': [':x:', 'failed'],
  'rollback-failed': [':x:', 'rollback failed'],
  'rolled-back': [':leftwards_arrow_with_hook:', 'rolled back'],
  'needs-decision': [':warning:', 'needs a decision'],
  'needs-approval': [':raised_hand:', 'needs approval'],
  'needs-promotion': [':raised_hand:', 'needs promotion'],
  paused: [':double_vertical_bar:', 'paused'],
  'ramp-regressed': [':leftwards_arrow_with_hook:', 'ramp regressed'],
  'ramp-paused': [':double_vertical_bar:', 'ramp paused'],
};

/**
 * The notification of a flag's guarded ramp (ADR 23). `release` names the flag (a ramp moves users of a flag, not a
 * release); the links lead to the flag and its history.
 */
export function flagRampNotification(n: { kind: 'regressed' | 'paused'; app: string; stage: string; flag: string; reason: string; at: number }, apiUrl: string): Notification {
  const f = encodeURIComponent(n.flag);
  return {
    kind: n.kind === 'regressed' ? 'ramp-regressed' : 'ramp-paused',
    app: n.app,
    release: `flag ${n.flag}`,
    stage: n.stage,
    reason: n.reason,
    at: new Date(n.at).toISOString(),
    links: { journey: `${apiUrl}/api/v1/flags/${f}`, logs: `${apiUrl}/api/v1/flag-history?flag=${f}&stage=${encodeURIComponent(n.stage)}` },
  };
}

/** Whether a target wants a notification: every one, unless it lists the stages or kinds it wants. */
export function targetWants(t: NotifyTarget, n: Notification): boolean {
  return (!t.stages || t.stages.includes(n.stage)) && (!t.on || t.on.includes(n.kind));
}

/** The body for a Slack-compatible incoming webhook. */
export function slackPayload(n: Notification): { text: string } {
  const [icon, what] = SLACK[n.kind];
  return { text: `${icon} ${n.app} ${n.release} at ${n.stage}${n.step ? ` (${n.step})` : ''} ${what}: ${n.reason} <${n.links.logs}|logs> · <${n.links.journey}|journey>` };
}

/**
 * When a failed delivery is tried again: 1 s after the first failure, doubling up to 5 minutes,
 * or never (`undefined`) once the notification is a day old or the receiver refused it for good.
 */
export function nextAttemptAt(attempts: number, createdAt: number, now: number, permanent: boolean): number | undefined {
  if (permanent || now - createdAt >= GIVE_UP_AFTER_MS) return undefined;
  return now + Math.min(1000 * 2 ** Math.max(0, attempts - 1), MAX_RETRY_GAP_MS);
}
export const GIVE_UP_AFTER_MS = 24 * 60 * 60 * 1000;
export const MAX_RETRY_GAP_MS = 5 * 60 * 1000;
