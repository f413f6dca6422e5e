import { type AuditDraft, type AuditFilter, type AuditHead, type AuditRecord, type AuditTrail, chainRecords, EMPTY_HEAD } from '../../audit/ports/audit-trail.js';
import type { SessionRecord, SessionStore } from '../../auth/ports/session-store.js';
import type { TokenRecord, TokenStore } from '../../auth/ports/token-store.js';
import { type Actor, conflict, type DesiredStage, type JourneyEvent, type JourneyLog, type StoredEvent } from '../../journeys/ports/journey-log.js';
import type { DeliveryOutcome, NotificationOutbox, NotificationRecord, OutboxEntry } from '../../notifications/ports/outbox.js';
import type { ReleaseRecord, ReleaseStore } from '../../releases/ports/release-store.js';
import { MemoryEnvironmentStore } from './memory-environment-store.js';
import { MemoryFlagStore } from './memory-flag-store.js';
import { MemorySecretStore } from './memory-secret-store.js';

/** The in-memory fake of every store port: the same contracts, nothing kept. For unit tests. */
export class MemoryStore implements JourneyLog, ReleaseStore, TokenStore, SessionStore, NotificationOutbox, AuditTrail {
  /** The secrets of stages (the SecretStore port). */
  readonly secrets = new MemorySecretStore();
  /** Feature flags (the FlagStore port); their audit records join this store's chain. */
  readonly flags: MemoryFlagStore = new MemoryFlagStore((drafts, at) => this.chain(drafts, at));
  /** On-demand environments (the EnvironmentStore port); their audit records join this store's chain. */
  readonly environments: MemoryEnvironmentStore = new MemoryEnvironmentStore((drafts, at) => this.chain(drafts, at));
  private releases = new Map<string, ReleaseRecord>();
  private events: StoredEvent[] = [];
  private desired = new Map<string, DesiredStage>();
  private tokens: TokenRecord[] = [];
  private sessions = new Map<string, SessionRecord>();
  private outbox: NotificationRecord[] = [];
  private cursor = 0;
  private audit: AuditRecord[] = [];
  private head: AuditHead = EMPTY_HEAD;

  async createRelease(r: ReleaseRecord, first: JourneyEvent, actor: Actor, audit: readonly AuditDraft[] = []) {
    const existing = this.releases.get(r.version);
    if (existing) return { release: existing, created: false };
    this.releases.set(r.version, r);
    this.push(r.journeyId, 0, first, r.createdAt, actor);
    this.chain(audit, r.createdAt);
    return { release: r, created: true };
  }
  async getRelease(version: string) {
    return this.releases.get(version);
  }
  async listReleases() {
    return [...this.releases.values()];
  }
  async appendEvents(
    journeyId: string,
    expectedSeq: number,
    events: JourneyEvent[],
    at: number,
    actor: Actor,
    desired: DesiredStage[] = [],
    audit: readonly AuditDraft[] = [],
  ) {
    const last = this.events.filter((e) => e.journeyId === journeyId).at(-1)?.seq ?? -1;
    if (last !== expectedSeq) throw conflict(journeyId, expectedSeq);
    const stored = events.map((e, i) => this.push(journeyId, expectedSeq + 1 + i, e, at, actor));
    for (const d of desired) this.desired.set(d.stage, structuredClone(d));
    this.chain(audit, at);
    return stored;
  }
  private push(journeyId: string, seq: number, e: JourneyEvent, at: number, actor: Actor): StoredEvent {
    const stored = { ...structuredClone(e), id: this.events.length + 1, journeyId, seq, at, actor: structuredClone(actor) } as StoredEvent;
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
  async createToken(t: TokenRecord, audit: readonly AuditDraft[] = []) {
    if (this.tokens.some((x) => x.name === t.name && x.revokedAt === undefined)) return 'name-taken' as const;
    this.tokens.push({ ...t });
    this.chain(audit, t.createdAt);
    return 'created' as const;
  }
  async findTokenByHash(hash: string) {
    const t = this.tokens.find((x) => x.hash === hash);
    return t ? { ...t } : undefined;
  }
  async findTokenById(id: string) {
    const t = this.tokens.find((x) => x.id === id);
    return t ? { ...t } : undefined;
  }
  async listTokens() {
    return this.tokens.map((t) => ({ ...t })).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  async revokeToken(id: string, at: number, audit: readonly AuditDraft[] = []) {
    const t = this.tokens.find((x) => x.id === id);
    if (!t || t.revokedAt !== undefined) return false;
    t.revokedAt = at;
    this.chain(audit, at);
    return true;
  }
  async touchToken(id: string, at: number) {
    const t = this.tokens.find((x) => x.id === id);
    if (t) t.lastUsedAt = at;
  }
  async countTokens() {
    return this.tokens.length;
  }
  async createSession(s: SessionRecord) {
    this.sessions.set(s.id, { ...s });
  }
  async findSessionByHash(hash: string) {
    const s = [...this.sessions.values()].find((x) => x.hash === hash);
    return s ? { ...s } : undefined;
  }
  async extendSession(id: string, expiresAt: number) {
    const s = this.sessions.get(id);
    if (s) s.expiresAt = expiresAt;
  }
  async deleteSession(id: string) {
    return this.sessions.delete(id);
  }
  async deleteExpiredSessions(now: number) {
    const ended = [...this.sessions.values()].filter((s) => s.expiresAt <= now);
    for (const s of ended) this.sessions.delete(s.id);
    return ended.length;
  }
  private chain(drafts: readonly AuditDraft[], at: number): AuditRecord[] {
    const { records, head } = chainRecords(this.head, structuredClone(drafts), at);
    this.audit.push(...records);
    this.head = head;
    return structuredClone(records);
  }
  async appendAudit(drafts: readonly AuditDraft[], at: number) {
    return this.chain(drafts, at);
  }
  async auditHead() {
    return { ...this.head };
  }
  async auditRecords(afterSeq: number, limit: number) {
    return structuredClone(this.audit.filter((r) => r.seq > afterSeq).slice(0, limit));
  }
  async listAudit(f: AuditFilter) {
    const hit = (r: AuditRecord) =>
      (f.actor === undefined || (f.actor === 'sluice' ? r.actor.kind === 'system' : r.actor.kind === 'token' && r.actor.name === f.actor)) &&
      (f.action === undefined || r.action === f.action) &&
      (f.release === undefined || r.links.release === f.release) &&
      (f.stage === undefined || r.links.stage === f.stage) &&
      (f.since === undefined || r.at >= f.since);
    return structuredClone(this.audit.filter(hit).slice(-f.limit));
  }
  async close() {}
}
