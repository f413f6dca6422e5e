import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { loadMigrations, migrate } from '../src/adapters/store-sql/migrate.js';
import { openStore } from '../src/adapters/store-sql/open-store.js';
import { openPglite } from '../src/adapters/store-sql/pglite-driver.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { MemoryStore } from '../src/adapters/store-sql/store.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

storeContract('memory fake', async () => new MemoryStore());
storeContract(
  'PGlite in a data directory',
  () => openStore({ dataDir: dir }),
  async (s) => {
    await s.close();
    return openStore({ dataDir: dir });
  },
);

it('starts the notification outbox at the newest event when a store made before the outbox is migrated', async () => {
  const db = await openPglite('memory://');
  const all = loadMigrations();
  assert.deepEqual(await migrate(db, all.filter((m) => m.name !== 'notifications')), [1]);
  await db.query(`INSERT INTO events (journey_id, seq, type, data, at) VALUES ('1.0.0', 0, 'journey.created', '{}', now()), ('1.0.0', 1, 'step.started', '{}', now())`);
  const store = await SqlStore.open(db);
  try {
    const newest = (await store.loadEvents()).at(-1)!.id;
    assert.equal(await store.outboxCursor(), newest, 'what happened before the outbox existed is not announced again');
  } finally {
    await store.close();
  }
});
