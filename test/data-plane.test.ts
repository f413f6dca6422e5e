import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { controlSocketPath, ensureDataPlane, stopDataPlane } from '../src/adapters/proxy-http1/data-plane-process.js';
import { InProcessRouter } from '../src/adapters/proxy-http1/in-process-router.js';
import { RouterClient } from '../src/adapters/proxy-http1/router-client.js';
import { isAlive } from '../src/platform/durable-run.js';
import { freePort } from '../src/platform/net.js';
import { trafficRouterContract } from '../src/rollout/ports/traffic-router.contract.js';
import { type BackendProcess, send, startBackend } from './helpers/backends.js';

const ENTRY = fileURLToPath(new URL('../src/main/data-plane.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'sluice-dp-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A data plane of its own data directory, started as `sluice up` starts it. */
async function dataPlane(maxConnections = 10_000) {
  const dataDir = join(root, `d${n++}`);
  const dp = await ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, maxConnections, entry: ENTRY, build: 'test' }, () => {});
  return {
    dataDir,
    client: dp.client,
    port: dp.health.port,
    pid: dp.health.pid,
    log: () => readFileSync(join(dataDir, 'dataplane', 'router.log'), 'utf8'),
    async close() {
      dp.client.close();
      await stopDataPlane(dataDir);
    },
  };
}

trafficRouterContract('in process', async () => {
  const router = new InProcessRouter();
  return { router, port: await router.listen(0), close: () => router.close() };
});
trafficRouterContract('data plane process, over its control socket', async () => {
  const dp = await dataPlane();
  return { router: dp.client, port: dp.port, close: dp.close };
});

/** Answers of the stage at `port` while it is asked in a loop until `stop` resolves. */
async function askUntil(port: number, host: string, stop: Promise<unknown>): Promise<{ ok: number; failed: number }> {
  let done = false;
  void stop.finally(() => (done = true));
  const out = { ok: 0, failed: 0 };
  while (!done) {
    const r = await send(port, { host, path: '/status?code=200' }).catch(() => ({ status: 0 }));
    if (r.status === 200) out.ok++;
    else out.failed++;
    await sleep(5);
  }
  return out;
}

