import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openStore } from '../src/store/open-store.js';
import { MemoryStore } from '../src/store/store.js';
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
