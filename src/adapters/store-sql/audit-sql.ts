import { type AuditDraft, type AuditFilter, type AuditHead, type AuditRecord, chainRecords } from '../../audit/ports/audit-trail.js';
import type { SqlExecutor } from './sql-driver.js';

interface AuditRow {
  seq: string | number;
  at: Date | string;
  actor: AuditRecord['actor'];
  action: string;
  reason: string;
  links: AuditRecord['links'];
  outcome: AuditRecord['outcome'];
  detail: unknown;
  prev_hash: string;
  hash: string;
}

const toRecord = (r: AuditRow): AuditRecord => ({
  seq: Number(r.seq),
  at: new Date(r.at).getTime(),
  actor: r.actor,
  action: r.action,
  reason: r.reason,
  links: r.links,
  outcome: r.outcome,
  ...(r.detail !== null && r.detail !== undefined ? { detail: r.detail } : {}),
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * Appends audit records inside the caller's transaction. The head row is locked first: appenders in other
 * transactions, of this process or another, wait, so the chain stays one line.
 */
export async function appendAuditTx(tx: SqlExecutor, drafts: readonly AuditDraft[], at: number): Promise<AuditRecord[]> {
  if (drafts.length === 0) return [];
  const rows = await tx.query<{ seq: string | number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`);
  const head: AuditHead = { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
  const { records, head: next } = chainRecords(head, drafts, at);
  for (const r of records)
    await tx.query(
      `INSERT INTO audit_records (seq, at, actor, action, reason, links, outcome, detail, prev_hash, hash)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb, $7, $8::jsonb, $9, $10)`,
      [
        r.seq, new Date(r.at), JSON.stringify(r.actor), r.action, r.reason, JSON.stringify(r.links), r.outcome,
        r.detail === undefined ? null : JSON.stringify(r.detail), r.prevHash, r.hash,
      ],
    );
  await tx.query(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [next.seq, next.hash]);
  return records;
}

export async function auditHead(db: SqlExecutor): Promise<AuditHead> {
  const rows = await db.query<{ seq: string | number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1`);
  return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
}

export async function auditRecords(db: SqlExecutor, afterSeq: number, limit: number): Promise<AuditRecord[]> {
  const rows = await db.query<AuditRow>(`SELECT * FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
  return rows.map(toRecord);
}

export async function listAudit(db: SqlExecutor, f: AuditFilter): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.actor !== undefined)
    where.push(f.actor === 'sluice' ? `actor->>'kind' = 'system'` : `(actor->>'kind' = 'token' AND actor->>'name' = ${p(f.actor)})`);
  if (f.action !== undefined) where.push(`action = ${p(f.action)}`);
  if (f.release !== undefined) where.push(`links->>'release' = ${p(f.release)}`);
  if (f.stage !== undefined) where.push(`links->>'stage' = ${p(f.stage)}`);
  if (f.since !== undefined) where.push(`at >= ${p(new Date(f.since))}`);
  const rows = await db.query<AuditRow>(
    `SELECT * FROM (SELECT * FROM audit_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${p(f.limit)}) newest ORDER BY seq`,
    params,
  );
  return rows.map(toRecord);
}
