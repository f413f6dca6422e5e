import type { AuditDraft, AuditHead, AuditRecord } from '../audit-record.js';

export type { AuditDraft, AuditHead, AuditLinks, AuditOutcome, AuditRecord } from '../audit-record.js';
export { chainRecords, EMPTY_HEAD, GENESIS_HASH } from '../audit-record.js';

/** Which records to list; every field narrows. */
export interface AuditFilter {
  /** A token's name, or `sluice` for what Sluice did itself. */
  actor?: string;
  action?: string;
  /** Records linked to this release (version) or stage. */
  release?: string;
  stage?: string;
  /** Records at or after this time (epoch ms). */
  since?: number;
  /** At most this many, the newest ones (in the order of the chain). */
  limit: number;
}

/**
 * Where audit records are kept: appended only, as one hash chain (`chainRecords`), with its head kept beside it.
 * Appends from several processes on one database form one line. A store that also keeps events writes the records
 * that go with events in the same transaction as them (see `JourneyLog.appendEvents`).
 */
export interface AuditTrail {
  /** Chains the drafts after the current head and stores them with the new head, at once. */
  appendAudit(drafts: readonly AuditDraft[], at: number): Promise<AuditRecord[]>;
  auditHead(): Promise<AuditHead>;
  /** Records with seq > afterSeq, in seq order, at most `limit`: as stored, whatever they say. */
  auditRecords(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;
}
