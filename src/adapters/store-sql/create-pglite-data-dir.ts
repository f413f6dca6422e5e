import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../../kernel/errors.js';
import { isAlive } from '../../platform/durable-run.js';

/** The child's entry, next to this file once compiled. */
const CHILD_ENTRY = fileURLToPath(new URL('./create-pglite-data-dir-main.js', import.meta.url));

/**
 * initdb takes 5 to 15 s on an idle machine; a loaded CI machine can take several times that. The limit is only there
 * so that a child that hangs cannot hang `sluice up` for ever.
 */
const CHILD_TIMEOUT_MS = 180_000;

/** What the child reports over its IPC channel when it fails. */
export interface CreateDataDirFailure {
  message: string;
  /** A Node system error's code (ENOTDIR, EACCES, ...), when it was one. */
  code?: string;
}

/**
 * Creates a new PGlite data directory at `dataDir` (and the folders above it), with Sluice's schema, in a short-lived
 * child process.
 *
 * PGlite's initdb runs a second PostgreSQL and the initdb program in WebAssembly beside the first, and WebAssembly
 * memory never shrinks: done in the long-lived process, it left `sluice up` at about 800 MB resident for good, where a
 * restart on the same directory stays near 330 MB. The child does it (its own peak is about 750 MB, for some seconds)
 * and exits; the caller then opens a complete database, as on any restart.
 *
 * The child builds the database in a sibling folder (`<name>.creating-<pid>`) that is renamed into place only once
 * it is complete, so an interrupted first start never leaves a half-made database that later starts would resume;
 * the next first start removes such a folder once the process named in it is gone.
 *
 * @throws SluiceError naming the directory: CONFIG_INVALID when it cannot be made there (not a directory, no
 *   permission, a non-empty folder that holds no database), INTERNAL when the child failed otherwise.
 */
export async function createPgliteDataDir(dataDir: string): Promise<void> {
  const target = resolve(dataDir);
  if (existsSync(join(target, 'PG_VERSION'))) return;
  if (holdsSomethingElse(target))
    throw new SluiceError('CONFIG_INVALID', `${target} exists but holds no PGlite database (no PG_VERSION); move it away or use another data directory`, { dataDir: target });
  const parent = dirname(target);
  const prefix = `${basename(target)}.creating-`;
  removeAbandoned(parent, prefix);
  const temp = join(parent, `${prefix}${process.pid}`);
  removeQuietly(temp);
  try {
    const failure = await runChild(temp);
    if (failure) {
      throw new SluiceError(
        failure.code ? 'CONFIG_INVALID' : 'INTERNAL',
        `could not create the PGlite database in ${target}: ${failure.message}${failure.code ? `; check that ${parent} is a directory this user can write to, or use another data directory` : ''}`,
        { dataDir: target, ...(failure.code ? { cause: failure.code } : {}) },
      );
    }
    if (!existsSync(join(temp, 'PG_VERSION')))
      throw new SluiceError('INTERNAL', `could not create the PGlite database in ${target}: the child that ran initdb exited without error but left no PG_VERSION`, { dataDir: target });
    // An empty folder is allowed (someone made it for us); holdsSomethingElse refused any other.
    if (existsSync(target)) rmdirSync(target);
    renameSync(temp, target);
  } catch (e) {
    removeQuietly(temp);
    throw e;
  }
}

/** Best effort: where the folder cannot even be looked at, the child's error says why, better than this would. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // see above
  }
}

/** True when `target` is there and is not an empty folder: a file, or a folder with something in it. */
function holdsSomethingElse(target: string): boolean {
  let st: Stats;
  try {
    st = statSync(target);
  } catch {
    return false;
  }
  return !st.isDirectory() || readdirSync(target).length > 0;
}

/** Folders left by a first start that was killed while its child ran (the pid in the name is gone). */
function removeAbandoned(parent: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) removeQuietly(join(parent, name));
  }
}

/** Runs the child on `dir`; resolves with its failure, or undefined when it succeeded. */
function runChild(dir: string): Promise<CreateDataDirFailure | undefined> {
  return new Promise((done) => {
    // The IPC channel carries the child's failure, and its closing tells the child that this process died.
    const child = spawn(process.execPath, [CHILD_ENTRY, dir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let reported: CreateDataDirFailure | undefined;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    child.on('message', (m: CreateDataDirFailure) => {
      reported = m;
    });
    const timer = setTimeout(() => {
      reported = { message: `initdb did not finish within ${CHILD_TIMEOUT_MS / 1000}s` };
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ message: `could not start the child process: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !reported) done(undefined);
      else done(reported ?? { message: `the child that runs initdb ${signal ? `was killed by ${signal}` : `exited with ${code}`}${stderr.trim() ? `:\n${stderr.trim()}` : ''}` });
    });
  });
}
