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

/** The URL of database `db` on that server. */
export function pgUrlOf(db: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${db}`;
  return u.toString();
}
