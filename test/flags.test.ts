import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, cli, copyExample, startUp, type UpProcess } from './helpers/sluice-process.js';

// Feature flags through the CLI and the API of a real `sluice up`, with the example shop's sluice.flags.yaml.
describe('flags in the control plane: the CLI against sluice up', { timeout: 180_000 }, () => {
  let app: string;
  let up: UpProcess;
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await run(...args, '--json');
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  type StageView = { state: string; defaultVariant: string; targeting?: unknown; fromFile: boolean; lastEvaluatedAt: number | null };
  type Flag = { key: string; stages: Record<string, StageView> };
  before(async () => {
    app = copyExample();
    up = await startUp(app, join(app, '.sluice'));
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('applies the flags file at start: list and show give each flag per stage, and when it was last evaluated', async () => {
    const list = await json<Flag[]>('flags', 'list');
    assert.deepEqual(list.map((f) => f.key), ['new-checkout', 'winter-sale']);
    const nc = list.find((f) => f.key === 'new-checkout')!;
    assert.deepEqual([nc.stages.prod?.state, nc.stages.prod?.defaultVariant, nc.stages.prod?.fromFile, nc.stages.prod?.lastEvaluatedAt], ['ENABLED', 'off', true, null]);
    const text = await run('flags', 'show', 'new-checkout');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /prod: on, default off \(as the flags file says\), changed .*, last evaluated never/);
    assert.match(text.stdout, /targeting: \{"if":\[\{"\$ref":"testers"\}/);
  });

  it('toggles a flag per stage with a reason and release; a restart re-applies the unchanged file and the toggle stands; an edited entry overrides it', async () => {
    const off = await run('flags', 'set', 'new-checkout', '--stage', 'prod', '--off', '--reason', 'checkout errors', '--release', '1.0.0');
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /flag new-checkout in prod changed \(prod@\d+\)/);
    await up.stop();
    up = await startUp(app, join(app, '.sluice'));
    const after = await json<Flag>('flags', 'show', 'new-checkout');
    assert.equal(after.stages.prod?.state, 'DISABLED', 'the restart did not undo the toggle');
    assert.equal(after.stages.staging?.state, 'ENABLED');
    const same = await run('flags', 'apply');
    assert.match(same.stdout, /nothing changed/);
    const file = join(app, 'sluice.flags.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('[ on, 10 ], [ off, 90 ]', '[ on, 25 ], [ off, 75 ]'));
    const applied = await run('flags', 'apply', '--reason', 'ramp to 25%');
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /1 entry applied: prod\/new-checkout/);
    const now = await json<Flag>('flags', 'show', 'new-checkout');
    assert.equal(now.stages.prod?.state, 'ENABLED', 'the edited entry of the file wins');
    assert.match(JSON.stringify(now.stages.prod?.targeting), /\["on",25\]/);
    const hist = await run('flags', 'history', 'new-checkout', '--stage', 'prod');
    assert.match(hist.stdout, /flag\.set\s+prod\/new-checkout\s+by admin: checkout errors \(release 1\.0\.0\)/);
    assert.match(hist.stdout, /flag\.set\s+prod\/new-checkout\s+by admin: ramp to 25%/);
    const audit = await api<{ action: string; reason: string; links: Record<string, string> }[]>(up.apiUrl, 'GET', '/api/v1/audit?stage=prod', undefined, readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim());
    assert.ok(audit.json.some((r) => r.action === 'flag.set' && r.reason === 'checkout errors' && r.links.release === '1.0.0' && r.links.flag === 'new-checkout'));
  });

  it('the API\'s event stream carries each saved change as a flags.changed frame without an id, naming its stages and flags', async () => {
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
    try {
      const until = async (what: string, check: () => boolean) => {
        for (const end = Date.now() + 10_000; Date.now() < end; await sleep(50)) if (check()) return;
        assert.fail(`timed out waiting for ${what}; frames: ${JSON.stringify(frames)}`);
      };
      await until('the stream to connect', () => frames.includes(': connected'));
      const off = await run('flags', 'set', 'winter-sale', '--stage', 'staging', '--off', '--reason', 'the stream test');
      assert.equal(off.code, 0, off.stderr);
      await until('a flags.changed frame', () => frames.some((f) => f.startsWith('event: flags.changed')));
      assert.deepEqual(frames.filter((f) => f.startsWith('event: flags.changed')), ['event: flags.changed\ndata: {"stages":["staging"],"flags":["winter-sale"]}']);
      const on = await run('flags', 'set', 'winter-sale', '--stage', 'staging', '--on', '--reason', 'the stream test is over');
      assert.equal(on.code, 0, on.stderr);
    } finally {
      req.destroy();
    }
  });

  it('refuses bad rules with a clear error saying where, and the stage keeps its last good flags', async () => {
    const before = await run('flags', 'export', '--stage', 'prod');
    for (const [targeting, why] of [
      ['{"nope":[1]}', /prod\/flags\/new-checkout\/targeting\/nope: unknown operator "nope"/],
      ['{"$ref":"no-such-segment"}', /prod\/flags\/new-checkout\/targeting/],
      ['{"if": [', /--targeting is not valid JSON/],
    ] as const) {
      const r = await run('flags', 'set', 'new-checkout', '--stage', 'prod', '--targeting', targeting);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, why);
    }
    const cycle = await run('flags', 'segment', 'loop', '--stage', 'prod', '--rule', '{"$ref":"loop"}');
    assert.equal(cycle.code, 1);
    assert.match(cycle.stderr, /nothing changed/);
    const file = join(app, 'sluice.flags.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('enabled: true\n        default: off\n        # On for', 'enabled: true\n        default: fancy\n        # On for'));
    const bad = await run('flags', 'apply');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /sluice\.flags\.yaml:\d+:\d+: flags\.winter-sale\.stages\.prod\.default \(stage prod\)/);
    assert.equal((await run('flags', 'export', '--stage', 'prod')).stdout, before.stdout);
    const typo = await run('flags', 'set', 'new-checkout', '--stage', 'prd', '--on');
    assert.match(typo.stderr, /no stage prd \(did you mean prod\?\)/);
  });

  it('exports a stage as flagd JSON, imports it into another, and copies rules between stages', async () => {
    const dir = join(app, '..');
    const exported = await run('flags', 'export', '--stage', 'prod', '--out', join(dir, 'prod.flagd.json'));
    assert.equal(exported.code, 0, exported.stderr);
    const imp = await run('flags', 'import', join(dir, 'prod.flagd.json'), '--stage', 'integ', '--reason', 'same as prod');
    assert.equal(imp.code, 0, imp.stderr);
    const a = JSON.parse((await run('flags', 'export', '--stage', 'prod')).stdout);
    const b = JSON.parse((await run('flags', 'export', '--stage', 'integ')).stdout);
    assert.deepEqual(b, a);
    const copy = await run('flags', 'copy', '--from', 'staging', '--to', 'integ', 'new-checkout');
    assert.equal(copy.code, 0, copy.stderr);
    const integ = await json<Flag>('flags', 'show', 'new-checkout');
    assert.deepEqual(integ.stages.integ?.targeting, undefined);
    assert.equal(integ.stages.integ?.defaultVariant, 'on');
  });

  it('creates, declares, lists stale flags, and makes read keys shown once; a viewer may read but not change', async () => {
    const created = await run('flags', 'create', 'dark-mode', '--type', 'string', '--variants', '{"dark":"#000","light":"#fff"}', '--owner', 'ui');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /off in every stage/);
    const wrong = await run('flags', 'create', 'bad', '--type', 'number', '--variants', '{"a":"x"}');
    assert.match(wrong.stderr, /variant a is "x", not a number/);
    const stale = await json<{ key: string; reasons: string[] }[]>('flags', 'stale', '--days', '1');
    assert.deepEqual(stale.find((s) => s.key === 'dark-mode')?.reasons, ['never-evaluated']);
    const key = await json<{ id: string; key: string }>('flags', 'keys', 'create', 'shop-web', '--stage', 'prod');
    assert.match(key.key, /^slf_/);
    const listed = await run('flags', 'keys', 'list', '--stage', 'prod');
    assert.match(listed.stdout, /shop-web/);
    assert.ok(!listed.stdout.includes(key.key), 'the key is never shown again');
    assert.equal((await run('flags', 'keys', 'revoke', key.id, '--stage', 'prod')).code, 0);
    const viewer = (await json<{ token: string }>('token', 'create', 'watcher', '--role', 'viewer')).token;
    const asViewer = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '', SLUICE_TOKEN: viewer });
    assert.equal((await asViewer('flags', 'list')).code, 0);
    const refused = await asViewer('flags', 'set', 'dark-mode', '--stage', 'prod', '--on');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /needs the role deployer, approver or admin; the token "watcher" has the role viewer/);
    const help = await run('flags', 'set', '--help');
    assert.match(help.stdout, /--targeting/);
  });
});
