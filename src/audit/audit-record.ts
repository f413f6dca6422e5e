import { createHash } from 'node:crypto';
import type { Actor } from '../kernel/actor.js';

/**
 * What an audit record points at, by kind: `release` (a version), `journey` (its id), `stage`, `token` (a token's name).
 * Kinds to come (a flag, an environment) are further keys; a record carries only those that apply.
 */
export type AuditLinks = Readonly<Record<string, string>>;

/** The kinds of links known now, in the order people read them; a store may give a record's links in another order. */
export const LINK_KINDS = ['release', 'journey', 'stage', 'token'] as const;

/** A record's links in the order of LINK_KINDS, kinds not known yet after them by name. */
export function orderedLinks(links: AuditLinks): [string, string][] {
  const rank = (k: string) => {
    const i = (LINK_KINDS as readonly string[]).indexOf(k);
    return i < 0 ? LINK_KINDS.length : i;
  };
  return Object.entries(links).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * How an attempt ended:
 * - `done`: the mutation happened.
 * - `refused`: an identified caller asked for it and was refused (not allowed, or not in this state); nothing changed.
 */
export type AuditOutcome = 'done' | 'refused';

/** A record before it takes its place in the chain: what was done, by whom, why, and to what. */
export interface AuditDraft {
  actor: Actor;
  /** What was done, `<thing>.<verb>`: `release.create`, `stage.approve`, `token.create`, `stage.rollback`, … */
  action: string;
  /** Why, as the actor said it (a comment, a reason) or as Sluice knows it (a failure); '' when none was given. */
  reason: string;
  links: AuditLinks;
  outcome: AuditOutcome;
  /** Anything else worth keeping (a refusal's error code and message). */
  detail?: unknown;
}

/** An audit record in the chain: appended once, never changed. */
export interface AuditRecord extends AuditDraft {
  /** 1, 2, 3, … with no gap. */
  seq: number;
  /** Epoch ms. */
  at: number;
  /** The hash of the record before (GENESIS_HASH for the first). */
  prevHash: string;
  /** sha256, hex, of the canonical serialisation of every other field (prevHash included). */
  hash: string;
}

/** The end of the chain, kept apart from the records so that deleting the last ones is seen too. */
export interface AuditHead {
  /** The last record's seq (0: none yet). */
  seq: number;
  /** The last record's hash (GENESIS_HASH: none yet). */
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
export const EMPTY_HEAD: AuditHead = { seq: 0, hash: GENESIS_HASH };

/**
 * JSON with object keys sorted at every level, no whitespace, and undefined members left out: the same record gives
 * the same text whichever store it came back from (PostgreSQL's jsonb reorders keys).
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x)).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/** The hash a record must carry: sha256 over the canonical JSON of all its fields but `hash`. */
export function recordHash(r: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _hash, ...rest } = r;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Puts drafts at the end of a chain whose head is `head`: the records to store, and the new head. */
export function chainRecords(head: AuditHead, drafts: readonly AuditDraft[], at: number): { records: AuditRecord[]; head: AuditHead } {
  const records: AuditRecord[] = [];
  let prev = head;
  for (const d of drafts) {
    const body = {
      seq: prev.seq + 1,
      at,
      actor: d.actor,
      action: d.action,
      reason: d.reason,
      links: d.links,
      outcome: d.outcome,
      ...(d.detail !== undefined ? { detail: d.detail } : {}),
      prevHash: prev.hash,
    };
    const r: AuditRecord = { ...body, hash: recordHash(body) };
    records.push(r);
    prev = { seq: r.seq, hash: r.hash };
  }
  return { records, head: prev };
}
