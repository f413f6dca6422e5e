import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:http';
import { controlSocketPath, ensureDataPlane, stopDataPlane } from '../src/adapters/proxy-http1/data-plane-process.js';
import type { FlagdDocument } from '../src/flags/ports/flag-serving.js';
import { DATA_PLANE_ENTRY, ofrep, published, routerLog, StreamSubscriber } from './helpers/flags.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-flags-dp-'));
after(() => rmSync(root, { recursive: true, force: true }));
const KEY = 'key-of-prod-9f8e7d';
const doc = (text: string): FlagdDocument => ({ flags: { banner: { state: 'ENABLED', variants: { a: text }, defaultVariant: 'a' } } });

let n = 0;
/** A data plane under its supervisor, as `sluice up` starts it. */
async function dataPlane() {
  const dataDir = join(root, `d${n++}`);
  const dp = await ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, flagsPort: 0, maxConnections: 100, entry: DATA_PLANE_ENTRY, build: 'test' }, () => {});
  return {
    dataDir,
    client: dp.client,
    flagsPort: dp.health.flagsPort,
    pid: dp.health.pid,
    async close() {
      dp.client.close();
      await stopDataPlane(dataDir);
    },
  };
}

describe('flags on the data plane process', { timeout: 120_000 }, () => {
  it('after a kill -9 it comes back on its own serving the saved set, and a reconnecting subscriber is told the current revision', async () => {
    const dp = await dataPlane();
    await dp.client.publish('prod', published(doc('one'), 1, KEY));
    await dp.client.publish('prod', published(doc('two'), 2, KEY));
    const sub = new StreamSubscriber(() => dp.flagsPort, KEY, true);
    try {
      await sub.waitFor(() => sub.revisions().includes(2));
      process.kill(dp.pid, 'SIGKILL');
      // Nobody publishes again: what it serves after coming back is what it saved.
      let back: Awaited<ReturnType<typeof ofrep>> | undefined;
      for (let i = 0; i < 200 && back?.status !== 200; i++) {
        await sleep(50);
        back = await ofrep(dp.flagsPort, KEY, 'banner', {}).catch(() => undefined);
      }
      assert.equal(back?.status, 200, routerLog(dp.dataDir));
      assert.equal(back!.json.value, 'two');
      const health = await dp.client.health();
      assert.notEqual(health.pid, dp.pid, 'a new process');
      assert.deepEqual(health.flags, { prod: 2 });
      await sub.waitFor(() => sub.revisions().length >= 2);
      assert.deepEqual(sub.revisions(), [2, 2], 'on reconnect it hears revision 2 again: it can tell it missed nothing');
      await dp.client.publish('prod', published(doc('three'), 3, KEY));
      await sub.waitFor(() => sub.revisions().includes(3));
      assert.deepEqual(sub.revisions(), [2, 2, 3]);
    } finally {
      sub.close();
      await dp.close();
    }
  });

  it('names a corrupt flags file in one log line, moves it aside, serves no flags, and takes the control plane\'s again', async () => {
    const dp = await dataPlane();
    try {
      await dp.client.publish('prod', published(doc('one'), 1, KEY));
      const file = join(dp.dataDir, 'dataplane', 'flags.json');
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).stages.prod.revision, 1, 'saved before it answered');
      writeFileSync(file, '{"version":1,"stages":{"prod":{"doc":');
      process.kill((await dp.client.health()).pid, 'SIGKILL');
      for (let i = 0; i < 200 && !/flags file .* is corrupt/.test(routerLog(dp.dataDir)); i++) await sleep(50);
      assert.equal(routerLog(dp.dataDir).split('\n').filter((l) => l.includes(file) && l.includes('is corrupt')).length, 1, routerLog(dp.dataDir));
      assert.ok(readdirSync(join(dp.dataDir, 'dataplane')).some((f) => f.startsWith('flags.json.corrupt-')));
      assert.equal(existsSync(file), false);
      for (let i = 0; i < 100; i++) if (await dp.client.health().then(() => true, () => false)) break;
      assert.equal((await ofrep(dp.flagsPort, KEY, 'banner', {})).status, 403, 'no stage is served: the key reads nothing');
      await dp.client.publish('prod', published(doc('again'), 1, KEY));
      assert.equal((await ofrep(dp.flagsPort, KEY, 'banner', {})).json.value, 'again');
    } finally {
      await dp.close();
    }
  });

  it('a data plane of the protocol before flags (1) is not adopted silently: the next control plane says what to do', async () => {
    // What an older build's data plane answers on its control socket: it serves no flags.
    const dataDir = join(root, 'old');
    mkdirSync(join(dataDir, 'dataplane'), { recursive: true });
    const old = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ protocol: 1, pid: process.pid, build: '0.0.9', startedAt: 0, port: 1, host: '127.0.0.1', routes: 0 }));
    });
    await new Promise<void>((r) => old.listen(controlSocketPath(dataDir), () => r()));
    const notices: string[] = [];
    try {
      await assert.rejects(
        ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, flagsPort: 0, maxConnections: 10, entry: DATA_PLANE_ENTRY, build: 'test' }, (l) => notices.push(l)),
        /protocol mismatch/,
      );
      assert.match(notices.join('\n'), /speaks protocol 1, not \d+; run `sluice down`, then `sluice up`/);
    } finally {
      await new Promise((r) => old.close(r));
    }
  });
});
