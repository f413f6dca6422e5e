import { PGlite } from '@electric-sql/pglite';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';

/** The embedded default: PostgreSQL compiled to WebAssembly, in a data directory (or in memory for `memory://`). */
export async function openPglite(dataDir: string): Promise<SqlDriver> {
  const db = new PGlite(dataDir);
  await db.waitReady;
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): SqlExecutor => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await q.query<T>(sql, params)).rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(db);
  return {
    kind: 'pglite',
    ...base,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}
