import { join } from 'node:path';
import { openPostgres } from './pg-driver.js';
import { openPglite } from './pglite-driver.js';
import { SqlStore } from './sql-store.js';

/** Opens the store: PostgreSQL when a URL is given, otherwise PGlite in `<dataDir>/pg` (or in memory for `memory://`). */
export async function openStore(opts: { databaseUrl?: string; dataDir: string }): Promise<SqlStore> {
  if (opts.databaseUrl) return SqlStore.open(await openPostgres(opts.databaseUrl));
  return SqlStore.open(await openPglite(opts.dataDir === 'memory://' ? 'memory://' : join(opts.dataDir, 'pg')));
}
