import type { AuditDraft } from '../../audit/ports/audit-trail.js';
import type { Actor } from '../../kernel/actor.js';
import { SluiceError } from '../../kernel/errors.js';
import type { DesiredStage } from '../desired-state.js';
import type { JourneyEvent, StoredEvent } from '../journey-events.js';

export type { DesiredStage } from '../desired-state.js';
export type { JourneyEvent, ReleaseRef, StoredEvent } from '../journey-events.js';
export { LEGACY_ACTOR } from '../journey-events.js';
export type { Actor } from '../../kernel/actor.js';
export type { AuditDraft } from '../../audit/ports/audit-trail.js';

/**
 * Where journeys are kept: one append-only event log per journey, in one global order, and the projection of what
 * each stage should serve (desired state), written with the events that change it.
 */
export interface JourneyLog {
  /**
   * Appends events to a journey after position `expectedSeq`, caused by `actor`, and stores `desired` (the stages
   * those events changed) and `audit` (the audit records that go with them, chained) in the same transaction. Throws
   * CONFLICT if another writer got there first; nothing is written in that case.
   */
  appendEvents(
    journeyId: string,
    expectedSeq: number,
    events: JourneyEvent[],
    at: number,
    actor: Actor,
    desired?: DesiredStage[],
    audit?: readonly AuditDraft[],
  ): Promise<StoredEvent[]>;
  /** Events in global order; of one journey, or of all. */
  loadEvents(journeyId?: string): Promise<StoredEvent[]>;
  /** Events with id > afterId, in order, at most `limit`. */
  eventsAfter(afterId: number, limit: number): Promise<StoredEvent[]>;
  /** What each stage should serve, as last written. */
  desiredStages(): Promise<DesiredStage[]>;
  /** Replaces the whole projection (after rebuilding it from the log). */
  replaceDesiredStages(all: DesiredStage[]): Promise<void>;
}

export function conflict(journeyId: string, expectedSeq: number): SluiceError {
  return new SluiceError('CONFLICT', `journey ${journeyId} moved past ${expectedSeq} meanwhile; reload and retry`, {
    journeyId,
    expectedSeq,
  });
}
