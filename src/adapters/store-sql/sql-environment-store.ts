import type { AuditDraft, EnvironmentRecord, EnvironmentStore } from '../../environments/ports/environment-store.js';
import { appendAuditTx } from './audit-sql.js';
import type { SqlDriver } from './sql-driver.js';

/** On-demand environments in PostgreSQL (migration 0011), through either driver, sharing the audit chain of the store. */
export class SqlEnvironmentStore implements EnvironmentStore {
  constructor(private readonly db: SqlDriver) {}

  async putEnvironment(e: EnvironmentRecord, expect: Pick<EnvironmentRecord, 'deploys' | 'status'> | undefined, audit: readonly AuditDraft[], at: number) {
    return this.db.transaction(async (tx) => {
      const values = [e.name, JSON.stringify(e), e.deploys, e.status, new Date(at)];
      // The condition is part of the write itself: a concurrent writer's INSERT waits on the key, its UPDATE on the
      // row, then sees the committed row, so exactly one of two writers expecting the same state changes it.
      const written =
        expect === undefined
          ? await tx.query(
            `INSERT INTO environments (name, record, deploys, status, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING RETURNING name`,
            values,
          )
          : await tx.query(
            `UPDATE environments SET record = $2::jsonb, deploys = $3, status = $4, updated_at = $5
             WHERE name = $1 AND deploys = $6 AND status = $7 RETURNING name`,
            [...values, expect.deploys, expect.status],
          );
      if (written.length === 0) return false;
      await appendAuditTx(tx, audit, at);
      return true;
    });
  }

  async deleteEnvironment(name: string, audit: readonly AuditDraft[], at: number) {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(`DELETE FROM environments WHERE name = $1 RETURNING name`, [name]);
      if (rows.length === 0) return false;
      await appendAuditTx(tx, audit, at);
      return true;
    });
  }

  async getEnvironment(name: string) {
    const rows = await this.db.query<{ record: EnvironmentRecord }>(`SELECT record FROM environments WHERE name = $1`, [name]);
    return rows[0]?.record;
  }

  async listEnvironments() {
    // Byte order, as the memory store sorts: a locale collation would order "a-c" after "ab".
    const rows = await this.db.query<{ record: EnvironmentRecord }>(`SELECT record FROM environments ORDER BY name COLLATE "C"`);
    return rows.map((r) => r.record);
  }
}
