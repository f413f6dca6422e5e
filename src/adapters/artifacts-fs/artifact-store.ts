import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { SluiceError } from '../../kernel/errors.js';
import { WORKLOAD_UMASK } from '../../platform/durable-run.js';
import { type ArtifactStore as ArtifactStorePort, REMOVING_PREFIX, type StoredArtifact } from '../../releases/ports/artifact-store.js';

export interface ArtifactStoreOptions {
  /** Folders never packed into an artifact, whatever the output (Sluice's own data directory). */
  exclude?: string[];
}

/** Never packed, wherever they are in the output: version control, Sluice data directories, dependency caches. */
const NEVER_PACKED = /^(\.sluice|\.sluice-[^/]*)$|(^|\/)(\.git|node_modules\/\.cache)$/;
/** A stored artifact's file name; anything else in the root (builds under way, the removal log) is not an artifact. */
const ARTIFACT_FILE = /^sha256-([0-9a-f]{64})\.(tar|tgz)$/;
/** Written last into an unpacked folder: its presence says the unpack finished; its time says when it was last used. */
const UNPACKED_MARKER = '.sluice-unpacked';
/** What retention removed, one JSON line each, so that asking for one of them later says what happened. */
const REMOVED_LOG = 'removed.log';

/**
 * Content-addressed artifacts: `<root>/sha256-<hex>.tar` (or `.tgz` for registered gzip tarballs).
 * A directory is packed with sorted entries, fixed times and no owners, so the same files give the same digest.
 */
export class ArtifactStore implements ArtifactStorePort {
  private readonly exclude: string[];

  constructor(
    private readonly root: string,
    o: ArtifactStoreOptions = {},
  ) {
    mkdirSync(root, { recursive: true });
    this.exclude = [root, ...(o.exclude ?? [])].map((p) => resolve(p));
  }

  pathOf(digest: string): string {
    const p = this.storedPath(digest);
    if (p) return p;
    const removed = this.removalOf(digest);
    if (removed)
      throw new SluiceError(
        'ARTIFACT_REMOVED',
        `artifact ${digest} was removed from ${this.root} at ${removed.at} (${removed.why}); to deploy it again, store the same build again (sluice release create of that version with the same build or --artifact) or release a new version`,
        { digest, removedAt: removed.at, why: removed.why },
      );
    throw new SluiceError('NOT_FOUND', `artifact ${digest} is not in the artifact store at ${this.root}`, { digest });
  }

  private storedPath(digest: string): string | undefined {
    for (const ext of ['tar', 'tgz']) {
      const p = join(this.root, `${digest.replace(':', '-')}.${ext}`);
      if (existsSync(p)) return p;
    }
    return undefined;
  }

