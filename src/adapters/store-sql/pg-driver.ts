import pg from 'pg';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';

/** A real PostgreSQL server, for scale-out. */
export async function openPostgres(url: string): Promise<SqlDriver> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection the server ends (a restart, a failover, an administrator) is dropped by the pool, and the next
  // query opens another; without a listener its error would end the process.
  pool.on('error', () => {});
  // The pool's end() returns before its connections have closed; close() waits for them, so a caller that closes the
  // store and then drops the database (tests, tools) does not meet a connection still going.
  const closed = new Set<Promise<void>>();
  pool.on('connect', (c) => closed.add(new Promise<void>((r) => c.once('end', () => r()))));
  // Fail fast with a clear error if the server is not there.
  await pool.query('SELECT 1');
  const wrap = (c: pg.Pool | pg.PoolClient): SqlExecutor => ({
    async query<T>(sql: string, params?: unknown[]) {
      return (await c.query(sql, params)).rows as T[];
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });
  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
      await Promise.all(closed);
    },
  };
}
