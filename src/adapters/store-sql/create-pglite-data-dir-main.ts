// The child process of createPgliteDataDir: creates a new PGlite data directory with Sluice's schema and exits,
// taking the memory that initdb and the first DDL leave in WebAssembly with it.
//   node dist/src/adapters/store-sql/create-pglite-data-dir-main.js <directory>
// It reports a failure over the IPC channel as { message, code? } and exits with 1; it exits with 0 once the
// database is complete and closed.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { CreateDataDirFailure } from './create-pglite-data-dir.js';
import { migrate } from './migrate.js';
import { pgliteDriver } from './pglite-driver.js';
import { PGLITE_OPTIONS } from './pglite-options.js';

function fail(e: unknown): void {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const report: CreateDataDirFailure = {
    message: e instanceof Error ? e.message : String(e),
    ...(typeof code === 'string' && /^E[A-Z]+$/.test(code) ? { code } : {}),
  };
  if (process.send) process.send(report, () => process.exit(1));
  else {
    process.stderr.write(`${report.message}\n`);
    process.exit(1);
  }
}

// The parent waits for this process; if it dies first, finishing the database would be work no one collects.
process.on('disconnect', () => process.exit(1));
process.on('unhandledRejection', fail);

const dir = process.argv[2];
if (!dir) fail(new Error('usage: create-pglite-data-dir-main.js <directory>'));
else {
  try {
    // PGlite makes only the last folder of the path; the data directory above it may not exist yet.
    mkdirSync(dirname(dir), { recursive: true });
    const db = new PGlite(dir, PGLITE_OPTIONS);
    await db.waitReady;
    // The schema too: the first DDL leaves PostgreSQL's catalog caches some 20 MB larger than a restart does, and the
    // long-lived process then finds every migration applied, as on any restart.
    const driver = pgliteDriver(db);
    await migrate(driver);
    await driver.close();
    process.exit(0);
  } catch (e) {
    fail(e);
  }
}
