import type { StoredEvent } from '../core/journey-events.js';
import type { JourneyState } from '../core/journey-reducer.js';
import type { NotifyTarget } from '../core/pipeline.js';

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

/** Turns one event into a notification, or nothing. Pure. */
export function notificationFor(e: StoredEvent, j: JourneyState, apiUrl: string): Notification | undefined {
  if (e.type !== 'step.finished' || e.cancelled || (e.ok && !e.inconclusive)) return undefined;
  const kind: Notification['kind'] = e.inconclusive ? 'needs-decision' : e.step === 'rollback' ? 'rollback-failed' : 'step-failed';
  return build(kind, e, j, apiUrl, e.reason ?? 'failed');
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

/** A successful rollback is news too: the stage changed under its users. */
export function rollbackNotification(e: StoredEvent, j: JourneyState, apiUrl: string): Notification | undefined {
  if (e.type !== 'step.finished' || e.step !== 'rollback' || !e.ok) return undefined;
  const s = j.stages[e.stage];
  return build('rolled-back', e, j, apiUrl, `${e.stage} is back on ${s?.previous?.version ?? 'nothing'}: ${s?.failure ?? 'rolled back'}`);
}

/** The body for a Slack-compatible incoming webhook. */
export function slackPayload(n: Notification): { text: string } {
  const icon = n.kind === 'needs-decision' ? ':warning:' : n.kind === 'rolled-back' ? ':leftwards_arrow_with_hook:' : ':x:';
  const what = n.kind === 'needs-decision' ? 'needs a decision' : n.kind === 'rolled-back' ? 'rolled back' : n.kind === 'rollback-failed' ? 'rollback failed' : 'failed';
  return { text: `${icon} ${n.app} ${n.release} at ${n.stage}${n.step ? ` (${n.step})` : ''} ${what}: ${n.reason} <${n.links.logs}|logs> · <${n.links.journey}|journey>` };
}

export type Post = (url: string, body: unknown) => Promise<void>;

/** Posts JSON with a timeout; throws on a non-2xx answer. */
export const postJson: Post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
};

/** Sends notifications to a journey's targets, retrying a few times; never blocks or fails the engine. */
export class Notifier {
  constructor(
    private readonly apiUrl: () => string,
    private readonly post: Post = postJson,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  handle(e: StoredEvent, j: JourneyState | undefined): void {
    const targets = j?.plan.notify ?? [];
    if (!j || targets.length === 0) return;
    const notes = [notificationFor(e, j, this.apiUrl()), rollbackNotification(e, j, this.apiUrl())];
    for (const n of notes) if (n) for (const t of targets) void this.deliver(t, n);
  }

  private async deliver(t: NotifyTarget, n: Notification): Promise<void> {
    const body = t.kind === 'slack' ? slackPayload(n) : n;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await this.post(t.url, body);
        return;
      } catch (err) {
        if (attempt === 3) this.onError(new Error(`notification to ${t.url} failed: ${(err as Error).message}`));
        else await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }
}
