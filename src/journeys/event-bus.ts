import type { StoredEvent } from './journey-events.js';

type Listener = (e: StoredEvent) => void;

/** Fans appended events out to live subscribers (the SSE stream). */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  publish(e: StoredEvent): void {
    for (const l of this.listeners) l(e);
  }
  /** How many subscribers listen now (one per open event stream). */
  get size(): number {
    return this.listeners.size;
  }
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
