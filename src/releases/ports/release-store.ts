import type { AuditDraft } from '../../audit/ports/audit-trail.js';
import type { JourneyEvent, ReleaseCreator } from '../../journeys/journey-events.js';
import type { Actor } from '../../kernel/actor.js';

export type { JourneyEvent, ReleaseCreator } from '../../journeys/journey-events.js';
export type { AuditDraft } from '../../audit/ports/audit-trail.js';
export type { Actor } from '../../kernel/actor.js';

export interface ReleaseRecord {
  version: string;
  digest: string;
  sourceRef?: string;
  createdAt: number;
  /** The journey that carries this release through the stages. */
  journeyId: string;
  /** The token that created it; absent for releases made before it was recorded. */
  createdBy?: ReleaseCreator;
}

/** Where releases are kept. A release and the first event of its journey are written together. */
export interface ReleaseStore {
  /**
   * Records a new release and its journey's first event (`journey.created`, under `r.journeyId`, caused by `actor`)
   * together, with the audit records that go with it, or returns the existing release unchanged and writes nothing.
   * `created` is false when the version already existed (whatever its digest: the caller compares).
   */
  createRelease(
    r: ReleaseRecord,
    first: JourneyEvent,
    actor: Actor,
    audit?: readonly AuditDraft[],
  ): Promise<{ release: ReleaseRecord; created: boolean }>;
  getRelease(version: string): Promise<ReleaseRecord | undefined>;
  listReleases(): Promise<ReleaseRecord[]>;
}
