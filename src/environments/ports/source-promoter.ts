import type { AuditDraft } from '../../audit/ports/audit-trail.js';
import type { ReleaseRef } from '../../journeys/journey-events.js';
import type { Role, TokenActor } from '../../kernel/actor.js';

/**
 * What bringing an approved environment's build to its source stage did: `promoted`, the release was let into the
 * stage now (it deploys there, or waits in the stage's lane); `already`, its journey had the stage already (queued,
 * in it, or past it), so there was nothing to promote.
 */
export interface PromotionOutcome {
  journeyId: string;
  stage: string;
  outcome: 'promoted' | 'already';
  /** The stage's status in the journey after the promotion (e.g. ready: queued in the lane; deploying). */
  status: string;
}

/**
 * Brings a release to a pipeline stage through its journey, as `sluice promote` does (ADR 27): the stage's lane,
 * windows, freezes and protection apply. Refuses (a SluiceError, nothing changed) when the journey cannot take the
 * stage now: it has not reached it yet, or it ended.
 */
export interface SourcePromoter {
  /** `defaultPromoters`: who may promote where the stage's protection names nobody. `audit` goes with the journey's event. */
  promote(
    actor: TokenActor,
    release: ReleaseRef,
    stage: string,
    defaultPromoters: readonly Role[],
    audit: readonly AuditDraft[],
  ): Promise<PromotionOutcome>;
}
