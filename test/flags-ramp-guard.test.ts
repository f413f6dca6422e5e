import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// A guarded ramp on real traffic: the app (deployed to prod by a journey) answers 500 to every user who gets the
// treatment. The router counts each request against the variant its x-user-id buckets into, the ramp's judge compares
// the two, and the ramp sets the flag back to 0 % by itself; the audit trail says why.
const PIPELINE = `app: ramped
artifact:
  build: node build.js
  output: dist
defaults:
  local:
    start: node server.js
    instances: 1
    health: { path: /healthz, timeout: 10s }
stages:
  prod: {}
`;

const FLAGS = `flags:
  winter-sale:
    type: boolean
    variants: { on: true, off: false }
    description: the sale page
    owner: team-shop
    stages:
      prod: { enabled: true, default: off }
`;

// Reads the flag through OFREP with the request's user as targeting key (src/flags.js, the shop's own helper).
const SERVER = `import { createServer } from 'node:http';
import { flag } from './flags.js';
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const user = req.headers['x-user-id'];
  const sale = typeof user === 'string' ? await flag('winter-sale', false, { targetingKey: user }) : false;
  res.statusCode = sale ? 500 : 200;
  res.end(sale ? 'the sale page broke' : 'ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

type Ramp = { run?: { status: string; percent: number; reason?: string; verdicts: { outcome: string; reason: string }[] } };

describe('a guarded ramp on real traffic', { timeout: 240_000 }, () => {
  let app: string;
  let up: UpProcess;
  let token: string;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const get = (user: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', agent, headers: { host: 'prod.ramped.localhost', 'x-user-id': user } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    app = copyExample('ramped');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    writeFileSync(join(app, 'sluice.flags.yaml'), FLAGS);
    writeFileSync(join(app, 'src', 'server.js'), SERVER);
    up = await startUp(app, join(app, '.sluice'));
    token = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
    const created = await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token);
    assert.ok(created.status === 200 || created.status === 201, JSON.stringify(created.json));
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0', 120_000), 'succeeded');
  });
  after(async () => {
    agent.destroy();
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('a treatment that raises the error rate is set back to 0 % by itself, and the audit trail says why', async () => {
    const plan = '{"treatment":"on","control":"off","steps":[25,50,100],"wait":"5s","variantKey":"header:x-user-id"}';
    const started = await run('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod', '--plan', plan, '--reason', 'the sale for everyone');
    assert.equal(started.code, 0, started.stderr);
    assert.match((await run('flags', 'show', 'winter-sale')).stdout, /the router, counting requests by header x-user-id/);

    // Users 0..999 keep coming (4 at a time) until the ramp has decided, or 90 s.
    const statuses = new Map<number, number>();
    let ramp: Ramp = {};
    let sent = 0;
    for (const until = Date.now() + 90_000; Date.now() < until; ) {
      const codes = await Promise.all(Array.from({ length: 4 }, () => get(`user-${sent++ % 1000}`)));
      for (const c of codes) statuses.set(c, (statuses.get(c) ?? 0) + 1);
      if (sent % 200 === 0) {
        ramp = (await api<Ramp>(up.apiUrl, 'GET', '/api/v1/stages/prod/flags/winter-sale/ramp', undefined, token)).json;
        if (ramp.run?.status !== 'running') break;
      }
      await sleep(5);
    }
    console.log(`# ${sent} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}; ramp ${JSON.stringify(ramp.run?.verdicts)}`);
    assert.ok((statuses.get(500) ?? 0) > 0 && (statuses.get(200) ?? 0) > 0, 'both variants were served');
    assert.deepEqual([ramp.run?.status, ramp.run?.percent], ['regressed', 0], JSON.stringify(ramp));
    assert.equal(ramp.run?.verdicts.at(-1)?.outcome, 'fail');
    assert.match(ramp.run!.reason ?? '', /error-rate/);

    // What the stage serves now: nobody gets the treatment, through the flag set and through the app.
    const doc = JSON.parse((await run('flags', 'export', '--stage', 'prod')).stdout) as { flags: Record<string, { targeting: unknown }> };
    assert.deepEqual(doc.flags['winter-sale']?.targeting, { fractional: [['on', 0], ['off', 100]] });
    for (let u = 0; u < 200; u++) assert.equal(await get(`user-${u}`), 200, `user-${u} still gets the treatment`);

    // What the dashboard charts: the treatment's users failed every request, the control's none.
    type Series = { metrics: { name: string; canary: number[]; baseline: number[] }[] };
    const series = (await api<Series>(up.apiUrl, 'GET', '/api/v1/stages/prod/flags/winter-sale/ramp/series', undefined, token)).json;
    assert.deepEqual(series.metrics.map((m) => m.name), ['error-rate']);
    const [m] = series.metrics;
    // The last point may take in a few requests answered after the set-back (the window closes after it), hence 0.9.
    assert.ok(m!.canary.length >= 3 && m!.canary.filter((v) => v === 1).length >= 3 && m!.canary.every((v) => v >= 0.9), `treatment: ${JSON.stringify(m!.canary)}`);
    assert.ok(m!.baseline.length >= 3 && m!.baseline.every((v) => v === 0), `control: ${JSON.stringify(m!.baseline)}`);

    // The audit trail: the ramp's regression, by Sluice, with the judge's reason.
    const audit = (await api<{ action: string; actor: { kind: string }; reason: string }[]>(up.apiUrl, 'GET', '/api/v1/audit?stage=prod&limit=1000', undefined, token)).json;
    const judged = audit.filter((r) => r.action === 'flag.ramp.judge');
    assert.equal(judged.at(-1)?.actor.kind, 'system', JSON.stringify(judged));
    assert.match(judged.at(-1)!.reason, /^the judge found on worse than off at 25 %: error-rate High: treatment \(on\) mean 1 vs control \(off\) mean 0; score 0; set back to 0 % on$/);
  });
});
