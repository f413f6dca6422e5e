// A new PGlite data directory is created by a short-lived child process, so that the long-lived `sluice up` never
// carries the memory initdb leaves in WebAssembly (issue 8). These tests watch the real processes in /proc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../src/adapters/store-sql/open-store.js';
import { isAlive } from '../src/platform/durable-run.js';
import { isSluiceError } from '../src/kernel/errors.js';
import { cli, copyExample } from './helpers/sluice-process.js';

const ENTRY = 'create-pglite-data-dir-main.js';
const root = mkdtempSync(join(tmpdir(), 'sluice-pgdir-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The command lines of this process's children that run the data directory child, seen while `work` runs. */
async function childrenDuring<T>(work: () => Promise<T>): Promise<{ result: T; seen: Map<number, string> }> {
  const seen = new Map<number, string>();
  const look = () => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== process.pid) continue;
        const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
        if (cmd.includes(ENTRY)) seen.set(Number(name), cmd);
      } catch {
        // ended while we looked
      }
    }
  };
  // initdb takes seconds; the event loop of this process stays free only if the work happens elsewhere.
  const timer = setInterval(look, 20);
  try {
    const result = await work();
    return { result, seen };
  } finally {
    clearInterval(timer);
  }
}

/** `text` as a regular expression that matches it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const token = (id: string) => ({ id, name: id, role: 'admin' as const, hash: `hash-${id}`, createdAt: Date.now() });

describe('a new PGlite data directory', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  it('is created by a child process that has exited when the store opens, and is then reopened in place without one', async () => {
    const dataDir = join(root, 'fresh', 'nested');
    const first = await childrenDuring(() => openStore({ dataDir }));
    try {
      assert.equal(first.seen.size, 1, 'exactly one child created the database');
      const [pid, cmd] = [...first.seen][0]!;
      assert.notEqual(pid, process.pid);
      assert.match(cmd, new RegExp(`${literally(join(dataDir, 'pg'))}\\.creating-${process.pid}`), 'it built the database beside its final place');
      assert.equal(isAlive(pid), false, 'the child has exited');
      assert.ok(existsSync(join(dataDir, 'pg', 'PG_VERSION')));
      assert.deepEqual(readdirSync(dataDir), ['pg'], 'no half-made folder is left');
      await first.result.createToken(token('a'));
    } finally {
      await first.result.close();
    }
    const again = await childrenDuring(() => openStore({ dataDir }));
    try {
      assert.equal(again.seen.size, 0, 'an existing database opens without a child');
      assert.equal((await again.result.findTokenByHash('hash-a'))?.id, 'a', 'what the first open wrote is there');
    } finally {
      await again.result.close();
    }
  });

  it('fails with an error naming the directory when it cannot be made there, and leaves nothing behind', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    const { result, seen } = await childrenDuring(() => openStore({ dataDir: file }).then(
      () => assert.fail('opened a store under a regular file'),
      (e: unknown) => e,
    ));
    assert.equal(seen.size, 1, 'the child tried');
    assert.ok(isSluiceError(result), `a SluiceError, not ${String(result)}`);
    assert.equal(result.code, 'CONFIG_INVALID');
    assert.match(result.message, new RegExp(`could not create the PGlite database in ${literally(join(file, 'pg'))}: .*EEXIST`));
    assert.match(result.message, new RegExp(`check that ${literally(file)} is a directory`));
    assert.equal(readFileSync(file, 'utf8'), 'not a directory');
  });

  it('refuses a folder that holds something other than a database, without touching it', async () => {
    const dataDir = join(root, 'occupied');
    mkdirSync(join(dataDir, 'pg'), { recursive: true });
    writeFileSync(join(dataDir, 'pg', 'notes.txt'), 'mine');
    await assert.rejects(openStore({ dataDir }), (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.match(e.message, new RegExp(`${literally(join(dataDir, 'pg'))} exists but holds no PGlite database`));
      return true;
    });
    assert.deepEqual(readdirSync(join(dataDir, 'pg')), ['notes.txt']);
  });

  it('removes what a first start killed during initdb left, and creates the database anew', async () => {
    const dataDir = join(root, 'interrupted');
    // A pid that has certainly exited: a process we ran to completion.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    assert.equal(isAlive(dead), false);
    const leftover = join(dataDir, `pg.creating-${dead}`);
    mkdirSync(leftover, { recursive: true });
    writeFileSync(join(leftover, 'PG_VERSION'), '17\n');
    const store = await openStore({ dataDir });
    try {
      assert.equal(await store.countTokens(), 0);
      assert.deepEqual(readdirSync(dataDir), ['pg']);
    } finally {
      await store.close();
    }
  });
});

it('sluice up with a data directory whose database cannot be created exits 1 and names it', async () => {
  const app = copyExample();
  const dataDir = join(app, '.sluice');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'pg'), 'a file where the database should be');
  try {
    const r = await cli(['up', '--dir', app, '--data-dir', dataDir, '--port', '0', '--router-port', '0']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`sluice: ${literally(join(dataDir, 'pg'))} exists but holds no PGlite database`));
    assert.equal(existsSync(join(dataDir, 'dataplane')), false, 'no data plane was started');
    assert.equal(existsSync(join(dataDir, 'sluice.pid')), false, 'the lock is released');
  } finally {
    rmSync(join(app, '..'), { recursive: true, force: true });
  }
});
