import type { AuditDraft, AuditFilter, AuditTrail } from '../../audit/ports/audit-trail.js';
import type { SessionRecord, SessionStore } from '../../auth/ports/session-store.js';
import type { TokenRecord, TokenStore } from '../../auth/ports/token-store.js';
import { type Actor, conflict, type DesiredStage, type JourneyEvent, type JourneyLog, LEGACY_ACTOR, type StoredEvent } from '../../journeys/ports/journey-log.js';
import type { DeliveryOutcome, NotificationOutbox, NotificationRecord, OutboxEntry } from '../../notifications/ports/outbox.js';
import type { ReleaseRecord, ReleaseStore } from '../../releases/ports/release-store.js';
import { appendAuditTx, auditHead, auditRecords, listAudit } from './audit-sql.js';
import { migrate } from './migrate.js';
import { SqlEnvironmentStore } from './sql-environment-store.js';
import { SqlFlagStore } from './sql-flag-store.js';
import { SqlSecretStore } from './sql-secret-store.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';

interface EventRow {
  id: string | number;
  journey_id: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  at: Date | string;
  actor: Actor | null;
}
interface ReleaseRow {
  version: string;
  digest: string;
  source_ref: string | null;
  created_at: Date | string;
  journey_id: string;
  created_by_id?: string | null;
  created_by_name?: string | null;
}
interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord['role'];
  hash: string;
  created_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  last_used_at: Date | string | null;
}
interface SessionRow {
  id: string;
  hash: string;
  token_id: string;
  csrf: string;
  created_at: Date | string;
  expires_at: Date | string;
}
const ms = (d: Date | string) => new Date(d).getTime();
const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id,
  hash: r.hash,
  tokenId: r.token_id,
  csrf: r.csrf,
  createdAt: ms(r.created_at),
  expiresAt: ms(r.expires_at),
});
const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id,
  name: r.name,
  role: r.role,
  hash: r.hash,
  createdAt: ms(r.created_at),
  ...(r.expires_at !== null ? { expiresAt: ms(r.expires_at) } : {}),
  ...(r.revoked_at !== null ? { revokedAt: ms(r.revoked_at) } : {}),
  ...(r.last_used_at !== null ? { lastUsedAt: ms(r.last_used_at) } : {}),
});

const toEvent = (r: EventRow): StoredEvent =>
  ({
    ...r.data,
    type: r.type,
    id: Number(r.id),
    journeyId: r.journey_id,
    seq: r.seq,
    at: new Date(r.at).getTime(),
    actor: r.actor ?? LEGACY_ACTOR,
  }) as StoredEvent;
const toRelease = (r: ReleaseRow): ReleaseRecord => ({
  version: r.version,
  digest: r.digest,
  createdAt: new Date(r.created_at).getTime(),
  journeyId: r.journey_id,
  ...(r.source_ref ? { sourceRef: r.source_ref } : {}),
  ...(r.created_by_id ? { createdBy: { id: r.created_by_id, name: r.created_by_name ?? '' } } : {}),
});
const EVENT_COLS = 'id, journey_id, seq, type, data, at, actor';

interface NotificationRow {
  id: string | number;
  event_id: string | number;
  target_kind: NotificationRecord['target']['kind'];
  target_url: string;
  body: NotificationRecord['body'];
  status: NotificationRecord['status'];
  attempts: number;
  next_at: Date | string;
  last_error: string | null;
  created_at: Date | string;
  delivered_at: Date | string | null;
}
// A row's target and body were written as a pair (a notification to a webhook or Slack, or an API call to its service).
const toNotification = (r: NotificationRow): NotificationRecord => ({
  id: Number(r.id),
  eventId: Number(r.event_id),
  target: { kind: r.target_kind, url: r.target_url },
  body: r.body,
  status: r.status,
  attempts: r.attempts,
  nextAt: new Date(r.next_at).getTime(),
  createdAt: new Date(r.created_at).getTime(),
  ...(r.last_error !== null ? { lastError: r.last_error } : {}),
  ...(r.delivered_at !== null ? { deliveredAt: new Date(r.delivered_at).getTime() } : {}),
}) as NotificationRecord;

/** Every store port on PostgreSQL, through either driver (PGlite or a server). */
export class SqlStore implements JourneyLog, ReleaseStore, TokenStore, SessionStore, NotificationOutbox, AuditTrail {
  private constructor(private readonly db: SqlDriver) {}

  static async open(db: SqlDriver): Promise<SqlStore> {
    await migrate(db);
    return new SqlStore(db);
  }

  /** The secrets of stages (the SecretStore port), in the same database. */
  get secrets(): SqlSecretStore {
    return new SqlSecretStore(this.db);
  }

  /** Feature flags (the FlagStore port), in the same database and audit chain. */
  get flags(): SqlFlagStore {
    return new SqlFlagStore(this.db);
  }

  /** On-demand environments (the EnvironmentStore port), in the same database and audit chain. */
  get environments(): SqlEnvironmentStore {
    return new SqlEnvironmentStore(this.db);
  }

