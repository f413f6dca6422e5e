import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BeforeStart } from '../adapters/target-local/local-target.js';
import type { DatabaseSource, EnvironmentDatabases } from '../environments/ports/environment-databases.js';
import { SluiceError } from '../kernel/errors.js';
import { runOnce } from '../platform/durable-run.js';

/** What the migrations hook needs: where runs keep their logs, the app, and environments' databases and sources. */
export interface MigrationsOptions {
  root: string;
  app: () => string;
  databases: EnvironmentDatabases;
  /** The stage an environment was cloned from; undefined for a pipeline stage. */
  sourceOf: (name: string) => Promise<string | undefined>;
}

/** Lines of a command's output copied into the deploy's log. */
const MAX_LINES = 100;

/**
 * Before a deployment's instances start (ADR 26): the pipeline's `migrate` command, with the env the instances get
 * (the stage's database URL, or the environment's copy); then, on an environment's empty copy not yet seeded, the
 * stage's seed command. A failure fails the deploy with a line saying which command and how it ended.
 */
export function migrationsBeforeStart(o: MigrationsOptions): BeforeStart {
  let runs = 0;
  const run = async (what: string, command: string, timeoutMs: number, req: Parameters<BeforeStart>[0]) => {
    const dir = join(o.root, `${req.key.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 150)}-${what}-${Date.now()}-${runs++}`);
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'output.log');
    req.log(`${what}: ${command}`);
    const t0 = Date.now();
    const out = await runOnce({ dir, command, cwd: req.appDir, env: req.env, logPath, redact: req.redact }, timeoutMs);
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
    } catch {
      // no output
    }
    for (const line of text.split('\n').filter(Boolean).slice(-MAX_LINES)) req.log(`  ${what}: ${line}`);
    if (out.exitCode !== 0) {
      const how = out.timedOut ? `timed out after ${timeoutMs} ms` : out.interrupted ? 'was interrupted' : `exited with ${out.exitCode}`;
      throw new SluiceError('MIGRATION_FAILED', `the ${what} command of ${req.stage.name} ${how}; nothing new was started (${what}: ${command})`);
    }
    req.log(`${what} done in ${Date.now() - t0} ms`);
  };
  return async (req) => {
    if (req.stage.migrate) await run('migrate', req.stage.migrate.run, req.stage.migrate.timeoutMs, req);
    const db = req.stage.database;
    if (db?.clone !== 'empty' || db.seed === undefined || (await o.sourceOf(req.stage.name)) === undefined) return;
    const password = db.password === undefined ? undefined : req.env[db.password];
    const source: DatabaseSource = { plan: db, ...(password !== undefined ? { password } : {}) };
    if (await o.databases.seeded(o.app(), req.stage.name, source)) return;
    await run('seed', db.seed, 10 * 60_000, req);
    await o.databases.markSeeded(o.app(), req.stage.name, source);
  };
}
