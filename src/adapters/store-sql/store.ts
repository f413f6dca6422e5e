import { SluiceError } from '../../kernel/errors.js';
import type { JourneyEvent, StoredEvent } from '../../journeys/journey-events.js';
import type { Notification } from '../../notifications/notification.js';
import type { NotifyTarget } from '../../pipeline/pipeline.js';

export interface ReleaseRecord {
  version: string;
  digest: string;
  sourceRef?: string;
  createdAt: number;
}

export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  createdAt: number;
}

/** A notification to send to one target, made by one event. */
export interface OutboxEntry {
  eventId: number;
  target: NotifyTarget;
  body: Notification;
}

/**
 * A notification in the outbox:
 * - pending: not delivered yet; tried again at `nextAt`;
 * - delivered: the target answered 2xx;
 * - failed: given up on (refused for good, or still failing a day later); `lastError` says why.
 */
export interface NotificationRecord extends OutboxEntry {
  id: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: number;
  lastError?: string;
  createdAt: number;
  deliveredAt?: number;
}

/** The outcome of one delivery attempt. */
export type DeliveryOutcome =
  | { status: 'delivered'; at: number }
  | { status: 'pending'; nextAt: number; error: string }
  | { status: 'failed'; error: string };

/** Everything Sluice keeps. Implemented on SQL (PGlite and PostgreSQL) and in memory for unit tests. */
export interface Store {
  /**
   * Records a new release and its journey's first event together, or returns the existing release unchanged.
   * `created` is false when the version already existed (whatever its digest: the caller compares).
   */
  createRelease(r: ReleaseRecord, first: JourneyEvent): Promise<{ release: ReleaseRecord; created: boolean }>;
  getRelease(version: string): Promise<ReleaseRecord | undefined>;
  listReleases(): Promise<ReleaseRecord[]>;
  /**
   * Appends events to a journey after position `expectedSeq`. Throws CONFLICT if another writer got there first;
   * nothing is written in that case.
   */
  appendEvents(journeyId: string, expectedSeq: number, events: JourneyEvent[], at: number): Promise<StoredEvent[]>;
  /** Events in global order; of one journey, or of all. */
  loadEvents(journeyId?: string): Promise<StoredEvent[]>;
  /** Events with id > afterId, in order, at most `limit`. */
  eventsAfter(afterId: number, limit: number): Promise<StoredEvent[]>;
  /** The id of the last event the notification outbox has read (it starts at the newest event when the outbox is created). */
  outboxCursor(): Promise<number>;
  /** Adds notifications (each event, kind, stage and target at most once) and moves the cursor up to `upTo`, together. */
  enqueueNotifications(entries: OutboxEntry[], upTo: number, at: number): Promise<void>;
  /**
   * Takes up to `limit` pending notifications due at `now`, oldest first, and makes them due again only at
   * `leaseUntil`: nobody else sends them meanwhile, and if the sender dies they come due again.
   */
  claimNotifications(now: number, leaseUntil: number, limit: number): Promise<NotificationRecord[]>;
  /** Records one delivery attempt. */
  settleNotification(id: number, outcome: DeliveryOutcome): Promise<void>;
  /** When the next pending notification is due, if any is. */
  nextNotificationDue(): Promise<number | undefined>;
  /** The newest notifications first. */
  listNotifications(limit: number): Promise<NotificationRecord[]>;
  createToken(t: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  countTokens(): Promise<number>;
  close(): Promise<void>;
}

export function conflict(journeyId: string, expectedSeq: number): SluiceError {
  return new SluiceError('CONFLICT', `journey ${journeyId} moved past ${expectedSeq} meanwhile; reload and retry`, {
    journeyId,
    expectedSeq,
  });
}

/** The in-memory fake: same contract, no persistence. */
export class MemoryStore implements Store {
  private releases = new Map<string, ReleaseRecord>();
  private events: StoredEvent[] = [];
  private tokens: TokenRecord[] = [];
  private outbox: NotificationRecord[] = [];
  private cursor = 0;

  async createRelease(r: ReleaseRecord, first: JourneyEvent) {
    const existing = this.releases.get(r.version);
    if (existing) return { release: existing, created: false };
    this.releases.set(r.version, r);
    this.push(r.version, 0, first, r.createdAt);
    return { release: r, created: true };
  }
  async getRelease(version: string) {
    return this.releases.get(version);
  }
  async listReleases() {
    return [...this.releases.values()];
  }
  async appendEvents(journeyId: string, expectedSeq: number, events: JourneyEvent[], at: number) {
    const last = this.events.filter((e) => e.journeyId === journeyId).at(-1)?.seq ?? -1;
    if (last !== expectedSeq) throw conflict(journeyId, expectedSeq);
    return events.map((e, i) => this.push(journeyId, expectedSeq + 1 + i, e, at));
  }
  private push(journeyId: string, seq: number, e: JourneyEvent, at: number): StoredEvent {
    const stored = { ...structuredClone(e), id: this.events.length + 1, journeyId, seq, at } as StoredEvent;
    this.events.push(stored);
    return stored;
  }
  async loadEvents(journeyId?: string) {
    return this.events
      .filter((e) => journeyId === undefined || e.journeyId === journeyId)
      .map((e) => structuredClone(e));
  }
  async eventsAfter(afterId: number, limit: number) {
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
  async outboxCursor() {
    return this.cursor;
  }
  async enqueueNotifications(entries: OutboxEntry[], upTo: number, at: number) {
    for (const e of entries) {
      const same = (r: NotificationRecord) =>
        r.eventId === e.eventId &&
        r.body.kind === e.body.kind &&
        r.body.stage === e.body.stage &&
        r.target.kind === e.target.kind &&
        r.target.url === e.target.url;
      if (this.outbox.some(same)) continue;
      this.outbox.push({ ...structuredClone(e), id: this.outbox.length + 1, status: 'pending', attempts: 0, nextAt: at, createdAt: at });
    }
    this.cursor = Math.max(this.cursor, upTo);
  }
  async claimNotifications(now: number, leaseUntil: number, limit: number) {
    const due = this.outbox.filter((r) => r.status === 'pending' && r.nextAt <= now).slice(0, limit);
    for (const r of due) r.nextAt = leaseUntil;
    return due.map((r) => structuredClone(r));
  }
  async settleNotification(id: number, o: DeliveryOutcome) {
    const r = this.outbox.find((x) => x.id === id);
    if (!r) return;
    r.attempts++;
    r.status = o.status;
    if (o.status === 'delivered') r.deliveredAt = o.at;
    else r.lastError = o.error;
    if (o.status === 'pending') r.nextAt = o.nextAt;
  }
  async nextNotificationDue() {
    const due = this.outbox.filter((r) => r.status === 'pending').map((r) => r.nextAt);
    return due.length ? Math.min(...due) : undefined;
  }
  async listNotifications(limit: number) {
    return this.outbox.slice(-limit).reverse().map((r) => structuredClone(r));
  }
  async createToken(t: TokenRecord) {
    this.tokens.push(t);
  }
  async findTokenByHash(hash: string) {
    return this.tokens.find((t) => t.hash === hash);
  }
  async countTokens() {
    return this.tokens.length;
  }
  async close() {}
}
