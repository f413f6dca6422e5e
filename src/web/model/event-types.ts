import type { JourneyEvent } from '../../journeys/journey-events.js';

/**
 * Every journey event type. The event stream names each frame by its type, and EventSource delivers a named event
 * only to a listener for that name, so the dashboard listens for each; a type added to the journey's events and not
 * here fails the typecheck.
 */
const TYPES = {
  'journey.created': true,
  'step.started': true,
  'step.finished': true,
  'step.warned': true,
  'stage.entered': true,
  'stage.promoted': true,
  'stage.approved': true,
  'stage.rejected': true,
  'stage.bake-started': true,
  'stage.rollback-requested': true,
  'stage.paused': true,
  'stage.resumed': true,
  'stage.guard-tripped': true,
  'stage.promoted-full': true,
  'journey.retried': true,
  'journey.superseded': true,
} satisfies Record<JourneyEvent['type'], true>;

export const EVENT_TYPES = Object.keys(TYPES) as Array<JourneyEvent['type']>;