  /** The last removal of `digest` the log records. */
  private removalOf(digest: string): { at: string; why: string } | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.root, REMOVED_LOG), 'utf8');
    } catch {
      return undefined;
    }
    let found: { at: string; why: string } | undefined;
    for (const line of text.split('\n')) {
      if (!line.includes(digest)) continue;
      try {
        const r = JSON.parse(line) as { at?: unknown; digest?: unknown; why?: unknown };
        if (r.digest === digest && typeof r.at === 'string') found = { at: r.at, why: typeof r.why === 'string' ? r.why : 'no reason recorded' };
      } catch {
        // A line cut short by a crash says nothing; the others still count.
      }
    }
    return found;
  }

  list(): StoredArtifact[] {
    const out: StoredArtifact[] = [];
    for (const name of readdirSync(this.root).sort()) {
      const m = ARTIFACT_FILE.exec(name);
      if (!m) continue;
      try {
        const st = statSync(join(this.root, name));
        out.push({ digest: `sha256:${m[1]}`, bytes: st.size, usedAt: st.mtimeMs });
      } catch {
        // Removed between the listing and the look: it is not stored any more.
      }
    }
    return out;
  }

  // Synchronous from the look at its time to the unlink: `add` and `unpack` mark an artifact used synchronously too,
  // so in this process (the only one a data directory allows) no use can slip between the two.
  remove(digest: string, unusedSince: number, why: string): boolean {
    const path = this.storedPath(digest);
    if (!path) return false;
    if (statSync(path).mtimeMs >= unusedSince) return false;
    rmSync(path);
    appendFileSync(join(this.root, REMOVED_LOG), `${JSON.stringify({ at: new Date().toISOString(), digest, why })}\n`);
    return true;
  }

  async removeUnpacked(dest: string, unusedSince: number): Promise<boolean> {
    let usedAt: number;
    try {
      usedAt = statSync(join(dest, UNPACKED_MARKER)).mtimeMs;
    } catch {
      // No marker: an unpack under way (or one cut off by a crash); the folder's own time says when it began.
      try {
        usedAt = statSync(dest).mtimeMs;
      } catch {
        return false;
      }
    }
    if (usedAt >= unusedSince) return false;
    // Out of the way at once, before the first await: an unpack into `dest` from now on starts afresh beside it.
    const trash = basename(dest).startsWith(REMOVING_PREFIX) ? dest : join(dirname(dest), `${REMOVING_PREFIX}${basename(dest)}-${randomBytes(4).toString('hex')}`);
    if (trash !== dest) renameSync(dest, trash);
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  /** Builds under way, by app directory: builds of one directory share its output folder, so they run one at a time. */
  private readonly building = new Map<string, Promise<string>>();

  /** Runs the build command (if any) in `appDir`, then stores `output`. Output lines go to `onLog`. */
  async build(
    appDir: string,
    spec: { build?: string; output: string },
    env: Record<string, string>,
    onLog: (chunk: string) => void,
  ): Promise<string> {
    const before = this.building.get(appDir);
    const run = (before ?? Promise.resolve('')).catch(() => '').then(() => this.buildNow(appDir, spec, env, onLog));
    this.building.set(appDir, run);
    try {
      return await run;
    } finally {
      if (this.building.get(appDir) === run) this.building.delete(appDir);
    }
  }

  private async buildNow(
    appDir: string,
    spec: { build?: string; output: string },
    env: Record<string, string>,
    onLog: (chunk: string) => void,
  ): Promise<string> {
    if (spec.build) {
      const code = await new Promise<number | null>((res, rej) => {
        // The build gets the usual umask, not Sluice's private one: what it makes is packed with its modes.
        const child = spawn('/bin/sh', ['-c', `umask ${WORKLOAD_UMASK}; exec /bin/sh -c "$1"`, 'sluice-build', spec.build!], {
          cwd: appDir,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout.on('data', (d: Buffer) => onLog(d.toString()));
        child.stderr.on('data', (d: Buffer) => onLog(d.toString()));
        child.on('error', rej);
        child.on('close', res);
      });
      if (code !== 0)
        throw new SluiceError('BUILD_FAILED', `artifact build "${spec.build}" exited with ${code} in ${appDir}`);
    }
    const out = resolve(appDir, spec.output);
    if (!existsSync(out))
      throw new SluiceError('BUILD_FAILED', `artifact output ${spec.output} does not exist in ${appDir}`);
    return this.add(out);
  }

  /** Stores a directory or a tarball and returns its digest. Adding the same content twice is a no-op. */
  async add(path: string, opts: { within?: string } = {}): Promise<string> {
    if (!existsSync(path)) throw new SluiceError('NOT_FOUND', `artifact ${path} does not exist`, { path });
    const inside = opts.within === undefined ? undefined : containedIn(opts.within, path);
    inside?.(path);
    const tmp = join(this.root, `.incoming-${process.pid}-${randomBytes(6).toString('hex')}`);
    let ext = 'tar';
    if (statSync(path).isDirectory()) {
      const files = listFiles(path, (p, rel) => {
        if (inside && lstatSync(p).isSymbolicLink()) inside(p);
        return NEVER_PACKED.test(rel.split(sep).join('/')) || this.exclude.includes(p);
      });
      if (files.length === 0) throw new SluiceError('BUILD_FAILED', `artifact directory ${path} is empty`);
      await tar.create(
        { file: tmp, cwd: path, portable: true, noDirRecurse: true, mtime: new Date(0), gzip: false },
        files,
      );
    } else {
      if (!/\.(tar|tgz|tar\.gz)$/.test(path))
        throw new SluiceError('BAD_REQUEST', `artifact ${path} is not a directory, .tar or .tgz`);
      ext = path.endsWith('.tar') ? 'tar' : 'tgz';
      copyFileSync(path, tmp);
    }
    const digest = `sha256:${await sha256File(tmp)}`;
    const final = join(this.root, `${digest.replace(':', '-')}.${ext}`);
    if (existsSync(final)) {
      rmSync(tmp);
      // The release about to be recorded uses it: a retention pass judging from before that record leaves it alone.
      touch(final);
    } else renameSync(tmp, final);
    return digest;
  }

  /** Unpacks an artifact into `dest` once; later calls reuse it. Either way the folder and the artifact count as used now. */
  async unpack(digest: string, dest: string): Promise<string> {
    const done = join(dest, UNPACKED_MARKER);
    if (existsSync(done)) {
      touch(done);
      // Commands are handed the artifact's path too (SLUICE_ARTIFACT), so it counts as used with its folder.
      const stored = this.storedPath(digest);
      if (stored) touch(stored);
      return dest;
    }
    const file = this.pathOf(digest);
    // Marked before the first await, so a removal that runs while this extracts sees it in use.
    touch(file);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    await tar.extract({ file, cwd: dest });
    writeFileSync(done, digest);
    return dest;
  }
}

/**
 * Every file and directory below `dir`, relative, sorted, so the archive's order never depends on the file system;
 * without what `skip` leaves out (and what is inside it).
 */
/**
 * A check that a path (and whatever a symlink on it points to) resolves inside `root`: it throws BAD_REQUEST naming the
 * path otherwise. A symlink that points nowhere is left alone (it is packed as a link and reads nothing).
 */
function containedIn(root: string, first: string): (path: string) => void {
  const realRoot = realpathSync(root);
  return (path) => {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return;
    }
    const rel = relative(realRoot, real);
    if (rel === '..' || rel.startsWith(`..${sep}`) || resolve(realRoot, rel) !== real)
      throw new SluiceError('BAD_REQUEST', `artifact ${first} leaves the app directory${path === first ? '' : ` (${path} is a symlink to ${real})`}: an artifact given over the API must be inside ${root}`, {
        path,
      });
  };
}

function listFiles(dir: string, skip: (path: string, rel: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip(p, rel)) continue;
      out.push(rel);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function touch(path: string): void {
  const now = new Date();
  utimesSync(path, now, now);
}

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}