  get driverKind() {
    return this.db.kind;
  }

  async createRelease(r: ReleaseRecord, first: JourneyEvent, actor: Actor, audit: readonly AuditDraft[] = []) {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<ReleaseRow>(
        `INSERT INTO releases (version, digest, source_ref, created_at, journey_id, created_by_id, created_by_name) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (version) DO NOTHING RETURNING version, digest, source_ref, created_at, journey_id, created_by_id, created_by_name`,
        [r.version, r.digest, r.sourceRef ?? null, new Date(r.createdAt), r.journeyId, r.createdBy?.id ?? null, r.createdBy?.name ?? null],
      );
      if (inserted[0]) {
        await insertEvents(tx, r.journeyId, 0, [first], r.createdAt, actor);
        await appendAuditTx(tx, audit, r.createdAt);
        return { release: toRelease(inserted[0]), created: true };
      }
      const rows = await tx.query<ReleaseRow>(`SELECT * FROM releases WHERE version = $1`, [r.version]);
      return { release: toRelease(rows[0]!), created: false };
    });
  }

  async getRelease(version: string) {
    const rows = await this.db.query<ReleaseRow>(`SELECT * FROM releases WHERE version = $1`, [version]);
    return rows[0] ? toRelease(rows[0]) : undefined;
  }

  async listReleases() {
    return (await this.db.query<ReleaseRow>(`SELECT * FROM releases ORDER BY created_at, version`)).map(toRelease);
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
    if (events.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const last = await tx.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM events WHERE journey_id = $1`, [
        journeyId,
      ]);
      if ((last[0]?.seq ?? -1) !== expectedSeq) throw conflict(journeyId, expectedSeq);
      let stored: StoredEvent[];
      try {
        stored = await insertEvents(tx, journeyId, expectedSeq + 1, events, at, actor);
      } catch (e) {
        // Two writers passed the check at once: the unique (journey_id, seq) lets only one in.
        if ((e as { code?: string }).code === '23505') throw conflict(journeyId, expectedSeq);
        throw e;
      }
      for (const d of desired) await upsertDesired(tx, d, at);
      await appendAuditTx(tx, audit, at);
      return stored;
    });
  }

  async desiredStages() {
    const rows = await this.db.query<{ data: DesiredStage }>(`SELECT data FROM desired_stages ORDER BY stage`);
    return rows.map((r) => r.data);
  }

  async replaceDesiredStages(all: DesiredStage[]) {
    await this.db.transaction(async (tx) => {
      await tx.query(`DELETE FROM desired_stages`);
      for (const d of all) await upsertDesired(tx, d, Date.now());
    });
  }

  async loadEvents(journeyId?: string) {
    const rows =
      journeyId === undefined
        ? await this.db.query<EventRow>(`SELECT ${EVENT_COLS} FROM events ORDER BY id`)
        : await this.db.query<EventRow>(`SELECT ${EVENT_COLS} FROM events WHERE journey_id = $1 ORDER BY id`, [
          journeyId,
        ]);
    return rows.map(toEvent);
  }

  async eventsAfter(afterId: number, limit: number) {
    const rows = await this.db.query<EventRow>(`SELECT ${EVENT_COLS} FROM events WHERE id > $1 ORDER BY id LIMIT $2`, [
      afterId,
      limit,
    ]);
    return rows.map(toEvent);
  }

  async outboxCursor() {
    const rows = await this.db.query<{ event_id: string | number }>(`SELECT event_id FROM cursors WHERE name = 'notify'`);
    return Number(rows[0]?.event_id ?? 0);
  }

  async enqueueNotifications(entries: OutboxEntry[], upTo: number, at: number) {
    await this.db.transaction(async (tx) => {
      for (const e of entries)
        await tx.query(
          `INSERT INTO notifications (event_id, kind, stage, target_kind, target_url, body, status, next_at, created_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', $7, $7) ON CONFLICT (event_id, kind, stage, target_kind, target_url) DO NOTHING`,
          [e.eventId, e.body.kind, e.body.stage, e.target.kind, e.target.url, JSON.stringify(e.body), new Date(at)],
        );
      await tx.query(
        `INSERT INTO cursors (name, event_id) VALUES ('notify', $1)
         ON CONFLICT (name) DO UPDATE SET event_id = GREATEST(cursors.event_id, EXCLUDED.event_id)`,
        [upTo],
      );
    });
  }

  async claimNotifications(now: number, leaseUntil: number, limit: number) {
    // SKIP LOCKED: two replicas claiming at once take different rows instead of waiting for each other.
    const rows = await this.db.query<NotificationRow>(
      `UPDATE notifications SET next_at = $2 WHERE id IN (
         SELECT id FROM notifications WHERE status = 'pending' AND next_at <= $1 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
       ) RETURNING *`,
      [new Date(now), new Date(leaseUntil), limit],
    );
    return rows.map(toNotification).sort((a, b) => a.id - b.id);
  }

  async settleNotification(id: number, o: DeliveryOutcome) {
    await this.db.query(
      `UPDATE notifications SET attempts = attempts + 1, status = $2, delivered_at = $3, next_at = coalesce($4, next_at),
         last_error = coalesce($5, last_error) WHERE id = $1`,
      [
        id,
        o.status,
        o.status === 'delivered' ? new Date(o.at) : null,
        o.status === 'pending' ? new Date(o.nextAt) : null,
        o.status === 'delivered' ? null : o.error,
      ],
    );
  }

  async nextNotificationDue() {
    const rows = await this.db.query<{ at: Date | string | null }>(`SELECT min(next_at) AS at FROM notifications WHERE status = 'pending'`);
    const at = rows[0]?.at;
    return at ? new Date(at).getTime() : undefined;
  }

  async listNotifications(limit: number) {
    const rows = await this.db.query<NotificationRow>(`SELECT * FROM notifications ORDER BY id DESC LIMIT $1`, [limit]);
    return rows.map(toNotification);
  }

  async createToken(t: TokenRecord, audit: readonly AuditDraft[] = []) {
    return this.db.transaction(async (tx) => {
      // The unique index on the names of tokens not revoked decides, so two replicas creating one name at once make one token.
      const rows = await tx.query(
        `INSERT INTO tokens (id, name, role, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING RETURNING id`,
        [t.id, t.name, t.role, t.hash, new Date(t.createdAt), t.expiresAt === undefined ? null : new Date(t.expiresAt)],
      );
      if (!rows.length) return 'name-taken' as const;
      await appendAuditTx(tx, audit, t.createdAt);
      return 'created' as const;
    });
  }

  async findTokenByHash(hash: string) {
    const rows = await this.db.query<TokenRow>(`SELECT * FROM tokens WHERE hash = $1`, [hash]);
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  async findTokenById(id: string) {
    const rows = await this.db.query<TokenRow>(`SELECT * FROM tokens WHERE id = $1`, [id]);
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  async listTokens() {
    return (await this.db.query<TokenRow>(`SELECT * FROM tokens ORDER BY created_at, id`)).map(toToken);
  }

  async revokeToken(id: string, at: number, audit: readonly AuditDraft[] = []) {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(`UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id`, [id, new Date(at)]);
      if (!rows.length) return false;
      await appendAuditTx(tx, audit, at);
      return true;
    });
  }

  async touchToken(id: string, at: number) {
    await this.db.query(`UPDATE tokens SET last_used_at = $2 WHERE id = $1`, [id, new Date(at)]);
  }

  async countTokens() {
    const rows = await this.db.query<{ n: number | string }>(`SELECT count(*) AS n FROM tokens`);
    return Number(rows[0]?.n ?? 0);
  }

  async createSession(s: SessionRecord) {
    await this.db.query(`INSERT INTO sessions (id, hash, token_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
      s.id,
      s.hash,
      s.tokenId,
      s.csrf,
      new Date(s.createdAt),
      new Date(s.expiresAt),
    ]);
  }

  async findSessionByHash(hash: string) {
    const rows = await this.db.query<SessionRow>(`SELECT * FROM sessions WHERE hash = $1`, [hash]);
    return rows[0] ? toSession(rows[0]) : undefined;
  }

  async extendSession(id: string, expiresAt: number) {
    await this.db.query(`UPDATE sessions SET expires_at = $2 WHERE id = $1`, [id, new Date(expiresAt)]);
  }

  async deleteSession(id: string) {
    return (await this.db.query(`DELETE FROM sessions WHERE id = $1 RETURNING id`, [id])).length > 0;
  }

  async deleteExpiredSessions(now: number) {
    return (await this.db.query(`DELETE FROM sessions WHERE expires_at <= $1 RETURNING id`, [new Date(now)])).length;
  }

  appendAudit(drafts: readonly AuditDraft[], at: number) {
    return this.db.transaction((tx) => appendAuditTx(tx, drafts, at));
  }

  auditHead() {
    return auditHead(this.db);
  }

  auditRecords(afterSeq: number, limit: number) {
    return auditRecords(this.db, afterSeq, limit);
  }

  listAudit(filter: AuditFilter) {
    return listAudit(this.db, filter);
  }

  close() {
    return this.db.close();
  }
}

function upsertDesired(tx: SqlExecutor, d: DesiredStage, at: number) {
  return tx.query(
    `INSERT INTO desired_stages (stage, data, updated_at) VALUES ($1, $2::jsonb, $3)
     ON CONFLICT (stage) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at`,
    [d.stage, JSON.stringify(d), new Date(at)],
  );
}

async function insertEvents(
  tx: SqlExecutor,
  journeyId: string,
  firstSeq: number,
  events: JourneyEvent[],
  at: number,
  actor: Actor,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (const [i, e] of events.entries()) {
    const { type, ...data } = e;
    const rows = await tx.query<EventRow>(
      `INSERT INTO events (journey_id, seq, type, data, at, actor) VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb) RETURNING ${EVENT_COLS}`,
      [journeyId, firstSeq + i, type, JSON.stringify(data), new Date(at), JSON.stringify(actor)],
    );
    out.push(toEvent(rows[0]!));
  }
  return out;
}
