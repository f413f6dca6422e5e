import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { ArtifactStore } from '../src/adapters/artifacts-fs/artifact-store.js';
import { isSluiceError } from '../src/kernel/errors.js';

describe('artifact builds', () => {
  it('runs builds of one app directory one at a time, so concurrent release creates do not trip over each other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-artifacts-'));
    try {
      const store = new ArtifactStore(join(dir, 'store'));
      // The build fails if another build of the same directory is under way (the lock dir exists).
      const spec = { build: 'mkdir build.lock && rm -rf out && mkdir out && sleep 0.2 && echo same > out/a && rmdir build.lock', output: 'out' };
      const digests = await Promise.all([1, 2, 3].map(() => store.build(dir, spec, { PATH: process.env.PATH ?? '' }, () => {})));
      assert.equal(new Set(digests).size, 1);
      assert.ok(existsSync(store.pathOf(digests[0]!)));
      // A failed build does not block the next one.
      await assert.rejects(store.build(dir, { build: 'exit 3', output: 'out' }, { PATH: process.env.PATH ?? '' }, () => {}), /exited with 3/);
      assert.equal(await store.build(dir, spec, { PATH: process.env.PATH ?? '' }, () => {}), digests[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('artifact contents', () => {
  it('never packs version control, Sluice data directories or dependency caches, whatever the output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-artifacts-'));
    try {
      for (const f of ['server.js', '.git/HEAD', '.sluice/admin-token', '.sluice-progressive/pg/x', 'node_modules/.cache/big', 'node_modules/lib/index.js', 'data/keep.txt', 'elsewhere/tokens'])
        writeFile(join(dir, f), 'x');
      // The data directory may be anywhere, under any name: the store is told where it is.
      const store = new ArtifactStore(join(dir, 'data', '.store'), { exclude: [join(dir, 'elsewhere')] });
      const digest = await store.add(dir);
      const entries: string[] = [];
      await tar.list({ file: store.pathOf(digest), onReadEntry: (e) => entries.push(e.path.replace(/\/$/, '')) });
      assert.deepEqual(entries.filter((e) => !statIsDir(join(dir, e))).sort(), ['data/keep.txt', 'node_modules/lib/index.js', 'server.js']);
      await assert.rejects(store.add(join(dir, 'nope')), (e: unknown) => isSluiceError(e) && e.code === 'NOT_FOUND' && e.message.includes(join(dir, 'nope')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function writeFile(path: string, text: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const statIsDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
