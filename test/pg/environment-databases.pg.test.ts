import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { PostgresDatabases, snapshotName, spareName } from '../../src/adapters/databases-postgres/postgres-databases.js';
import { environmentDatabasesContract, type EnvironmentDatabasesHarness } from '../../src/environments/ports/environment-databases.contract.js';
import { pgAdmin, pgUrlOf } from '../helpers/pg-databases.js';

// The environments' databases on a real PostgreSQL server (DATABASE_URL, or the local one): the three strategies of
// the contract, and the template rule with the source's app connected all along.
const tag = `${process.pid}_${Date.now()}`;
const sourceDb = (s: string) => `sluice_test_src_${s}_${tag}`;
const made = new Set<string>();

const query = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
};
const put = async (url: string, k: string, v: string) => {
  await query(url, 'CREATE TABLE IF NOT EXISTS kv (k text PRIMARY KEY, v text NOT NULL)');
  await query(url, 'INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v', [k, v]);
};
const get = async (url: string, k: string) => {
  const [t] = await query<{ t: string | null }>(url, "SELECT to_regclass('kv')::text AS t");
  if (!t?.t) return undefined;
  return (await query<{ v: string }>(url, 'SELECT v FROM kv WHERE k = $1', [k]))[0]?.v;
};
const exists = async (url: string) =>
  (await query(pgUrlOf('postgres'), 'SELECT 1 FROM pg_database WHERE datname = $1', [decodeURIComponent(new URL(url).pathname.slice(1))])).length === 1;

after(async () => {
  for (const db of made) await pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

environmentDatabasesContract('PostgreSQL server', async () => {
  const sources = Object.fromEntries(
    await Promise.all(
      (['template', 'dump', 'empty'] as const).map(async (clone) => {
        const db = sourceDb(clone);
        made.add(db).add(snapshotName(db)).add(spareName(db, 0));
        await pgAdmin(`CREATE DATABASE ${db}`);
        return [clone, { plan: { url: pgUrlOf(db), clone, snapshotMaxAgeMs: 60_000 } }];
      }),
    ),
  ) as EnvironmentDatabasesHarness['sources'];
  const databases = new PostgresDatabases();
  return { databases, sources, put, get, exists, close: () => databases.idle() };
});

describe('template copies on PostgreSQL while the source stage\'s app is connected', () => {
  it('copies from a snapshot, the app keeps working after a brief reconnect, and a fresh snapshot is taken only when the old one is too old', async () => {
    const db = sourceDb('live');
    made.add(db).add(snapshotName(db)).add(spareName(db, 0));
    await pgAdmin(`CREATE DATABASE ${db}`);
    const url = pgUrlOf(db);
    await put(url, 'greeting', 'v1');
    // The staging app: a pool holding a connection to its database the whole time.
    const app = new pg.Pool({ connectionString: url, max: 2 });
    app.on('error', () => {});
    const held = await app.connect();
    held.on('error', () => {});
    let now = 1_000_000;
    const databases = new PostgresDatabases({ now: () => now });
    const source = { plan: { url, clone: 'template' as const, snapshotMaxAgeMs: 60_000 } };
    const lines: string[] = [];
    try {
      const a = await databases.clone('shop', 'live-a', source, (l) => lines.push(l));
      assert.equal(await get(a, 'greeting'), 'v1');
      assert.ok(lines.some((l) => l.startsWith(`snapshot ${snapshotName(db)}`)), lines.join('\n'));
      assert.equal((await app.query('SELECT v FROM kv WHERE k = $1', ['greeting'])).rows[0]?.v, 'v1', 'the app reads its database again after the snapshot');
      held.release(true);
      // Within the snapshot's age, a second copy does not touch the source: a write there is not in the copy.
      await put(url, 'greeting', 'v2');
      lines.length = 0;
      await databases.idle();
      const b = await databases.clone('shop', 'live-b', source, (l) => lines.push(l));
      assert.equal(await get(b, 'greeting'), 'v1');
      assert.ok(!lines.some((l) => l.startsWith('snapshot')), 'no new snapshot');
      assert.ok(lines.some((l) => l.includes('a spare copy of snapshot')), `the copy made ready meanwhile is taken: ${lines.join('\n')}`);
      // Past it, the snapshot is taken again and the copy has the source's rows as they are now.
      now += 60_001;
      const c = await databases.clone('shop', 'live-c', source, (l) => lines.push(l));
      assert.equal(await get(c, 'greeting'), 'v2');
      assert.deepEqual(await databases.list('shop', source), ['live-a', 'live-b', 'live-c']);
      for (const e of ['live-a', 'live-b', 'live-c']) assert.equal(await databases.drop('shop', e, source), true);
      const [allow] = await query<{ datallowconn: boolean }>(pgUrlOf('postgres'), 'SELECT datallowconn FROM pg_database WHERE datname = $1', [db]);
      assert.equal(allow?.datallowconn, true, 'the source takes connections again');
    } finally {
      await databases.idle();
      await app.end();
    }
  });

  it('says clearly when the source database does not exist, and makes nothing', async () => {
    const databases = new PostgresDatabases();
    const source = { plan: { url: pgUrlOf(`sluice_test_missing_${tag}`), clone: 'template' as const, snapshotMaxAgeMs: 0 } };
    await assert.rejects(databases.clone('shop', 'nowhere', source, () => {}), /source database sluice_test_missing_\S+ does not exist/);
    assert.deepEqual(await databases.list('shop', source), []);
  });
});
