import { Fanout } from '../kernel/fanout.js';
import type { StoredEvent } from './journey-events.js';

/** Fans appended journey events out to live subscribers (the SSE stream). */
export class EventBus extends Fanout<StoredEvent> {}
