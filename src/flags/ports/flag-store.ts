import type { AuditDraft } from '../../audit/audit-record.js';
import type { Actor } from '../../kernel/actor.js';
import type { FlagDefinition, StageFlag } from '../flag-model.js';

export type { AuditDraft } from '../../audit/audit-record.js';
export type { Actor } from '../../kernel/actor.js';
export type { FlagDefinition, StageFlag } from '../flag-model.js';

/** A flag's configuration in one stage, as kept: when it last changed, and the hash of the file entry last applied to it. */
export interface StageFlagRecord {
  config: StageFlag;
  /** Epoch ms of the last change, from the runtime or from the flags file. */
  changedAt: number;
  /** sha256 of the flags file's entry last applied to it; absent: never set from the file. */
  fileHash?: string;
}

/** A flag's declaration as kept. */
export interface FlagDefinitionRecord extends FlagDefinition {
  changedAt: number;
  fileHash?: string;
}

/** One stage's flags as kept (the projection of its events). */
export interface StageState {
  /** Grows by one with every change that touches the stage; 0: never changed. */
  revision: number;
  segments: Record<string, unknown>;
  /** sha256 of the flags file's entry last applied to each segment. */
  segmentFileHashes: Record<string, string>;
  flags: Record<string, StageFlagRecord>;
}

/** Every flag as kept: declarations, and each stage that has ever been changed. */
export interface FlagSnapshot {
  defs: Record<string, FlagDefinitionRecord>;
  stages: Record<string, StageState>;
}

/**
 * What a change records (append-only): `flag.define`, `flag.update`, `flag.remove`, `flag.set` (a stage's config),
 * `segment.set`, `segment.remove`, `stage.copy`, `flags.import`, `flags.apply`. `stage` is absent for a declaration,
 * which touches every stage; `data` holds what is needed to rebuild the projection.
 */
export interface FlagEventDraft {
  type: string;
  stage?: string;
  flag?: string;
  data: unknown;
}

/** A recorded flag event. */
export interface FlagEvent extends FlagEventDraft {
  id: number;
  at: number;
  actor: Actor;
  reason: string;
  /** The release or journey it relates to, when given. */
  links: Record<string, string>;
  /** The revision of each stage it touched, after it. */
  revisions: Record<string, number>;
}

/** What to change in one stage: each stage listed gets its revision increased by one. */
export interface StageChange {
  /** Flags whose config is set (replaced whole). */
  put?: Record<string, StageFlagRecord>;
  /** Flags whose config is removed from the stage. */
  remove?: string[];
  /** The stage's segments, replaced whole when given. */
  segments?: Record<string, unknown>;
  segmentFileHashes?: Record<string, string>;
}

/** One change, written at once: its events, the projection's new rows, and its audit records (all or nothing). */
export interface FlagChange {
  events: FlagEventDraft[];
  actor: Actor;
  reason: string;
  links: Record<string, string>;
  defs?: { put?: FlagDefinitionRecord[]; remove?: string[] };
  stages: Record<string, StageChange>;
  audit: AuditDraft[];
}

/** An API key an app reads one stage's flags with (OFREP); only its hash is kept. */
export interface FlagKeyRecord {
  id: string;
  stage: string;
  name: string;
  /** sha256 (hex) of the key. */
  hash: string;
  createdAt: number;
  revokedAt?: number;
}

/** How one flag was evaluated in one stage, summed over what the data plane counted. */
export interface EvaluationStat {
  stage: string;
  flag: string;
  /** Epoch ms of the last evaluation. */
  lastAt: number;
  /** Evaluations per variant; errors under the key `(error)`. */
  variants: Record<string, number>;
}

/** Counts to add (see FlagServing.takeCounts). */
export interface EvaluationCountInput {
  stage: string;
  flag: string;
  variant: string | null;
  count: number;
  lastAt: number;
}

/** The key in `EvaluationStat.variants` that counts evaluations that ended in an error. */
export const ERROR_VARIANT = '(error)';

/** Which events to list. */
export interface FlagEventFilter {
  stage?: string;
  flag?: string;
  /** At most this many, the newest, in the order they happened. */
  limit: number;
}

/**
 * Where flags are kept: events appended only, and the current state of each stage as their projection, written in
 * the same transaction together with the audit records of the change.
 */
export interface FlagStore {
  /** Every flag as kept now. */
  flagSnapshot(): Promise<FlagSnapshot>;
  /**
   * Runs `decide` on the state as it is and writes the change it returns, with its events and audit records, in one
   * transaction; changes from other writers (other replicas too) wait their turn, so `decide` always sees the state
   * it changes. A throw of `decide` writes nothing. Answers what `decide` returned and the new revision of each stage changed.
   */
  changeFlags<T>(
    at: number,
    decide: (now: FlagSnapshot) => { change: FlagChange; result: T },
  ): Promise<{ result: T; revisions: Record<string, number> }>;
  /** The events, newest `limit`, in order; filtered by stage (declarations, which touch every stage, included) and flag. */
  flagEvents(filter: FlagEventFilter): Promise<FlagEvent[]>;
  /** Keeps a new read key and its audit records. */
  createFlagKey(k: FlagKeyRecord, audit: readonly AuditDraft[]): Promise<void>;
  /** Every read key (of one stage), revoked ones included, oldest first. */
  listFlagKeys(stage?: string): Promise<FlagKeyRecord[]>;
  /** Marks a key revoked and keeps its audit records; false (nothing changed) when there is no such key not revoked. */
  revokeFlagKey(id: string, at: number, audit: readonly AuditDraft[]): Promise<boolean>;
  /** Adds evaluation counts. */
  recordEvaluations(counts: readonly EvaluationCountInput[]): Promise<void>;
  /** Evaluation totals, per stage and flag. */
  evaluationStats(): Promise<EvaluationStat[]>;
}
