import { after } from 'node:test';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import { storeContracts } from '../helpers/store-contracts.js';
import { pgAdmin, pgUrlOf } from '../helpers/pg-databases.js';

// A real PostgreSQL server: DATABASE_URL, or the local one on 127.0.0.1:5432. Each contract gets a database of its own.
const prefix = `sluice_test_${process.pid}_${Date.now()}`;
const made = new Set<string>();

after(async () => {
  for (const db of made) await pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

storeContracts(
  'PostgreSQL server',
  async (part) => {
    const db = `${prefix}_${part}`;
    if (!made.has(db)) {
      made.add(db);
      await pgAdmin(`CREATE DATABASE ${db}`);
    }
    return openStore({ dataDir: 'unused', databaseUrl: pgUrlOf(db) });
  },
  true,
  true,
);
