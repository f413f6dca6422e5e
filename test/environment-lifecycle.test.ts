import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, BIN, cli, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// The lifecycle of an environment on a real `sluice up` (issue 12, "What it must show: Lifecycle"; docs/adr/0029):
// create → deploy → idle to zero (its processes gone) → woken by a request (held by the router, answered by the app)
// → TTL expiry, and then nothing left: no process, route or folder. A kill -9 of the control plane while it sleeps,
// during a create and during a destroy leaves no orphan after the next start.
const PIPELINE = `app: shop
artifact: { build: node build.js, output: dist }
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
stages:
  staging: {}
  prod:
    after: staging
environments:
  idleAfter: 5s
`;

describe('an environment’s lifecycle on sluice up', { timeout: 300_000 }, () => {
  let app: string;
  let up: UpProcess;
  let token: string;
  const data = () => join(app, '.sluice');
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const hostOf = (name: string) => `${name}.shop.localhost`;
  /** A host's home page through the router: status, the page, and when its first byte came (performance.now()). */
  const page = (host: string) =>
    new Promise<{ status: number; text: string; firstByteAt: number }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', headers: { host }, agent: false }, (res) => {
        const firstByteAt = performance.now();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, firstByteAt }));
      });
      req.on('error', reject);
      req.end();
    });
  /** The pids the local target recorded for an environment's instances, alive or not. */
  const recordedPids = (name: string): number[] => {
    const dir = join(data(), 'local', name, 'instances');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((r) => {
      const f = join(dir, r, 'pid');
      return existsSync(f) ? [Number(readFileSync(f, 'utf8'))] : [];
    });
  };
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const routesFile = () => JSON.parse(readFileSync(join(data(), 'dataplane', 'routes.json'), 'utf8')) as { routes: Record<string, { spec: { asleep?: boolean } }> };
  const view = async (name: string) => {
    const r = await api<{ status: string; asleep: boolean; asleepSince?: number }>(up.apiUrl, 'GET', `/api/v1/environments/${name}`, undefined, token);
    return r.status === 200 ? r.json : undefined;
  };
  const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 60_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (await check()) return;
    assert.fail(`timed out waiting for ${what}`);
  };

  /**
   * What is left of an environment after it is gone: each thing that should not be there, in one line. Everything an
   * environment makes is checked here (add a kind of resource here when environments make a new one).
   */
  const leftovers = async (name: string, pidsSeen: readonly number[]): Promise<string[]> => {
    const left: string[] = [];
    for (const pid of new Set([...pidsSeen, ...recordedPids(name)])) if (alive(pid)) left.push(`process ${pid}`);
    const routes = routesFile().routes;
    for (const host of [hostOf(name), `${name}-preview.shop.localhost`]) if (host in routes) left.push(`route ${host} in the routes file`);
    const answer = await page(hostOf(name));
    if (answer.status !== 404) left.push(`the router answers ${answer.status} at ${hostOf(name)}`);
    if (existsSync(join(data(), 'local', name))) left.push(`folder ${join(data(), 'local', name)}`);
    if ((await view(name)) !== undefined) left.push(`the record of environment ${name}`);
    return left;
  };

  before(async () => {
    app = copyExample('lifecycle');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, data());
    token = readFileSync(join(data(), 'admin-token'), 'utf8').trim();
    assert.equal((await run('release', 'create', '1.0.0')).code, 0);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0', 120_000), 'succeeded');
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('create → deploy → idle to zero → woken by a request → TTL expiry, and nothing is left', async (t) => {
    const name = 'life';
    const made = await run('env', 'create', name, '--from', 'staging', '--ref', '1.0.0', '--ttl', '45s');
    assert.equal(made.code, 0, made.stderr);
    const first = await page(hostOf(name));
    assert.equal(first.status, 200);
    assert.match(first.text, /id="version">1\.0\.0</);
    const pids = recordedPids(name);
    assert.equal(pids.length, 1);
    assert.ok(pids.every(alive), 'its instance runs');
    assert.equal((await view(name))?.asleep, false, 'awake while it serves');

    // Idle for idleAfter (5 s): it sleeps. Its processes are gone, its route stays, asleep.
    await until(`${name} to sleep`, async () => (await view(name))?.asleep === true, 60_000);
    await until('its instance to stop', () => !pids.some(alive), 20_000);
    assert.equal(routesFile().routes[hostOf(name)]?.spec.asleep, true, 'the routes file keeps it asleep');
    assert.match((await run('env', 'list')).stdout, new RegExp(`${name}\\s+ready\\s+1\\.0\\.0.*asleep since \\d{4}-`));

    // A kill -9 of the control plane while it sleeps: the next start does not start it (its record says asleep).
    await up.kill();
    up = await startUp(app, data());
    assert.equal((await view(name))?.asleep, true, 'still asleep after the restart');
    const afterRestart = recordedPids(name);
    assert.ok(!afterRestart.some(alive), `nothing of it runs after the restart (pids ${afterRestart.join(', ')})`);

    // A request wakes it: the router holds it while the instance starts, then the app answers it with its build.
    const sent = performance.now();
    const woke = await page(hostOf(name));
    const wakeMs = woke.firstByteAt - sent;
    assert.equal(woke.status, 200, woke.text);
    assert.match(woke.text, /id="version">1\.0\.0</);
    const awakePids = recordedPids(name).filter(alive);
    assert.equal(awakePids.length, 1, 'one instance runs again');
    assert.ok(!pids.includes(awakePids[0]!), 'a new process');
    t.diagnostic(`wake latency (a request at an asleep environment to the first byte of its answer): ${wakeMs.toFixed(0)} ms`);
    console.log(`wake latency: ${wakeMs.toFixed(0)} ms`);
    const logs = (await run('env', 'logs', name)).stdout;
    assert.match(logs, /no request for [\d.]+s \(environments\.idleAfter: 5\.0s\): going to sleep/);
    assert.match(logs, /asleep: 1 instance\(s\) of 1\.0\.0 stopped/);
    assert.match(logs, /a request came after [\dm.]+s asleep: waking up/);
    assert.match(logs, /awake: 1\.0\.0 serves again/);

    // The TTL (45 s from the deploy; a wake does not reset it) runs out: it is destroyed, asleep or not.
    await until(`${name} to expire`, async () => (await view(name)) === undefined, 90_000);
    assert.deepEqual(await leftovers(name, [...pids, ...afterRestart, ...awakePids]), []);
  });

  it('a kill -9 of the control plane during a create and during a destroy leaves no orphan after the next start', async () => {
    const name = 'crashy';
    /** Runs the CLI without waiting for it. */
    const background = (...args: string[]): ChildProcess =>
      spawn(process.execPath, [BIN, ...args, '--dir', app], { env: { ...process.env, NO_COLOR: '1', SLUICE_URL: '' }, stdio: 'ignore' });
    const seen = new Set<number>();
    const note = () => recordedPids(name).forEach((p) => seen.add(p));

    // During a create: its instance started, its deploy not answered yet.
    const create = background('env', 'create', name, '--from', 'staging', '--ref', '1.0.0');
    await until('the create to start an instance', () => {
      note();
      return seen.size > 0;
    });
    await up.kill();
    create.kill();
    up = await startUp(app, data());
    // The record is its desired state: the next start finishes the create (adopting the instance) instead of leaving it.
    await until(`${name} to be ready after the restart`, async () => (await view(name))?.status === 'ready');
    note();
    assert.equal((await page(hostOf(name))).status, 200);
    assert.equal(recordedPids(name).filter(alive).length, 1, 'one instance: none started twice');

    // During a destroy: killed as soon as its record says it is being destroyed (or, at the latest, as it answers).
    const destroy = background('env', 'destroy', name);
    let caught = false;
    await until('the destroy to start', async () => {
      note();
      caught = (await view(name))?.status === 'destroying';
      return caught || destroy.exitCode !== null;
    });
    await up.kill();
    destroy.kill();
    console.log(`control plane killed ${caught ? 'during' : 'after'} the destroy`);
    up = await startUp(app, data());
    // The next start finishes the destroy; the sweep that runs every 5 s has nothing left to find.
    await until(`${name} to be gone after the restart`, async () => (await view(name)) === undefined);
    assert.deepEqual(await leftovers(name, [...seen]), []);
    assert.match((await page('staging.shop.localhost')).text, /id="version">1\.0\.0</, 'staging still serves');
  });
});
