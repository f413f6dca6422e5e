import type { TokenRecord, TokenStore } from '../../auth/ports/token-store.js';
import { conflict, type DesiredStage, type JourneyEvent, type JourneyLog, type StoredEvent } from '../../journeys/ports/journey-log.js';
import type { DeliveryOutcome, NotificationOutbox, NotificationRecord, OutboxEntry } from '../../notifications/ports/outbox.js';
import type { ReleaseRecord, ReleaseStore } from '../../releases/ports/release-store.js';
import { MemorySecretStore } from './memory-secret-store.js';

/** The in-memory fake of every store port: the same contracts, nothing kept. For unit tests. */
export class MemoryStore implements JourneyLog, ReleaseStore, TokenStore, NotificationOutbox {
  /** The secrets of stages (the SecretStore port). */
  readonly secrets = new MemorySecretStore();
  private releases = new Map<string, ReleaseRecord>();
  private events: StoredEvent[] = [];
  private desired = new Map<string, DesiredStage>();
  private tokens: TokenRecord[] = [];
  private outbox: NotificationRecord[] = [];
  private cursor = 0;

  async createRelease(r: ReleaseRecord, first: JourneyEvent) {
    const existing = this.releases.get(r.version);
    if (existing) return { release: existing, created: false };
    this.releases.set(r.version, r);
    this.push(r.journeyId, 0, first, r.createdAt);
    return { release: r, created: true };
  }
  async getRelease(version: string) {
    return this.releases.get(version);
  }
  async listReleases() {
    return [...this.releases.values()];
  }
  async appendEvents(journeyId: string, expectedSeq: number, events: JourneyEvent[], at: number, desired: DesiredStage[] = []) {
    const last = this.events.filter((e) => e.journeyId === journeyId).at(-1)?.seq ?? -1;
    if (last !== expectedSeq) throw conflict(journeyId, expectedSeq);
    const stored = events.map((e, i) => this.push(journeyId, expectedSeq + 1 + i, e, at));
    for (const d of desired) this.desired.set(d.stage, structuredClone(d));
    return stored;
  }
  private push(journeyId: string, seq: number, e: JourneyEvent, at: number): StoredEvent {
    const stored = { ...structuredClone(e), id: this.events.length + 1, journeyId, seq, at } as StoredEvent;
    this.events.push(stored);
    return stored;
  }
  async loadEvents(journeyId?: string) {
    return this.events.filter((e) => journeyId === undefined || e.journeyId === journeyId).map((e) => structuredClone(e));
  }
  async eventsAfter(afterId: number, limit: number) {
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
  async desiredStages() {
    return [...this.desired.values()].map((d) => structuredClone(d)).sort((a, b) => a.stage.localeCompare(b.stage));
  }
  async replaceDesiredStages(all: DesiredStage[]) {
    this.desired = new Map(all.map((d) => [d.stage, structuredClone(d)]));
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
