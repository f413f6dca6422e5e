import { after } from 'node:test';
import pg from 'pg';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import { storeContract } from '../store-contract.js';

// A real PostgreSQL server: DATABASE_URL, or the local one on 127.0.0.1:5432. Each run gets a database of its own.
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `sluice_test_${process.pid}_${Date.now()}`;
const testUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

after(() => admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));

storeContract(
  'PostgreSQL server',
  async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    return openStore({ dataDir: 'unused', databaseUrl: testUrl });
  },
  async (s) => {
    await s.close();
    return openStore({ dataDir: 'unused', databaseUrl: testUrl });
  },
);
