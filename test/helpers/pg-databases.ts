import pg from 'pg';

/** The PostgreSQL server the pg suites use: DATABASE_URL, or the local one on 127.0.0.1:5432 (trust auth). */
export const PG_ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on that server as its admin (CREATE DATABASE, DROP DATABASE). */
export async function pgAdmin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Waits (up to 30 s) until no session on that server runs a statement naming any of `names` (a CREATE DATABASE of a
 * spare copy that a stopped Sluice started goes on to its end), then drops the databases of those names.
 */
export async function pgDropAfterQuiet(names: readonly string[]): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const busy = (await c.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = $1', ['active'])).rows;
      if (!busy.some((b) => names.some((n) => b.query.includes(n)))) break;
    }
    for (const n of names) await c.query(`DROP DATABASE IF EXISTS "${n.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** The URL of database `db` on that server. */
export function pgUrlOf(db: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${db}`;
  return u.toString();
}
