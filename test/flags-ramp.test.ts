import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, startUp, type UpProcess } from './helpers/sluice-process.js';

// Guarded flag ramps through the CLI and the API of a real `sluice up`, on the example shop's winter-sale flag.
describe('flag ramps: the CLI and the API against sluice up', { timeout: 180_000 }, () => {
  let app: string;
  let up: UpProcess;
  let admin: string;
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await run(...args, '--json');
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  type Ramp = {
    plan: { steps: number[]; waitMs: number };
    run?: { status: string; percent: number; verdicts: { outcome: string; reason: string }[] };
    measurement: string;
    nextJudgementAt: number | null;
  };
  const PLAN = '{"treatment":"on","control":"off","steps":[1,5,100],"wait":"5s","variantKey":"header:x-user-id"}';
  before(async () => {
    app = copyExample();
    up = await startUp(app, join(app, '.sluice'));
    admin = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('refuses to start on a flag with targeting rules, and a bad plan, saying what and where; nothing changes', async () => {
    const before = (await run('flags', 'export', '--stage', 'prod')).stdout;
    const rules = await run('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod', '--plan', PLAN);
    assert.equal(rules.code, 1, rules.stdout);
    assert.match(rules.stderr, /flag winter-sale in prod has targeting rules; a ramp owns the flag's targeting while it runs/);
    const bad = await run('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod', '--plan', '{"treatment":"on","control":"of","steps":[5,1,100],"wait":"1s"}');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ramp control: "of" is not a variant of the flag \(its variants: on, off\)/);
    assert.match(bad.stderr, /strictly increasing/);
    assert.match(bad.stderr, /wait: 1000 ms is out of bounds/);
    const none = await run('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod');
    assert.match(none.stderr, /declares no ramp in prod/);
    assert.equal((await run('flags', 'export', '--stage', 'prod')).stdout, before, 'nothing changed');
  });

  it('starts, shows the ramp with its measurement, is judged by the runner (no traffic: held), pauses, resumes and aborts; history and audit say so', async () => {
    assert.equal((await run('flags', 'set', 'winter-sale', '--stage', 'prod', '--targeting', 'null')).code, 0);
    const started = await run('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod', '--plan', PLAN, '--reason', 'sale for all');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /ramp of winter-sale in prod started \(prod@\d+\)/);
    assert.match(started.stdout, /running at 1 % on \(step 1 of 3\); on vs off, steps \[1\] → 5 → 100 %, wait 5s each, on regression back to 0 %/);
    const doc = JSON.parse((await run('flags', 'export', '--stage', 'prod')).stdout) as { flags: Record<string, { targeting: unknown; metadata: Record<string, unknown> }> };
    assert.deepEqual(doc.flags['winter-sale']?.targeting, { fractional: [['on', 1], ['off', 99]] });
    assert.equal(doc.flags['winter-sale']?.metadata['sluice.variantKey'], 'header:x-user-id');
    const shown = await run('flags', 'show', 'winter-sale');
    assert.match(shown.stdout, /measured by: the router, counting requests by header x-user-id/);
    assert.match(shown.stdout, /next judgement: \d{4}-/);
    assert.match((await run('flags', 'list')).stdout, /winter-sale .* prod: on off\+rules \(ramp 1% on, running\)/);

    // The runner judges the step after its 5 s wait; with no traffic per variant it holds the step.
    let r: Ramp | undefined;
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(500)) {
      r = (await api<Ramp>(up.apiUrl, 'GET', '/api/v1/stages/prod/flags/winter-sale/ramp')).json;
      if ((r.run?.verdicts.length ?? 0) > 0) break;
    }
    assert.equal(r?.run?.verdicts[0]?.outcome, 'nodata', JSON.stringify(r));
    assert.match(r!.run!.verdicts[0]!.reason, /too little traffic to judge error-rate/);
    assert.deepEqual([r!.run!.status, r!.run!.percent], ['running', 1]);

    const paused = await run('flags', 'ramp', 'pause', 'winter-sale', '--stage', 'prod', '--reason', 'checking');
    assert.match(paused.stdout, /paused at 1 %/);
    assert.match((await run('flags', 'ramp', 'status', 'winter-sale', '--stage', 'prod')).stdout, /why: checking/);
    assert.match((await run('flags', 'ramp', 'pause', 'winter-sale', '--stage', 'prod')).stderr, /only a running ramp can be paused; this one is paused/);
    assert.equal((await run('flags', 'ramp', 'resume', 'winter-sale', '--stage', 'prod')).code, 0);
    assert.equal((await run('flags', 'ramp', 'abort', 'winter-sale', '--stage', 'prod', '--reason', 'later')).code, 0);
    const back = JSON.parse((await run('flags', 'export', '--stage', 'prod')).stdout) as { flags: Record<string, { targeting?: unknown; defaultVariant: string }> };
    assert.deepEqual([back.flags['winter-sale']?.targeting, back.flags['winter-sale']?.defaultVariant], [undefined, 'off'], 'abort put back what was there');

    const hist = await run('flags', 'history', 'winter-sale', '--stage', 'prod');
    for (const t of ['ramp.started', 'ramp.held', 'ramp.paused', 'ramp.resumed', 'ramp.aborted']) assert.match(hist.stdout, new RegExp(t.replace('.', '\\.')));
    const audit = await api<{ action: string; reason: string; actor: { kind: string } }[]>(up.apiUrl, 'GET', '/api/v1/audit?stage=prod', undefined, admin);
    assert.ok(audit.json.some((a) => a.action === 'flag.ramp.start' && a.reason === 'sale for all'));
    assert.ok(audit.json.some((a) => a.action === 'flag.ramp.judge' && a.actor.kind === 'system' && /nodata: too little traffic/.test(a.reason)));
  });

  it('is in the OpenAPI document; a viewer may read a ramp but not start one', async () => {
    const doc = await api<{ paths: Record<string, unknown> }>(up.apiUrl, 'GET', '/api/openapi.json');
    for (const p of ['ramp', 'ramp/start', 'ramp/pause', 'ramp/resume', 'ramp/abort']) assert.ok(doc.json.paths[`/api/v1/stages/{stage}/flags/{key}/${p}`], p);
    const viewer = (await json<{ token: string }>('token', 'create', 'ramp-watcher', '--role', 'viewer')).token;
    const asViewer = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '', SLUICE_TOKEN: viewer });
    assert.equal((await asViewer('flags', 'ramp', 'status', 'winter-sale', '--stage', 'prod')).code, 0);
    const refused = await asViewer('flags', 'ramp', 'start', 'winter-sale', '--stage', 'prod', '--plan', PLAN);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /the token "ramp-watcher" has the role viewer/);
  });
});
