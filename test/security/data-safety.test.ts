import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSluiceError } from '../../src/kernel/errors.js';
import { loadConfig } from '../../src/main/config.js';
import { downSluice, startSluice } from '../../src/main/single-node.js';
import { writeFileAtomic } from '../../src/platform/files.js';
import { api, copyExample, startInProcess } from '../helpers/sluice-process.js';

describe('a data directory whose database is gone', { timeout: 240_000 }, () => {
  const app = copyExample();
  const data = join(app, '.sluice');
  after(async () => {
    await downSluice(data);
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('/health says so while it runs, and a restart refuses it instead of making a new database and admin token', async () => {
    const { sluice, down } = await startInProcess(app);
    try {
      const h = await api<{ ok: boolean; database: { ok: boolean; error?: string } }>(sluice.apiUrl, 'GET', '/api/v1/health');
      assert.deepEqual([h.status, h.json.ok, h.json.database.ok], [200, true, true]);
      rmSync(join(data, 'pg'), { recursive: true, force: true });
      const gone = await api<{ ok: boolean; database: { ok: boolean; error?: string } }>(sluice.apiUrl, 'GET', '/api/v1/health');
      assert.equal(gone.status, 503);
      assert.equal(gone.json.ok, false);
      assert.equal(gone.json.database.ok, false);
      assert.match(gone.json.database.error ?? '', /the database files in .*pg are gone/);
    } finally {
      await down().catch(() => {});
    }
    const token = readFileSync(join(data, 'admin-token'), 'utf8');
    const config = loadConfig({ env: {}, cwd: app, argv: { dataDir: '.sluice', port: '0', routerPort: '0' } });
    await assert.rejects(
      startSluice(config, { env: { PATH: process.env.PATH ?? '' } }),
      (e: unknown) => isSluiceError(e) && /was set up before, but its database .*pg is missing; Sluice will not start an empty one/.test(e.message),
    );
    assert.equal(readFileSync(join(data, 'admin-token'), 'utf8'), token);
    assert.equal(existsSync(join(data, 'pg')), false);
  });

  it('an unreadable database is refused with what was wrong, and is left as it was', async () => {
    mkdirSync(join(data, 'pg'));
    writeFileSync(join(data, 'pg', 'PG_VERSION'), 'not a database\n');
    const config = loadConfig({ env: {}, cwd: app, argv: { dataDir: '.sluice', port: '0', routerPort: '0' } });
    await assert.rejects(startSluice(config, { env: { PATH: process.env.PATH ?? '' } }), (e: unknown) => isSluiceError(e) && /database of .* cannot be opened/.test(e.message));
    assert.deepEqual(readdirSync(join(data, 'pg')), ['PG_VERSION']);
    assert.equal(readFileSync(join(data, 'pg', 'PG_VERSION'), 'utf8'), 'not a database\n');
  });
});

// A small tmpfs, mounted by the test: only root may (CI runs as root).
const canMount = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v mount'], { encoding: 'utf8' }).status === 0;

describe('a full or read-only disk', { skip: canMount ? false : 'mounting a small tmpfs needs root (CI runs as root)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-disk-'));
  let mounted = false;
  after(() => {
    if (mounted) spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a write is refused saying the disk is full or read-only, and leaves the old content and no temporary file', () => {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
    if (r.status !== 0) return assert.fail(`mount failed: ${r.stderr}`);
    mounted = true;
    const state = join(dir, 'state.json');
    writeFileAtomic(state, '{"v":1}');
    // Fill what is left.
    try {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(128 * 1024));
    } catch {
      // full now
    }
    assert.throws(() => writeFileAtomic(state, JSON.stringify({ v: 2, pad: 'x'.repeat(32 * 1024) })), /cannot write .*state\.json: the disk is full \(ENOSPC\); nothing was changed there/);
    assert.equal(readFileSync(state, 'utf8'), '{"v":1}');
    assert.deepEqual(readdirSync(dir).sort(), ['filler', 'state.json']);
    rmSync(join(dir, 'filler'));
    assert.equal(spawnSync('mount', ['-o', 'remount,ro', dir]).status, 0);
    assert.throws(() => writeFileAtomic(state, '{"v":3}'), /cannot write .*state\.json: the disk is read-only \(EROFS\)/);
    assert.equal(readFileSync(state, 'utf8'), '{"v":1}');
  });
});
