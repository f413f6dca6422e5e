import { chmodSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SluiceError } from '../kernel/errors.js';

/**
 * Writes a file so that readers see the old content or the new one, never half of it. A full or read-only disk is
 * an error that says so, and leaves the old content and no temporary file.
 */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw diskError(e, path);
  }
}

/** A failed write as people should read it: a full or read-only disk said in words, naming the file. */
export function diskError(e: unknown, path: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'the disk is full'
      : code === 'EROFS'
        ? 'the disk is read-only'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : undefined;
  return why ? new SluiceError('INTERNAL', `cannot write ${path}: ${why} (${code}); nothing was changed there`, { path, code }) : (e as Error);
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The last `maxBytes` of a file, for showing the end of a log in an error. */
export function tail(path: string, maxBytes = 2000): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString('utf8');
  } catch {
    return '';
  }
}

/** This process's soft limit on open files (`ulimit -n`), when the system says (Linux: /proc/self/limits). */
/** How many files this process has open now (Linux: /proc/self/fd); undefined elsewhere. */
export function openFileCount(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The umask of Sluice's own processes (sluice up, the data plane): what they create is for their user only. */
export const PRIVATE_UMASK = 0o077;

/**
 * Takes the group's and others' permissions off everything under `dir` (itself included; symbolic links are not
 * followed): folders become 0700, files 0600 (0700 if executable). For a data directory made by an older Sluice, or
 * under a looser umask. The number of entries changed.
 */
export function makePrivate(dir: string): number {
  let changed = 0;
  const visit = (path: string) => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // gone meanwhile
    }
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0) {
      chmodSync(path, st.mode & 0o700);
      changed++;
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return changed;
}

/**
 * Deletes a target's folder of a stage that no longer exists, with the releases unpacked in its `releases/` (through
 * the artifact store's `removeUnpacked`, which can delete files a workload's account made read-only to others).
 */
export async function removeStageFolder(removeUnpacked: (dest: string, unusedSince: number) => Promise<boolean>, dir: string): Promise<void> {
  const releases = join(dir, 'releases');
  if (existsSync(releases)) for (const name of readdirSync(releases)) await removeUnpacked(join(releases, name), Number.POSITIVE_INFINITY);
  rmSync(dir, { recursive: true, force: true });
}
