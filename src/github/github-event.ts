/**
 * GitHub webhook events, as Sluice reads them (ADR 28): the few fields of `push` and `pull_request` it acts on,
 * checked one by one so that a payload of the wrong shape is refused with the field it lacks. Pure.
 */
import { SluiceError } from '../kernel/errors.js';

/** The largest webhook body Sluice reads (GitHub caps payloads at 25 MB; the fields used fit in far less). */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** The events Sluice acts on; GitHub's others (ping, issues, …) are answered and ignored. */
export const HANDLED_EVENTS = ['push', 'pull_request'] as const;

/** pull_request actions that create or redeploy the PR's environment, and those that destroy it. */
export const PR_DEPLOY_ACTIONS = ['opened', 'reopened', 'synchronize'] as const;
export const PR_CLOSE_ACTIONS = ['closed'] as const;

/** A commit id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories). */
const SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
/** owner/name as GitHub allows them. */
const FULL_NAME = /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/;
/** A git ref name: no control characters, spaces, "..", or the characters git forbids; bounded. */
const REF = /^(?!.*\.\.)(?!\/)(?!.*\/$)[^\x00-\x20~^:?*[\\\x7f]{1,255}$/;

/** What a `pull_request` event asks of Sluice. */
export interface PullRequestEvent {
  kind: 'pull_request';
  action: string;
  number: number;
  repository: string;
  /** The PR's head commit: the build its environment runs. */
  headSha: string;
  /** The PR's branch. */
  headRef: string;
  merged: boolean;
}

/** What a `push` event asks of Sluice. */
export interface PushEvent {
  kind: 'push';
  /** The full ref pushed: refs/heads/<branch>. */
  ref: string;
  /** The commit the ref points at now; all zeros when the ref was deleted. */
  after: string;
  repository: string;
  deleted: boolean;
}

export type GithubEvent = PullRequestEvent | PushEvent;

const bad = (where: string, what: string) => new SluiceError('BAD_REQUEST', `webhook payload: ${where} ${what}`, { where });

function field(o: Record<string, unknown>, key: string, where: string): unknown {
  if (!(key in o)) throw bad(`${where}${key}`, 'is missing');
  return o[key];
}
function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, `must be an object, not ${typeName(v)}`);
  return v as Record<string, unknown>;
}
function text(o: Record<string, unknown>, key: string, where: string, pattern?: RegExp, what?: string): string {
  const v = field(o, key, where);
  if (typeof v !== 'string') throw bad(`${where}${key}`, `must be a string, not ${typeName(v)}`);
  if (pattern && !pattern.test(v)) throw bad(`${where}${key}`, `must be ${what}, not ${JSON.stringify(v.slice(0, 80))}`);
  return v;
}
function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Reads a webhook body (already verified as GitHub's) for `event`: undefined for an event Sluice does not act on;
 * BAD_REQUEST naming the field for a body that is not JSON or lacks what the event needs.
 */
export function parseGithubEvent(event: string, body: string): GithubEvent | undefined {
  if (!(HANDLED_EVENTS as readonly string[]).includes(event)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    throw new SluiceError('BAD_REQUEST', `webhook payload is not JSON: ${(e as Error).message}`);
  }
  const root = object(json, 'the payload');
  const repository = text(object(field(root, 'repository', ''), 'repository'), 'full_name', 'repository.', FULL_NAME, 'owner/name');
  if (event === 'push') {
    const ref = text(root, 'ref', '', REF, 'a git ref');
    const deleted = root.deleted === true;
    const after = text(root, 'after', '', SHA, 'a commit id (40 or 64 lower-case hex digits)');
    return { kind: 'push', ref, after, repository, deleted };
  }
  const action = text(root, 'action', '', /^[a-z_]{1,64}$/, 'an action name');
  const number = field(root, 'number', '');
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 1e9) throw bad('number', `must be a pull request number, not ${JSON.stringify(number)}`);
  const pr = object(field(root, 'pull_request', ''), 'pull_request');
  const head = object(field(pr, 'head', 'pull_request.'), 'pull_request.head');
  const headSha = text(head, 'sha', 'pull_request.head.', SHA, 'a commit id (40 or 64 lower-case hex digits)');
  const headRef = text(head, 'ref', 'pull_request.head.', REF, 'a branch name');
  const merged = pr.merged ?? false;
  if (typeof merged !== 'boolean' && merged !== null) throw bad('pull_request.merged', `must be a boolean, not ${typeName(merged)}`);
  return { kind: 'pull_request', action, number, repository, headSha, headRef, merged: merged === true };
}

/** Whether a delivery id looks like GitHub's (a GUID) or at least like a short token; bounds what is remembered. */
export const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;
