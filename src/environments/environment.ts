/**
 * On-demand environments (ADR 25): a clone of a pipeline stage's config (staging, usually) that runs one build at its
 * own address, `http://<name>.<app>.localhost`, for as long as its TTL says. Pure: the record, the rules of names,
 * the plan an environment deploys with, and when it expires.
 */
import type { ReleaseRef } from '../journeys/journey-events.js';
import type { Role } from '../kernel/actor.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { envDatabaseUrl } from './ports/environment-databases.js';

/** Bounds of environments; past them a request is refused. */
export const ENV_LIMITS = {
  /** A DNS label. */
  nameLength: 63,
  /** Environments alive at once. */
  count: 50,
  /** Default sliding TTL: reset by each deploy. */
  ttlMs: 3 * 86_400_000,
  /** The longest TTL one may ask for. */
  maxTtlMs: 30 * 86_400_000,
  /** Default hard maximum of an environment's life, pinned or not counted from its creation (pinned: none). */
  maxAgeMs: 14 * 86_400_000,
  /** Overrides of the source's env. */
  envVars: 50,
  envValueLength: 4096,
} as const;

/**
 * Where an environment is: its build deploying, serving, its last deploy failed (it serves what it served before, if
 * anything), or being destroyed (nothing of it is wanted any more; a restart finishes the job).
 */
export type EnvironmentStatus = 'deploying' | 'ready' | 'failed' | 'destroying';

/** An environment as kept: the desired state it is deployed to, and its lifecycle. */
export interface EnvironmentRecord {
  /** A DNS label, unique among environments and the pipeline's stages: its address and its stage name on the target. */
  name: string;
  /** The pipeline stage it clones (config, target settings, secrets and flags). */
  source: string;
  /** The build it runs (or deploys now). */
  release: ReleaseRef;
  /** What it served before the deploy under way, or null: a failed deploy goes back to it. */
  previous: ReleaseRef | null;
  /** Overrides of the source stage's env. */
  env: Record<string, string>;
  status: EnvironmentStatus;
  /** Why the last deploy failed. */
  reason?: string;
  /** Deploys so far (each has its own step key and log). */
  deploys: number;
  createdAt: number;
  /** Who made it: a token's name, or what Sluice did it for. */
  createdBy: string;
  /** The last deploy's start (or the last `extend`): the sliding TTL counts from here. */
  deployedAt: number;
  ttlMs: number;
  /** Counted from creation; pinned environments have none. */
  maxAgeMs: number;
  pinned: boolean;
  /** Where it came from, when made for a branch or a pull request. */
  branch?: string;
  pr?: number;
  /**
   * Scaled to zero since then (docs/adr/0029): no request came for `environments.idleAfter`, so its instances are
   * stopped and its route holds requests until it wakes. Absent: awake. The TTL does not care.
   */
  asleepSince?: number;
  /** When a request last woke it: its idle time counts from here at the earliest. */
  wokeAt?: number;
  /** The delivery lead's verdict on the build it runs (ADR 27); a deploy of another build clears it. */
  review?: EnvironmentReview;
}

/** A delivery lead's verdicts on an environment's build: accept it, or send it back with feedback. */
export const REVIEW_VERDICTS = ['approved', 'changes-requested'] as const;
export type ReviewVerdict = (typeof REVIEW_VERDICTS)[number];

/** Who may review an environment: the role that approves stages (the delivery lead's; admins always may). */
export const REVIEWERS: readonly Role[] = ['approver'];

/** Bounds of a review: its comment. */
export const REVIEW_LIMITS = { commentLength: 2000 } as const;

/** Who gave which verdict on which build, when, and why. */
export interface EnvironmentReview {
  verdict: ReviewVerdict;
  /** The build reviewed: a verdict holds for this version only. */
  version: string;
  /** The reviewer's token name, and its id (tells two tokens of one name apart). */
  by: string;
  byId?: string;
  at: number;
  comment?: string;
}

/** How long an environment may go without a request before it sleeps, unless sluice.yaml says (`environments.idleAfter`). */
export const ENV_IDLE_AFTER_MS = 15 * 60_000;

/** Since when an environment is idle: its last request, its last deploy or its last wake, whichever came last. */
export function envIdleSince(e: Pick<EnvironmentRecord, 'deployedAt' | 'wokeAt'>, lastRequestAt: number): number {
  return Math.max(lastRequestAt, e.deployedAt, e.wokeAt ?? 0);
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why `name` cannot be an environment's name, or undefined when it can: a DNS label of at most 63 characters, and
 * neither a stage of the pipeline nor a stage's preview host (`<stage>-preview`).
 */
export function envNameProblem(name: string, stages: readonly string[]): string | undefined {
  if (!LABEL.test(name))
    return `environment name "${name.slice(0, 80)}" is not a DNS label: lower-case letters, digits and "-", at most ${ENV_LIMITS.nameLength}, not starting or ending with "-"`;
  if (stages.includes(name)) return `"${name}" is a stage of the pipeline; an environment needs a name of its own`;
  if (name.endsWith('-preview') && stages.includes(name.slice(0, -'-preview'.length))) return `"${name}" is the preview address of stage ${name.slice(0, -8)}`;
  return undefined;
}

/**
 * A name from what the environment is made for: `pr-<number>` for a pull request, else the branch lower-cased with
 * every run of other characters made one "-" (`feature/Login_v2` → `feature-login-v2`), cut to fit with a hash of the
 * whole branch so that two long branches never get one name.
 */
export function envNameFor(source: { pr?: number; branch?: string }): string | undefined {
  if (source.pr !== undefined) return `pr-${source.pr}`;
  if (source.branch === undefined) return undefined;
  const slug = source.branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0) return undefined;
  if (slug.length <= ENV_LIMITS.nameLength) return slug;
  const hash = fnv1a(source.branch).toString(36).padStart(7, '0').slice(-7);
  return `${slug.slice(0, ENV_LIMITS.nameLength - 8).replace(/-+$/, '')}-${hash}`;
}

/** 32-bit FNV-1a: short, stable, enough to tell two long names apart once cut. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** When an environment expires: its sliding TTL from the last deploy, capped by its maximum age; never when pinned. */
export function envExpiresAt(e: Pick<EnvironmentRecord, 'pinned' | 'deployedAt' | 'ttlMs' | 'createdAt' | 'maxAgeMs'>): number | null {
  if (e.pinned) return null;
  return Math.min(e.deployedAt + e.ttlMs, e.createdAt + e.maxAgeMs);
}

/**
 * The plan an environment deploys with: its source stage's, under its own name, with its env overrides, and none of
 * what belongs to a pipeline stage's journey (no parents, verify commands, approvals, bake, protection or canary:
 * the environment takes its build at once, all at one go).
 */
export function envStagePlan(source: StagePlan, e: Pick<EnvironmentRecord, 'name' | 'env'>): StagePlan {
  const { canary: _c, protection: _p, approvalBeforeDeploy: _a, lane: _l, ...rest } = source;
  // Its database variable points at its own copy, never at the source's (ADR 26), whatever the overrides say.
  const db = source.database ? { [source.database.env]: envDatabaseUrl(source.database, e.name) } : {};
  return { ...rest, name: e.name, after: [], env: { ...source.env, ...e.env, ...db }, verify: [], approval: false, bakeMs: 0, autoPromote: true };
}
