import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SqlDriver } from './sql-driver.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations shipped with Sluice: `NNNN_name.sql`, applied in order, forward only. */
export function loadMigrations(): Migration[] {
  // Compiled code runs from dist/src/adapters/store-sql; the SQL files stay in src/adapters/store-sql/migrations.
  const candidates = ['./migrations/', '../../../../src/adapters/store-sql/migrations/'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  const dir = candidates.find((d) => existsSync(d));
  if (!dir) throw new Error(`migrations folder not found (looked in ${candidates.join(', ')})`);
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.slice(5, -4), sql: readFileSync(dir + f, 'utf8') }));
}

/** Applies the migrations not yet applied. Safe to run from several replicas at once: an advisory lock serialises them. */
export async function migrate(db: SqlDriver, migrations = loadMigrations()): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(7070707)`);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await tx.query<{ version: number }>(`SELECT version FROM schema_migrations`)).map((r) => r.version),
    );
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
