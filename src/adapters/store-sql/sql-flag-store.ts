import type {
  AuditDraft,
  EvaluationCountInput,
  EvaluationStat,
  FlagChange,
  FlagDefinitionRecord,
  FlagEvent,
  FlagEventFilter,
  FlagKeyRecord,
  FlagSnapshot,
  FlagStore,
  StageFlag,
} from '../../flags/ports/flag-store.js';
import { ERROR_VARIANT } from '../../flags/ports/flag-store.js';
import { appendAuditTx } from './audit-sql.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';

const ms = (d: Date | string) => new Date(d).getTime();

interface DefRow {
  key: string;
  type: FlagDefinitionRecord['type'];
  variants: FlagDefinitionRecord['variants'];
  description: string;
  owner: string;
  changed_at: Date | string;
  file_hash: string | null;
}
interface StageRow {
  stage: string;
  revision: number;
  segments: Record<string, unknown>;
  segment_file_hashes: Record<string, string>;
}
interface StageFlagRow {
  stage: string;
  key: string;
  config: StageFlag;
  changed_at: Date | string;
  file_hash: string | null;
}
interface EventRow {
  id: string | number;
  stage: string | null;
  flag: string | null;
  type: string;
  data: unknown;
  actor: FlagEvent['actor'];
  reason: string;
  links: Record<string, string>;
  revisions: Record<string, number>;
  at: Date | string;
}
interface KeyRow {
  id: string;
  stage: string;
  name: string;
  hash: string;
  created_at: Date | string;
  revoked_at: Date | string | null;
}

const toEvent = (r: EventRow): FlagEvent => ({
  id: Number(r.id),
  ...(r.stage !== null ? { stage: r.stage } : {}),
  ...(r.flag !== null ? { flag: r.flag } : {}),
  type: r.type,
  data: r.data,
  actor: r.actor,
  reason: r.reason,
  links: r.links,
  revisions: r.revisions,
  at: ms(r.at),
});
const toKey = (r: KeyRow): FlagKeyRecord => ({
  id: r.id,
  stage: r.stage,
  name: r.name,
  hash: r.hash,
  createdAt: ms(r.created_at),
  ...(r.revoked_at !== null ? { revokedAt: ms(r.revoked_at) } : {}),
});

async function snapshot(db: SqlExecutor): Promise<FlagSnapshot> {
  const out: FlagSnapshot = { defs: {}, stages: {} };
  for (const r of await db.query<DefRow>(`SELECT * FROM flag_definitions ORDER BY key`))
    out.defs[r.key] = {
      key: r.key,
      type: r.type,
      variants: r.variants,
      description: r.description,
      owner: r.owner,
      changedAt: ms(r.changed_at),
      ...(r.file_hash !== null ? { fileHash: r.file_hash } : {}),
    };
  for (const r of await db.query<StageRow>(`SELECT * FROM flag_stages ORDER BY stage`))
    out.stages[r.stage] = { revision: r.revision, segments: r.segments, segmentFileHashes: r.segment_file_hashes, flags: {} };
  for (const r of await db.query<StageFlagRow>(`SELECT * FROM flag_stage_flags ORDER BY stage, key`)) {
    const s = out.stages[r.stage];
    if (s) s.flags[r.key] = { config: r.config, changedAt: ms(r.changed_at), ...(r.file_hash !== null ? { fileHash: r.file_hash } : {}) };
  }
  return out;
}

/** Feature flags in PostgreSQL (migration 0010), through either driver, sharing the audit chain of the store. */
export class SqlFlagStore implements FlagStore {
  constructor(private readonly db: SqlDriver) {}

  flagSnapshot() {
    return snapshot(this.db);
  }