describe('the data plane process', { timeout: 120_000 }, () => {
  let backend: BackendProcess;
  before(async () => {
    backend = await startBackend('v1');
  });
  after(() => backend.stop());
  const route = (client: RouterClient) => client.setRoute('web.dp.localhost', { stage: 'web', stable: { version: 'v1', backends: [{ id: 'b1', port: backend.port }] } });

  it('is adopted by the next control plane, and comes back on its own with its routes after a kill -9', async () => {
    const dp = await dataPlane();
    try {
      await route(dp.client);
      const again = await ensureDataPlane({ dataDir: dp.dataDir, host: '127.0.0.1', port: 0, maxConnections: 10, entry: ENTRY, build: 'test' }, () => {});
      assert.equal(again.adopted, true);
      assert.equal(again.health.pid, dp.pid, 'the same process');
      again.client.close();
      process.kill(dp.pid, 'SIGKILL');
      // Its supervisor starts it again with the routes it kept on disk, without any control plane.
      let back = false;
      for (let i = 0; i < 100 && !back; i++) {
        await sleep(50);
        back = (await send(dp.port, { host: 'web.dp.localhost', path: '/status?code=200' }).catch(() => ({ status: 0 }))).status === 200;
      }
      assert.ok(back, `not serving again:\n${dp.log()}`);
      assert.notEqual((await dp.client.health()).pid, dp.pid);
    } finally {
      await dp.close();
    }
    assert.equal(isAlive(dp.pid), false);
  });

  it('names a corrupt routes file in one log line, starts with no routes, and takes the control plane\'s again', async () => {
    const dp = await dataPlane();
    try {
      await route(dp.client);
      const file = join(dp.dataDir, 'dataplane', 'routes.json');
      writeFileSync(file, '{"version":1,"routes":{"web.dp.localhost":{"spec":{"stage":');
      process.kill((await dp.client.health()).pid, 'SIGKILL');
      for (let i = 0; i < 100 && !/is corrupt/.test(dp.log()); i++) await sleep(50);
      assert.equal(dp.log().split('\n').filter((l) => l.includes(file) && l.includes('is corrupt')).length, 1, dp.log());
      await sleep(100);
      assert.equal((await send(dp.port, { host: 'web.dp.localhost', path: '/status?code=200' })).status, 404);
      await route(dp.client);
      assert.equal((await send(dp.port, { host: 'web.dp.localhost', path: '/status?code=200' })).status, 200);
    } finally {
      await dp.close();
    }
  });

  it('serves at most maxConnections clients at once: the next one gets 503 and is closed, then it serves again', async () => {
    const dp = await dataPlane(4);
    const held: Socket[] = [];
    try {
      await route(dp.client);
      for (let i = 0; i < 4; i++) {
        const s = connect(dp.port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      await sleep(100);
      const over = await send(dp.port, { host: 'web.dp.localhost', path: '/status?code=200' });
      assert.equal(over.status, 503);
      assert.equal(over.headers['retry-after'], '1');
      assert.match(over.body, /maxConnections/);
      for (const s of held) s.destroy();
      await sleep(100);
      assert.equal((await send(dp.port, { host: 'web.dp.localhost', path: '/status?code=200' })).status, 200);
    } finally {
      for (const s of held) s.destroy();
      await dp.close();
    }
  });

  it('survives running out of file descriptors: caps clients below its file limit (503 past it), and serves again after', async () => {
    const dataDir = join(root, 'emfile');
    const port = await freePort();
    // A data plane with room for very few files, started directly (its supervisor passes no ulimit).
    const proc = spawn('/bin/sh', ['-c', `ulimit -n 40; exec "${process.execPath}" "${ENTRY}" --data-dir "${dataDir}" --port ${port} --flags-port 0`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const sockets: Socket[] = [];
    const answers: string[] = [];
    try {
      for (let i = 0; i < 100 && !/serving/.test(log); i++) await sleep(50);
      assert.match(log, /maxConnections lowered from 10000 to \d+: this process may open 40 files/);
      const client = new RouterClient(controlSocketPath(dataDir));
      await route(client);
      for (let i = 0; i < 80; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        s.on('data', (d: Buffer) => answers.push(d.toString().split('\r\n')[0]!));
        sockets.push(s);
      }
      await sleep(500);
      assert.equal(proc.exitCode, null, 'still running');
      assert.ok(answers.some((a) => a === 'HTTP/1.1 503 Service Unavailable'), 'clients past the cap get 503');
      for (const s of sockets) s.destroy();
      await sleep(300);
      assert.equal((await send(port, { host: 'web.dp.localhost', path: '/status?code=200' })).status, 200);
      client.close();
    } finally {
      for (const s of sockets) s.destroy();
      // A process that has exited already (it could not start) fires no second 'exit'.
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    }
  });

  it('keeps serving while the control plane is away, and `sluice down` (stopDataPlane) stops it for good', async () => {
    const dp = await dataPlane();
    await route(dp.client);
    dp.client.close(); // the control plane goes away
    const counts = await askUntil(dp.port, 'web.dp.localhost', sleep(500));
    assert.equal(counts.failed, 0);
    assert.ok(counts.ok > 10);
    assert.equal(await stopDataPlane(dp.dataDir), true);
    assert.equal(isAlive(dp.pid), false);
    await sleep(1500);
    assert.ok(existsSync(join(dp.dataDir, 'dataplane', 'stop')), 'its supervisor was told to stop');
    await assert.rejects(send(dp.port, { host: 'web.dp.localhost' }), /ECONNREFUSED/);
  });
});
