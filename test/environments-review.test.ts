import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, startUp, type UpProcess } from './helpers/sluice-process.js';

// A delivery lead's review of an environment on a real `sluice up` (ADR 27): a request for changes is recorded; an
// approve brings the build into staging through its journey (staging waits for a promotion and has a lane) and the
// environment is gone, instances, route and folder; only the approver's role may review.
const PIPELINE = `app: shop
artifact: { build: node build.js, output: dist }
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
stages:
  staging:
    autoPromote: false
    lane: { maxAhead: 1 }
  prod:
    after: staging
    approval: true
`;

type Summary = { version: string; stages: Record<string, string> };
type Env = { name: string; status: string; review?: { verdict: string; version: string; by: string; comment?: string } };

describe('reviewing an environment on sluice up', { timeout: 240_000 }, () => {
  let app: string;
  let up: UpProcess;
  let lead: string;
  let dev: string;
  const data = () => join(app, '.sluice');
  const run = (token: string, ...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '', SLUICE_TOKEN: token });
  const admin = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  /** The version a host's home page shows through the router, or its status and first bytes. */
  const served = (host: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(/id="version">([^<]+)</.exec(text)?.[1] ?? `${res.statusCode}: ${text.slice(0, 120)}`));
      });
      req.on('error', reject);
      req.end();
    });
  const stageOf = async (v: string, stage: string) =>
    (await api<{ journeys: Summary[] }>(up.apiUrl, 'GET', '/api/v1/status')).json.journeys.find((j) => j.version === v)?.stages[stage];
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (const end = Date.now() + 90_000; Date.now() < end; await sleep(150)) if (await check()) return;
    assert.fail(`timed out waiting for ${what}`);
  };
  const release = async (v: string) => {
    writeFileSync(join(app, 'src', 'change.js'), `// ${v}\n`);
    const r = await admin('release', 'create', v);
    assert.equal(r.code, 0, r.stderr);
  };
  const token = async (name: string, role: string) => {
    const r = await admin('token', 'create', name, '--role', role, '--json');
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };

  before(async () => {
    app = copyExample('reviewed');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, data());
    lead = await token('lead', 'approver');
    dev = await token('dev', 'deployer');
    await release('1.0.0');
    await until('1.0.0 to await promotion into staging', async () => (await stageOf('1.0.0', 'staging')) === 'awaiting-promotion');
    const made = await run(dev, 'env', 'create', 'pr-9', '--from', 'staging', '--ref', '1.0.0');
    assert.equal(made.code, 0, made.stderr);
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('records a request for changes (who, which build, the comment) and nothing else; only an approver may review', async () => {
    const asked = await run(lead, 'env', 'review', 'pr-9', '--request-changes', '--comment', 'the basket total is wrong');
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, /lead asked for changes to 1\.0\.0 in environment pr-9: the basket total is wrong/);
    const shown = JSON.parse((await admin('env', 'show', 'pr-9', '--json')).stdout) as Env;
    assert.deepEqual({ ...shown.review, at: undefined, byId: undefined }, { verdict: 'changes-requested', version: '1.0.0', by: 'lead', comment: 'the basket total is wrong', at: undefined, byId: undefined });
    assert.match((await admin('env', 'show', 'pr-9')).stdout, /review: changes-requested \(1\.0\.0\) by lead/);
    assert.equal(await stageOf('1.0.0', 'staging'), 'awaiting-promotion', 'staging is untouched');
    const extended = await run(dev, 'env', 'extend', 'pr-9');
    assert.equal(extended.code, 0, extended.stderr);
    assert.match(extended.stdout, /environment pr-9 expires \d{4}-\d\d-\d\dT/);

    // A deployer may not review; neither flag, or both, is a usage error; none of it changes anything.
    const refused = await run(dev, 'env', 'review', 'pr-9', '--approve');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /needs the role approver or admin; the token "dev" has the role deployer/);
    assert.match((await run(lead, 'env', 'review', 'pr-9')).stderr, /needs one of --approve or --request-changes/);
    assert.match((await run(lead, 'env', 'review', 'pr-9', '--request-changes')).stderr, /a request for changes needs a comment/);
    const bad = await api(up.apiUrl, 'POST', '/api/v1/environments/pr-9/review', { verdict: 'approved', comment: 'x'.repeat(2001) }, lead);
    assert.equal(bad.status, 400);
    assert.equal(((await admin('env', 'show', 'pr-9', '--json')).stdout.match(/changes-requested/g) ?? []).length, 1, 'the verdict is the one before');
    assert.equal(await stageOf('1.0.0', 'staging'), 'awaiting-promotion');
  });

  it('approves: the build goes to staging, which serves it, and the environment is gone without a trace', async () => {
    assert.equal(await served('pr-9.shop.localhost'), '1.0.0', 'the environment serves the build under review');
    const approved = await run(lead, 'env', 'review', 'pr-9', '--approve', '--comment', 'ship it');
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /lead approved 1\.0\.0 in environment pr-9: ship it\n {2}promoted to staging .*\n {2}environment pr-9 destroyed/);
    await until('staging to pass 1.0.0', async () => (await stageOf('1.0.0', 'staging')) === 'passed');
    assert.equal(await served('staging.shop.localhost'), '1.0.0', 'staging serves the approved build');
    const list = JSON.parse((await admin('env', 'list', '--json')).stdout) as Env[];
    assert.deepEqual(list, [], 'no environment left');
    assert.match(await served('pr-9.shop.localhost'), /^404/, 'its address answers no more');
    assert.ok(!existsSync(join(data(), 'local', 'pr-9')), 'its folder is gone');

    const events = await api<{ type: string; stage?: string; by?: string }[]>(up.apiUrl, 'GET', '/api/v1/releases/1.0.0/events');
    assert.ok(events.json.some((e) => e.type === 'stage.promoted' && e.stage === 'staging' && e.by === 'lead'), 'the journey says the lead let it in');
    const adminToken = readFileSync(join(data(), 'admin-token'), 'utf8').trim();
    const audit = await api<{ action: string; reason: string; actor: { name?: string }; links: Record<string, string> }[]>(up.apiUrl, 'GET', '/api/v1/audit?limit=1000', undefined, adminToken);
    const of = (action: string) => audit.json.filter((r) => r.action === action && r.links.environment === 'pr-9');
    assert.deepEqual(of('environment.review').map((r) => [r.actor.name, r.reason]), [['lead', 'the basket total is wrong'], ['lead', 'ship it']]);
    assert.equal(of('stage.promote').length, 1);
    assert.equal(of('environment.destroy').length, 1);
  });

  it('a second approved build waits in staging’s lane until the first has passed prod', async () => {
    await release('2.0.0');
    await until('2.0.0 to await promotion into staging', async () => (await stageOf('2.0.0', 'staging')) === 'awaiting-promotion');
    assert.equal((await run(dev, 'env', 'create', 'pr-10', '--from', 'staging', '--ref', '2.0.0')).code, 0);
    const r = await api<{ promotion: { outcome: string; status: string }; destroyed: boolean }>(up.apiUrl, 'POST', '/api/v1/environments/pr-10/review', { verdict: 'approved' }, lead);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual([r.json.promotion.outcome, r.json.promotion.status, r.json.destroyed], ['promoted', 'ready', true], 'let in, and queued behind 1.0.0');
    const board = await api<{ journeys: { version: string; lane?: { stage: string; ahead: string[] } }[] }>(up.apiUrl, 'GET', '/api/v1/status');
    assert.deepEqual(board.json.journeys.find((j) => j.version === '2.0.0')?.lane, { stage: 'staging', ahead: ['1.0.0'], before: [] });
    assert.equal(await served('staging.shop.localhost'), '1.0.0');
    assert.equal((await admin('approve', '1.0.0', 'prod')).code, 0);
    await until('staging to pass 2.0.0', async () => (await stageOf('2.0.0', 'staging')) === 'passed');
    assert.equal(await served('staging.shop.localhost'), '2.0.0');
  });

  it('the event stream names each environment written, made or removed in an environments.changed frame without an id', async () => {
    const frames: string[] = [];
    let buffered = '';
    const req = request(`${up.apiUrl}/api/v1/events`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split('\n\n');
        buffered = parts.pop()!;
        frames.push(...parts);
      });
    });
    req.on('error', () => undefined);
    req.end();
    const envFrames = () => frames.filter((f) => f.includes('event: environments.changed'));
    try {
      await until('the stream to connect', async () => frames.includes(': connected'));
      assert.deepEqual(envFrames(), []);
      assert.equal((await run(dev, 'env', 'create', 'pr-11', '--from', 'staging', '--ref', '2.0.0')).code, 0);
      await until('frames for pr-11', async () => envFrames().length >= 2);
      assert.equal((await run(dev, 'env', 'destroy', 'pr-11')).code, 0);
      await until('the frames of its destroy', async () => envFrames().length >= 4);
      // Made (deploying, then ready), then destroying, then gone: each a frame naming it, none with an id.
      assert.deepEqual([...new Set(envFrames())], ['event: environments.changed\ndata: {"names":["pr-11"]}']);
    } finally {
      req.destroy();
    }
  });
});
