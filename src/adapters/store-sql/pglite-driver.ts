import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgliteDataDir } from './create-pglite-data-dir.js';
import { PGLITE_OPTIONS } from './pglite-options.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';

/**
 * The embedded default: PostgreSQL compiled to WebAssembly, in a data directory (or in memory for `memory://`).
 * A directory that holds no database yet is created first by a short-lived child process (see
 * {@link createPgliteDataDir}), so this process never carries the memory that creating it leaves behind.
 */
export async function openPglite(dataDir: string): Promise<SqlDriver> {
  if (dataDir !== 'memory://' && !existsSync(join(dataDir, 'PG_VERSION'))) await createPgliteDataDir(dataDir);
  const db = new PGlite(dataDir, PGLITE_OPTIONS);
  await db.waitReady;
  return pgliteDriver(db);
}

/** A ready PGlite as the SqlDriver the store runs on; closing the driver closes it. */
export function pgliteDriver(db: PGlite): SqlDriver {
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): SqlExecutor => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await q.query<T>(sql, params)).rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...wrap(db),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}
