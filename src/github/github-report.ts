/**
 * What Sluice tells GitHub (ADR 28), as outbox entries: commit statuses, and deployments with their status. Each is
 * filed once per key (a retried webhook files nothing new) and delivered with the outbox's retries. Pure.
 */
import { createHash } from 'node:crypto';
import type { OutboxEntry } from '../notifications/ports/outbox.js';
import { DESCRIPTION_MAX, type GithubCall } from './ports/github-calls.js';

export { DESCRIPTION_MAX, DEPLOYMENT_STATES, type DeploymentCall, type DeploymentState, type GithubCall, STATUS_STATES, type StatusCall, type StatusState } from './ports/github-calls.js';

/** Cuts a description to GitHub's 140 characters, saying it was cut. */
export function describe(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length <= DESCRIPTION_MAX ? one : `${one.slice(0, DESCRIPTION_MAX - 1)}…`;
}

/**
 * The outbox's key of a call: its event id. The outbox files an (event, kind, stage, target) once; API calls have no
 * journey event, so the id is drawn from a key naming what happened (`<delivery>/<what>`), in a range of negative
 * numbers of its own (flag ramps use small negative ids).
 */
export function callEventId(key: string): number {
  const h = createHash('sha256').update(key).digest();
  return -(2 ** 50 + (h.readUIntBE(0, 6) % 2 ** 50));
}

/** The outbox entry of a call to `apiUrl`, filed once per `key`. */
export function githubEntry(apiUrl: string, call: GithubCall, key: string): OutboxEntry {
  const path = call.kind === 'github-status' ? `/repos/${call.repository}/statuses/${call.sha}` : `/repos/${call.repository}/deployments`;
  return { eventId: callEventId(key), target: { kind: 'github', url: `${apiUrl}${path}` }, body: { ...call, description: describe(call.description) } };
}
