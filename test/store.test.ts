import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { MemoryStore } from '../src/adapters/store-memory/memory-store.js';
import { loadMigrations, migrate } from '../src/adapters/store-sql/migrate.js';
import { openStore } from '../src/adapters/store-sql/open-store.js';
import { openPglite } from '../src/adapters/store-sql/pglite-driver.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { storeContracts } from './helpers/store-contracts.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

storeContracts('memory fake', async () => new MemoryStore(), false);
storeContracts('PGlite in a data directory', (part) => openStore({ dataDir: join(dir, part) }), true);

it('starts the notification outbox at the newest event when a store made before the outbox is migrated', async () => {
  const db = await openPglite('memory://');
  const all = loadMigrations();
  assert.deepEqual(await migrate(db, all.filter((m) => m.version === 1)), [1]);
  await db.query(`INSERT INTO events (journey_id, seq, type, data, at) VALUES ('1.0.0', 0, 'journey.created', '{}', now()), ('1.0.0', 1, 'step.started', '{}', now())`);
  const store = await SqlStore.open(db);
  try {
    const newest = (await store.loadEvents()).at(-1)!.id;
    assert.equal(await store.outboxCursor(), newest, 'what happened before the outbox existed is not announced again');
  } finally {
    await store.close();
  }
});
