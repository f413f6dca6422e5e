import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ArtifactStore } from '../src/adapters/artifacts-fs/artifact-store.js';

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
