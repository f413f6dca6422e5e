import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { SluiceError } from '../../kernel/errors.js';
import type { ArtifactStore as ArtifactStorePort } from '../../releases/ports/artifact-store.js';

export interface ArtifactStoreOptions {
  /** Folders never packed into an artifact, whatever the output (Sluice's own data directory). */
  exclude?: string[];
}

/** Never packed, wherever they are in the output: version control, Sluice data directories, dependency caches. */
const NEVER_PACKED = /^(\.sluice|\.sluice-[^/]*)$|(^|\/)(\.git|node_modules\/\.cache)$/;

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
    for (const ext of ['tar', 'tgz']) {
      const p = join(this.root, `${digest.replace(':', '-')}.${ext}`);
      if (existsSync(p)) return p;
    }
    throw new SluiceError('NOT_FOUND', `artifact ${digest} is not in the artifact store at ${this.root}`);
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
        const child = spawn('/bin/sh', ['-c', spec.build!], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  async add(path: string): Promise<string> {
    if (!existsSync(path)) throw new SluiceError('NOT_FOUND', `artifact ${path} does not exist`, { path });
    const tmp = join(this.root, `.incoming-${process.pid}-${randomBytes(6).toString('hex')}`);
    let ext = 'tar';
    if (statSync(path).isDirectory()) {
      const files = listFiles(path, (p, rel) => NEVER_PACKED.test(rel.split(sep).join('/')) || this.exclude.includes(p));
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
    if (existsSync(final)) rmSync(tmp);
    else renameSync(tmp, final);
    return digest;
  }

  /** Unpacks an artifact into `dest` once; later calls reuse it. */
  async unpack(digest: string, dest: string): Promise<string> {
    const done = join(dest, '.sluice-unpacked');
    if (existsSync(done)) return dest;
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    await tar.extract({ file: this.pathOf(digest), cwd: dest });
    writeFileSync(done, digest);
    return dest;
  }
}

/**
 * Every file and directory below `dir`, relative, sorted, so the archive's order never depends on the file system;
 * without what `skip` leaves out (and what is inside it).
 */
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

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}
