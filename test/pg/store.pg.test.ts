import { after } from 'node:test';
import pg from 'pg';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import { storeContracts } from '../helpers/store-contracts.js';

// A real PostgreSQL server: DATABASE_URL, or the local one on 127.0.0.1:5432. Each contract gets a database of its own.
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const prefix = `sluice_test_${process.pid}_${Date.now()}`;
const made = new Set<string>();
const urlOf = (db: string) => {
  const u = new URL(adminUrl);
  u.pathname = `/${db}`;
  return u.toString();
};

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

after(async () => {
  for (const db of made) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

storeContracts(
  'PostgreSQL server',
  async (part) => {
    const db = `${prefix}_${part}`;
    if (!made.has(db)) {
      made.add(db);
      await admin(`CREATE DATABASE ${db}`);
    }
    return openStore({ dataDir: 'unused', databaseUrl: urlOf(db) });
  },
  true,
  true,
);