  async changeFlags<T>(at: number, decide: (now: FlagSnapshot) => { change: FlagChange; result: T }) {
    return this.db.transaction(async (tx) => {
      // One writer at a time, across processes: `decide` sees the state its change applies to.
      await tx.query(`SELECT changes FROM flag_head WHERE id = 1 FOR UPDATE`);
      const now = await snapshot(tx);
      const { change, result } = decide(now);
      const when = new Date(at);
      for (const d of change.defs?.put ?? [])
        await tx.query(
          `INSERT INTO flag_definitions (key, type, variants, description, owner, changed_at, file_hash) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
           ON CONFLICT (key) DO UPDATE SET type = EXCLUDED.type, variants = EXCLUDED.variants, description = EXCLUDED.description,
             owner = EXCLUDED.owner, changed_at = EXCLUDED.changed_at, file_hash = EXCLUDED.file_hash`,
          [d.key, d.type, JSON.stringify(d.variants), d.description, d.owner, new Date(d.changedAt), d.fileHash ?? null],
        );
      for (const k of change.defs?.remove ?? []) await tx.query(`DELETE FROM flag_definitions WHERE key = $1`, [k]);
      const revisions: Record<string, number> = {};
      for (const [stage, c] of Object.entries(change.stages)) {
        const prev = now.stages[stage];
        const revision = (prev?.revision ?? 0) + 1;
        revisions[stage] = revision;
        await tx.query(
          `INSERT INTO flag_stages (stage, revision, segments, segment_file_hashes) VALUES ($1, $2, $3::jsonb, $4::jsonb)
           ON CONFLICT (stage) DO UPDATE SET revision = EXCLUDED.revision, segments = EXCLUDED.segments, segment_file_hashes = EXCLUDED.segment_file_hashes`,
          [stage, revision, JSON.stringify(c.segments ?? prev?.segments ?? {}), JSON.stringify(c.segmentFileHashes ?? prev?.segmentFileHashes ?? {})],
        );
        for (const [k, r] of Object.entries(c.put ?? {}))
          await tx.query(
            `INSERT INTO flag_stage_flags (stage, key, config, changed_at, file_hash) VALUES ($1, $2, $3::jsonb, $4, $5)
             ON CONFLICT (stage, key) DO UPDATE SET config = EXCLUDED.config, changed_at = EXCLUDED.changed_at, file_hash = EXCLUDED.file_hash`,
            [stage, k, JSON.stringify(r.config), new Date(r.changedAt), r.fileHash ?? null],
          );
        for (const k of c.remove ?? []) await tx.query(`DELETE FROM flag_stage_flags WHERE stage = $1 AND key = $2`, [stage, k]);
      }
      for (const e of change.events)
        await tx.query(
          `INSERT INTO flag_events (stage, flag, type, data, actor, reason, links, revisions, at) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8::jsonb, $9)`,
          [
            e.stage ?? null, e.flag ?? null, e.type, JSON.stringify(e.data ?? null), JSON.stringify(change.actor), change.reason,
            JSON.stringify(change.links), JSON.stringify(revisions), when,
          ],
        );
      await tx.query(`UPDATE flag_head SET changes = changes + 1 WHERE id = 1`);
      await appendAuditTx(tx, change.audit, at);
      return { result, revisions };
    });
  }

  async flagEvents(f: FlagEventFilter) {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.stage !== undefined) where.push(`(stage IS NULL OR stage = ${p(f.stage)})`);
    if (f.flag !== undefined) where.push(`flag = ${p(f.flag)}`);
    const rows = await this.db.query<EventRow>(
      `SELECT * FROM (SELECT * FROM flag_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${p(f.limit)}) newest ORDER BY id`,
      params,
    );
    return rows.map(toEvent);
  }

  async createFlagKey(k: FlagKeyRecord, audit: readonly AuditDraft[]) {
    await this.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO flag_keys (id, stage, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)`, [k.id, k.stage, k.name, k.hash, new Date(k.createdAt)]);
      await appendAuditTx(tx, audit, k.createdAt);
    });
  }

  async listFlagKeys(stage?: string) {
    const rows =
      stage === undefined
        ? await this.db.query<KeyRow>(`SELECT * FROM flag_keys ORDER BY created_at, id`)
        : await this.db.query<KeyRow>(`SELECT * FROM flag_keys WHERE stage = $1 ORDER BY created_at, id`, [stage]);
    return rows.map(toKey);
  }

  async revokeFlagKey(id: string, at: number, audit: readonly AuditDraft[]) {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(`UPDATE flag_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id`, [id, new Date(at)]);
      if (rows.length === 0) return false;
      await appendAuditTx(tx, audit, at);
      return true;
    });
  }

  async recordEvaluations(counts: readonly EvaluationCountInput[]) {
    if (counts.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const c of counts)
        await tx.query(
          `INSERT INTO flag_evaluations (stage, flag, variant, count, last_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (stage, flag, variant) DO UPDATE SET count = flag_evaluations.count + EXCLUDED.count,
             last_at = GREATEST(flag_evaluations.last_at, EXCLUDED.last_at)`,
          [c.stage, c.flag, c.variant ?? ERROR_VARIANT, c.count, new Date(c.lastAt)],
        );
    });
  }

  async evaluationStats() {
    const rows = await this.db.query<{ stage: string; flag: string; variant: string; count: string | number; last_at: Date | string }>(
      `SELECT * FROM flag_evaluations ORDER BY stage, flag, variant`,
    );
    const out: EvaluationStat[] = [];
    for (const r of rows) {
      let s = out.at(-1);
      if (!s || s.stage !== r.stage || s.flag !== r.flag) out.push((s = { stage: r.stage, flag: r.flag, lastAt: 0, variants: {} }));
      s.variants[r.variant] = Number(r.count);
      s.lastAt = Math.max(s.lastAt, ms(r.last_at));
    }
    return out;
  }
}
