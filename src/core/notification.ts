import type { StoredEvent } from './journey-events.js';
import type { JourneyState } from './journey-reducer.js';

/**
 * What a notification says. `kind`:
 * - step-failed: a deploy, verify command, analysis, health check or commit step failed, or ran past its deadline.
 * - needs-decision: an analysis was inconclusive; the rollout waits for a person.
 * - rolled-back: the stage is back on the release it ran before.
 * - rollback-failed: the rollback itself failed; the stage needs a person.
 */
export interface Notification {
  kind: 'step-failed' | 'needs-decision' | 'rolled-back' | 'rollback-failed';
  app: string;
  release: string;
  stage: string;
  step?: string;
  reason: string;
  at: string;
  /** Where to see the evidence: the release's journey and the step's log. */
  links: { journey: string; logs: string };
}

/** Whether an event can be news: a step that failed, was inconclusive, or was a rollback. */
export function mayNotify(e: StoredEvent): boolean {
  return e.type === 'step.finished' && !e.cancelled && (!e.ok || e.inconclusive === true || e.step === 'rollback');
}

/**
 * The notifications one event makes. `j` is the journey as that event left it.
 * A failed step is news; so is a successful rollback, since the stage changed under its users.
 */
export function notificationsFor(e: StoredEvent, j: JourneyState, apiUrl: string): Notification[] {
  if (e.type !== 'step.finished' || !mayNotify(e)) return [];
  if (e.ok && !e.inconclusive) {
    const s = j.stages[e.stage];
    return [build('rolled-back', e, j, apiUrl, `${e.stage} is back on ${s?.previous?.version ?? 'nothing'}: ${s?.failure ?? 'rolled back'}`)];
  }
  const kind: Notification['kind'] = e.inconclusive ? 'needs-decision' : e.step === 'rollback' ? 'rollback-failed' : 'step-failed';
  return [build(kind, e, j, apiUrl, e.reason ?? 'failed')];
}

function build(kind: Notification['kind'], e: StoredEvent & { stage: string; step?: string }, j: JourneyState, apiUrl: string, reason: string): Notification {
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

/** The body for a Slack-compatible incoming webhook. */
export function slackPayload(n: Notification): { text: string } {
  const icon = n.kind === 'needs-decision' ? ':warning:' : n.kind === 'rolled-back' ? ':leftwards_arrow_with_hook:' : ':x:';
  const what = n.kind === 'needs-decision' ? 'needs a decision' : n.kind === 'rolled-back' ? 'rolled back' : n.kind === 'rollback-failed' ? 'rollback failed' : 'failed';
  return { text: `${icon} ${n.app} ${n.release} at ${n.stage}${n.step ? ` (${n.step})` : ''} ${what}: ${n.reason} <${n.links.logs}|logs> · <${n.links.journey}|journey>` };
}

/** A webhook address as it may be shown: scheme and host only (the path of an incoming webhook is its secret). */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#]*)/i.exec(url);
  return m ? `${m[1]}${m[2]}/…` : '…';
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
