import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { BeforeStart } from '../adapters/target-local/local-target.js';
import type { DatabaseSource, EnvironmentDatabases } from '../environments/ports/environment-databases.js';
import { SluiceError } from '../kernel/errors.js';
import { StreamRedactor } from '../kernel/redact.js';
import { terminate, WORKLOAD_UMASK } from '../platform/durable-run.js';

/** What the migrations hook needs: the app, and environments' databases and sources. */
export interface MigrationsOptions {
  app: () => string;
  databases: EnvironmentDatabases;
  /** The stage an environment was cloned from; undefined for a pipeline stage. */
  sourceOf: (name: string) => Promise<string | undefined>;
}

/** Lines of a command's output copied into the deploy's log (the last ones), and the most characters kept of each. */
const MAX_LINES = 100;
const MAX_LINE = 2000;
/** How long a seed may run. */
const SEED_TIMEOUT_MS = 10 * 60_000;

/**
 * Before a deployment's instances start (ADR 26): the pipeline's `migrate` command, with the env the instances get
 * (the stage's database URL, or the environment's copy); then, on an environment's empty copy not yet seeded, the
 * stage's seed command. A failure fails the deploy with a line saying which command and how it ended.
 *
 * The command runs as a child of the control plane, not as a durable run: a stop in the middle fails the deploy, which
 * runs it again (migrations are idempotent), and its output is redacted here rather than by a filter process, which
 * would cost a second Node start on every deploy.
 */
export function migrationsBeforeStart(o: MigrationsOptions): BeforeStart {
  const run = async (what: string, command: string, timeoutMs: number, req: Parameters<BeforeStart>[0]) => {
    req.log(`${what}: ${command}`);
    const t0 = Date.now();
    const secrets = Object.fromEntries(req.redact.flatMap((n) => (req.env[n] !== undefined ? [[n, req.env[n]!]] : [])));
    const out = await runCommand(command, req.appDir, req.env, secrets, timeoutMs);
    for (const line of out.lines) req.log(`  ${what}: ${line}`);
    if (out.exitCode !== 0) {
      const how = out.timedOut ? `timed out after ${timeoutMs} ms` : out.exitCode === null ? `was stopped (${out.signal})` : `exited with ${out.exitCode}`;
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
    await run('seed', db.seed, SEED_TIMEOUT_MS, req);
    await o.databases.markSeeded(o.app(), req.stage.name, source);
  };
}

/** Runs `command` with sh in its own process group; its output (stdout and stderr), redacted, as its last lines. */
function runCommand(command: string, cwd: string, env: Record<string, string>, secrets: Record<string, string>, timeoutMs: number) {
  return new Promise<{ exitCode: number | null; signal: string | null; timedOut: boolean; lines: string[] }>((resolve) => {
    const child = spawn('/bin/sh', ['-c', `umask ${WORKLOAD_UMASK}\n${command}`], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const redactor = new StreamRedactor(secrets);
    const decoder = new StringDecoder('utf8');
    let text = '';
    const keep = (s: string) => {
      text = (text + s).slice(-MAX_LINES * MAX_LINE);
    };
    const onData = (d: Buffer) => keep(redactor.push(decoder.write(d)));
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) void terminate(child.pid, 5000);
    }, timeoutMs);
    const done = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      keep(redactor.push(decoder.end()) + redactor.end());
      const lines = text.split('\n').filter((l) => l.length > 0).slice(-MAX_LINES).map((l) => l.slice(0, MAX_LINE));
      resolve({ exitCode, signal, timedOut, lines });
    };
    child.on('error', (e) => {
      keep(`could not start: ${e.message}\n`);
      done(127, null);
    });
    child.on('close', (code, signal) => done(code, signal));
  });
}
