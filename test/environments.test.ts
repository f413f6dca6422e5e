import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// On-demand environments on a real `sluice up`: a clone of staging running a release at its own address, with
// staging's secrets and never prod's, outliving a kill -9 of the control plane, expiring by itself and destroyed
// without a trace.
const PIPELINE = `app: shop
artifact: { build: node build.js, output: dist }
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
  env: { GREETING: Welcome }
stages:
  staging:
    secrets: [STAGING_TOKEN]
  prod:
    after: staging
    secrets: [PROD_TOKEN]
    env: { GREETING: Hello }
`;
const STAGING_TOKEN = 'staging-token-6f1d2c';
const PROD_TOKEN = 'prod-token-9a8b7c-never-in-an-environment';

describe('environments on sluice up', { timeout: 240_000 }, () => {
  let app: string;
  let up: UpProcess;
  let token: string;
  const data = () => join(app, '.sluice');
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  /** A host's home page through the router: status and the page. */
  const page = (host: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
  /** The pids of an environment's (or stage's) instances on the local target, with their environment variables. */
  const instances = (name: string) => {
    const dir = join(data(), 'local', name, 'instances');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((run) => {
      const pidFile = join(dir, run, 'pid');
      if (!existsSync(pidFile)) return [];
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const environ = existsSync(`/proc/${pid}/environ`) ? readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0') : [];
      return environ.length > 0 ? [{ pid, environ }] : [];
    });
  };
  const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 30_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (await check()) return;
    assert.fail(`timed out waiting for ${what}`);
  };

  before(async () => {
    app = copyExample('enved');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, data());
    token = readFileSync(join(data(), 'admin-token'), 'utf8').trim();
    for (const [stage, name, value] of [['staging', 'STAGING_TOKEN', STAGING_TOKEN], ['prod', 'PROD_TOKEN', PROD_TOKEN]] as const)
      assert.equal((await api(up.apiUrl, 'POST', `/api/v1/stages/${stage}/secrets/${name}`, { value }, token)).status, 200);
    assert.equal((await run('release', 'create', '1.0.0')).code, 0);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0', 120_000), 'succeeded');
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('makes a clone of staging at its own address with staging’s secrets and flags and never prod’s, lists it, and logs its deploy', async () => {
    const made = await run('env', 'create', 'pr-7', '--from', 'staging', '--ref', '1.0.0', '--set', 'GREETING=Preview', '--reason', 'review of PR 7');
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /environment pr-7 serves 1\.0\.0 at http:\/\/pr-7\.shop\.localhost:\d+ \(a clone of staging; expires \d{4}-/);
    const home = await page('pr-7.shop.localhost');
    assert.equal(home.status, 200);
    assert.match(home.text, /<h1>Preview to the shop<\/h1>/);
    assert.match(home.text, /id="version">1\.0\.0</);
    assert.match((await page('staging.shop.localhost')).text, /<h1>Welcome to the shop/, 'staging is untouched');

    // Its workloads see staging's secret and staging's flag key, and nothing of prod's.
    const [inst] = instances('pr-7');
    assert.ok(inst, 'an instance runs');
    assert.ok(inst.environ.includes(`STAGING_TOKEN=${STAGING_TOKEN}`));
    assert.ok(!inst.environ.some((v) => v.includes(PROD_TOKEN) || v.startsWith('PROD_TOKEN=')), 'no prod secret');
    const [stagingInst] = instances('staging');
    const flagKey = (environ: string[]) => environ.find((v) => v.startsWith('SLUICE_FLAGS_KEY='));
    assert.equal(flagKey(inst.environ), flagKey(stagingInst!.environ), 'it reads staging’s flags');

    const list = await run('env', 'list');
    assert.match(list.stdout, /pr-7\s+ready\s+1\.0\.0\s+http:\/\/pr-7\.shop\.localhost/);
    const logs = await run('env', 'logs', 'pr-7');
    assert.match(logs.stdout, /deploying 1\.0\.0 to environment pr-7 \(a clone of staging\)/);
    for (const out of [list.stdout, logs.stdout, (await run('env', 'show', 'pr-7', '--json')).stdout]) assert.ok(!out.includes(PROD_TOKEN) && !out.includes(STAGING_TOKEN));

    // Bad input changes nothing and says why.
    const fromProd = await run('env', 'create', 'x1', '--from', 'prod', '--ref', '1.0.0');
    assert.notEqual(fromProd.code, 0);
    assert.match(fromProd.stderr, /prod is a last stage of the pipeline \(production\); environments are cloned from a stage before it, such as staging, and production's secrets never reach one/);
    assert.match((await run('env', 'create', 'staging', '--from', 'staging', '--ref', '1.0.0')).stderr, /"staging" is a stage of the pipeline/);
    assert.match((await run('env', 'create', 'pr-7', '--from', 'staging', '--ref', '1.0.0')).stderr, /environment pr-7 exists already/);
    assert.match((await run('env', 'create', 'x2', '--from', 'staging', '--ref', '9.9.9')).stderr, /there is no release 9\.9\.9/);
    assert.match((await run('env', 'create', '--from', 'staging', '--ref', '1.0.0')).stderr, /name the environment, or give the branch or pull request/);
    assert.deepEqual(JSON.parse((await run('env', 'list', '--json')).stdout).map((e: { name: string }) => e.name), ['pr-7']);

    const audit = await api<{ action: string; reason: string; links: Record<string, string> }[]>(up.apiUrl, 'GET', '/api/v1/audit?limit=1000', undefined, token);
    assert.ok(audit.json.some((r) => r.action === 'environment.create' && r.reason === 'review of PR 7' && r.links.environment === 'pr-7' && r.links.stage === 'staging'));
  });

  it('keeps serving through a kill -9 of the control plane, and is still there after the restart', async () => {
    await up.kill();
    assert.equal((await page('pr-7.shop.localhost')).status, 200, 'the data plane serves it while the control plane is away');
    up = await startUp(app, data());
    assert.match((await run('env', 'show', 'pr-7')).stdout, /pr-7\s+ready\s+1\.0\.0/);
    assert.match((await page('pr-7.shop.localhost')).text, /id="version">1\.0\.0</);
    const redeployed = await run('env', 'redeploy', 'pr-7');
    assert.equal(redeployed.code, 0, redeployed.stderr);
    const pinned = await run('env', 'pin', 'pr-7');
    assert.match(pinned.stdout, /pinned; expires never/);
  });

  it('a short-lived environment expires by itself and leaves nothing behind', async () => {
    const made = await run('env', 'create', '--branch', 'feature/Quick_Look', '--from', 'staging', '--ref', '1.0.0', '--ttl', '10s');
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /environment feature-quick-look serves 1\.0\.0/);
    const pids = instances('feature-quick-look').map((i) => i.pid);
    assert.equal(pids.length, 1);
    await until('feature-quick-look to expire', async () => (await page('feature-quick-look.shop.localhost')).status === 404, 60_000);
    await until('its record to go', async () => !(await run('env', 'list')).stdout.includes('feature-quick-look'));
    assert.ok(!existsSync(join(data(), 'local', 'feature-quick-look')), 'its folder is gone');
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `instance ${pid} stopped`);
    const audit = await api<{ action: string; actor: { kind: string } }[]>(up.apiUrl, 'GET', '/api/v1/audit?limit=1000', undefined, token);
    assert.ok(audit.json.some((r) => r.action === 'environment.expire' && r.actor.kind === 'system'));
    assert.match((await run('env', 'show', 'pr-7')).stdout, /pr-7\s+ready/, 'the pinned one stays');
  });

  it('destroy takes it down and removes everything it made', async () => {
    const pids = instances('pr-7').map((i) => i.pid);
    const r = await run('env', 'destroy', 'pr-7', '--reason', 'PR 7 merged');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await page('pr-7.shop.localhost')).status, 404);
    assert.ok(!existsSync(join(data(), 'local', 'pr-7')));
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `instance ${pid} stopped`);
    assert.match((await run('env', 'show', 'pr-7')).stderr, /there is no environment pr-7/);
    assert.match((await page('staging.shop.localhost')).text, /id="version">1\.0\.0</, 'staging still serves');
  });
});
