import assert from 'node:assert/strict';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// A staging lane on a real `sluice up`: staging takes the next release only once the one in it has passed prod, and
// the releases behind it queue in order, none superseded.
const PIPELINE = `app: laned
artifact:
  build: node build.js
  output: dist
defaults:
  target: local
  local:
    start: node server.js
    instances: 1
    health: { path: /healthz, timeout: 20s }
    stopTimeout: 2s
stages:
  staging:
    lane: { maxAhead: 1 }
  prod:
    after: staging
    approval: true
`;

type Summary = { version: string; status: string; stages: Record<string, string>; lane?: { stage: string; ahead: string[]; before: string[] } };

describe('a stage with a lane, on sluice up', { timeout: 180_000 }, () => {
  let app: string;
  let up: UpProcess;
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const journeys = async () => (await api<{ journeys: Summary[] }>(up.apiUrl, 'GET', '/api/v1/status')).json.journeys;
  const summary = async (v: string) => (await journeys()).find((j) => j.version === v);
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (const end = Date.now() + 60_000; Date.now() < end; await sleep(100)) if (await check()) return;
    assert.fail(`timed out waiting for ${what}: ${JSON.stringify(await journeys())}`);
  };
  const release = async (v: string) => {
    // A change per release: each one is its own build.
    appendFileSync(join(app, 'src', 'catalog.js'), `\n// ${v}\n`);
    const r = await run('release', 'create', v);
    assert.equal(r.code, 0, r.stderr);
  };
  const atProd = (v: string, status: string) => until(`${v} ${status} at prod`, async () => (await summary(v))?.stages.prod === status);
  /** The version a stage's home page shows, through the router. */
  const served = (stage: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', headers: { host: `${stage}.laned.localhost` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(/id="version">([^<]+)</.exec(text)?.[1] ?? `${res.statusCode}: ${text.slice(0, 200)}`));
      });
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    app = copyExample('laned');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, join(app, '.sluice'));
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('a second release waits for staging until the first has passed prod, a third queues behind it, and the board says behind whom', async () => {
    await release('1.0.0');
    await atProd('1.0.0', 'awaiting-approval');
    await release('2.0.0');
    await until('2.0.0 to queue for staging', async () => (await summary('2.0.0'))?.lane !== undefined);
    await release('3.0.0');
    await until('3.0.0 to queue for staging', async () => (await summary('3.0.0'))?.lane !== undefined);
    assert.deepEqual((await summary('2.0.0'))?.lane, { stage: 'staging', ahead: ['1.0.0'], before: [] });
    assert.deepEqual((await summary('3.0.0'))?.lane, { stage: 'staging', ahead: ['1.0.0'], before: ['2.0.0'] });
    assert.deepEqual([(await summary('2.0.0'))?.status, (await summary('3.0.0'))?.status], ['running', 'running'], 'none superseded');
    assert.equal(await served('staging'), '1.0.0', 'staging is prod plus the one change under approval');
    const status = await run('status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /3\.0\.0 .*queued for staging behind 1\.0\.0, 2\.0\.0/);

    // 1.0.0 passes prod: 2.0.0 enters staging, and 3.0.0 now waits behind it.
    assert.equal((await run('approve', '1.0.0', '--comment', 'ship it')).code, 0);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0'), 'succeeded');
    await atProd('2.0.0', 'awaiting-approval');
    assert.equal(await served('staging'), '2.0.0');
    assert.deepEqual((await summary('3.0.0'))?.lane, { stage: 'staging', ahead: ['2.0.0'], before: [] });
    assert.equal((await summary('3.0.0'))?.stages.staging, 'ready');

    assert.equal((await run('approve', '2.0.0', '--comment', 'ship it')).code, 0);
    await atProd('3.0.0', 'awaiting-approval');
    assert.equal((await run('approve', '3.0.0', '--comment', 'ship it')).code, 0);
    for (const v of ['2.0.0', '3.0.0']) assert.equal(await journeyEnd(up.apiUrl, v), 'succeeded');
    assert.deepEqual([await served('staging'), await served('prod')], ['3.0.0', '3.0.0']);
  });
});
