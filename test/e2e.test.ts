import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../src/journeys/journey-events.js';
import { api, cli, copyExample, REPO, startUp, type UpProcess, viaRouter } from './helpers/sluice-process.js';

// The walk-through a new user does, against a real `sluice up` process: real child processes, router and PGlite.
describe('sluice up with the example shop, end to end', { timeout: 240_000 }, () => {
  let app: string;
  let data: string;
  let up: UpProcess;
  const run = (...args: string[]) => cli([...args, '--dir', app, '--data-dir', data], { SLUICE_URL: up.apiUrl });
  const version = async (stage: string) => {
    const r = await viaRouter(up.routerPort, `${stage}.shop.localhost`, '/healthz');
    assert.equal(r.status, 200, `${stage}: ${r.body}`);
    return JSON.parse(r.body).version as string;
  };
  const catalog = () => join(app, 'src', 'catalog.js');
  let goodCatalog: string;

  before(async () => {
    app = copyExample();
    data = join(app, '.sluice');
    goodCatalog = readFileSync(catalog(), 'utf8');
    up = await startUp(app, data);
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('scaffolds a new app with init: named after its folder, with a .gitignore, no data, token or build output, and a next command that works', async () => {
    // The example carries what must never be copied: a data directory with a token, build output, logs.
    mkdirSync(join(REPO, 'examples', 'shop', '.sluice-init-test'), { recursive: true });
    writeFileSync(join(REPO, 'examples', 'shop', '.sluice-init-test', 'admin-token'), 'slc_secret\n');
    const dir = join(app, '..', 'My Fresh_App');
    try {
      const r = await cli(['init', '--dir', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(readFileSync(join(dir, 'sluice.yaml'), 'utf8'), /^app: my-fresh-app$/m);
      assert.ok(readFileSync(join(dir, 'sluice.yaml'), 'utf8').startsWith(`# yaml-language-server: $schema=${join(REPO, 'schema', 'sluice.schema.json')}\n`));
      assert.equal(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name, 'my-fresh-app');
      assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^\.sluice\/$/m);
      for (const never of ['.sluice', '.sluice-init-test', 'dist', 'node_modules']) assert.ok(!existsSync(join(dir, never)), `${never} was copied`);
      // The next command it prints runs as printed (here with validate in place of up, which would keep running).
      const next = /next: (.*)$/m.exec(r.stdout)?.[1];
      assert.ok(next, r.stdout);
      const cmd = next.replace(/ up --dir /, ' validate --dir ').replace(/ --release \S+/, '');
      const ran = execSync(cmd, { cwd: process.cwd(), encoding: 'utf8' });
      assert.match(ran, /is valid: app my-fresh-app/);
    } finally {
      rmSync(join(REPO, 'examples', 'shop', '.sluice-init-test'), { recursive: true, force: true });
    }
    // Any file already there: refused, and nothing changes (not even the files that were missing).
    const other = join(app, '..', 'half');
    mkdirSync(join(other, 'tests'), { recursive: true });
    writeFileSync(join(other, 'tests', 'unit.js'), 'mine');
    const again = await cli(['init', '--dir', other]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already has tests\/unit\.js; nothing changed/);
    assert.deepEqual(readdirSync(other), ['tests']);
    assert.equal(readFileSync(join(other, 'tests', 'unit.js'), 'utf8'), 'mine');
  });

  it('validates the example pipeline', async () => {
    const r = await run('validate');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid: app shop, 2 commit step\(s\), stages integ → staging → prod/);
  });

  it('carries 1.0.0 through integ → staging → prod; each stage answers at its own host', async () => {
    const r = await run('release', 'create', '1.0.0', '--wait');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1\.0\.0: ✓ succeeded/);
    for (const stage of ['integ', 'staging', 'prod']) {
      assert.equal(await version(stage), '1.0.0');
      const home = await viaRouter(up.routerPort, `${stage}.shop.localhost`, '/');
      assert.match(home.body, /Release <b id="version">1\.0\.0<\/b>/);
    }
    const status = await run('status', '--json');
    const board = JSON.parse(status.stdout);
    assert.deepEqual(
      board.stages.map((s: { name: string; live: { version: string } }) => [s.name, s.live.version]),
      [
        ['integ', '1.0.0'],
        ['staging', '1.0.0'],
        ['prod', '1.0.0'],
      ],
    );
    // Every verify command ran and passed.
    const steps = board.stages.flatMap(
      (s: { latest: { steps: { name: string; status: string }[] } }) => s.latest.steps,
    );
    assert.deepEqual(
      steps.map((s: { name: string }) => s.name),
      [
        'deploy',
        'verify:integration',
        'deploy',
        'verify:integration',
        'verify:acceptance',
        'deploy',
        'verify:smoke',
        'bake-check',
      ],
    );
    assert.ok(steps.every((s: { status: string }) => s.status === 'passed'));
    // The router counted the requests above, per stage and version, for Prometheus.
    const metrics = await (await fetch(`${up.apiUrl}/metrics`)).text();
    assert.match(metrics, /sluice_router_requests_total\{stage="prod",version="1\.0\.0",class="2xx"\} [1-9]\d*/);
  });

  it('a release is idempotent for the same version and artifact', async () => {
    const r = await run('release', 'create', '1.0.0');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /= exists release 1\.0\.0/);
  });

  it('stops 2.0.0 at staging when its acceptance test fails; staging goes back to 1.0.0, prod keeps it', async () => {
    writeFileSync(
      catalog(),
      goodCatalog.replace(
        'total += p.price * qty;',
        'total += qty >= 3 ? Math.round(p.price * qty * 0.9) : p.price * qty;',
      ),
    );
    const r = await run('release', 'create', '2.0.0', '--wait');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /2\.0\.0: ✗ failed at staging: verify:acceptance failed: exit code 1/);
    assert.equal(await version('integ'), '2.0.0');
    assert.equal(await version('staging'), '1.0.0');
    assert.equal(await version('prod'), '1.0.0');

    const status = await run('status');
    assert.equal(status.code, 0);
    assert.match(status.stdout, /staging\s+1\.0\.0\s+2\.0\.0\s+↺ rolled-back/);
    assert.match(status.stdout, /FAIL cart pot:2,mug:3 totals 11400 \(got 11040\)/);

    const logs = await run('logs', '2.0.0', 'staging');
    assert.equal(logs.code, 0);
    assert.match(logs.stdout, /── verify:acceptance ──[\s\S]*FAIL cart pot:2,mug:3/);
    assert.match(logs.stdout, /── rollback ──[\s\S]*staging now routes to 1\.0\.0/);
    const one = await run('logs', '2.0.0', 'staging', 'verify:acceptance');
    assert.match(one.stdout, /FAIL cart/);
    assert.doesNotMatch(one.stdout, /── rollback/);
    const missing = await run('logs', '2.0.0', 'staging', 'verify:nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no step "verify:nope"/);
    writeFileSync(catalog(), goodCatalog);
  });

  it('rejects a malformed sluice.yaml with file:line:col and changes nothing', async () => {
    const file = join(app, 'sluice.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('    after: integ\n', '    aftr: integ\n'));
    try {
      const v = await run('validate');
      assert.equal(v.code, 1);
      const line = good.split('\n').indexOf('    after: integ') + 1;
      assert.match(
        v.stderr,
        new RegExp(
          `sluice\\.yaml:${line}:5: stages\\.staging\\.aftr: unknown key "aftr" \\(did you mean "after"\\?\\)`,
        ),
      );
      const artifactsBefore = readdirSync(join(data, 'artifacts')).length;
      const releasesBefore = (await api<unknown[]>(up.apiUrl, 'GET', '/api/v1/releases')).json.length;
      const r = await run('release', 'create', '3.0.0');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /sluice\.yaml:\d+:5: stages\.staging\.aftr: unknown key/);
      assert.equal((await api<unknown[]>(up.apiUrl, 'GET', '/api/v1/releases')).json.length, releasesBefore);
      assert.equal(readdirSync(join(data, 'artifacts')).length, artifactsBefore);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('answers 401 to mutating calls without a valid token, and serves reads without one', async () => {
    for (const [path, body] of [
      ['/api/v1/releases', { version: '9.9.9' }],
      ['/api/v1/releases/1.0.0/approve', {}],
      ['/api/v1/stages/prod/rollback', {}],
      ['/api/v1/tokens', { name: 'x' }],
    ] as const) {
      const none = await api<{ code: string }>(up.apiUrl, 'POST', path, body);
      assert.equal(none.status, 401, path);
      assert.equal(none.json.code, 'UNAUTHORIZED');
      const bad = await api<{ code: string }>(up.apiUrl, 'POST', path, body, 'slc_not-a-token');
      assert.equal(bad.status, 401, path);
    }
    assert.equal((await api(up.apiUrl, 'GET', '/api/v1/status')).status, 200);
    assert.equal((await api<unknown[]>(up.apiUrl, 'GET', '/api/v1/releases')).json.length, 2);
    const doc = await api<{ openapi: string; paths: Record<string, unknown> }>(up.apiUrl, 'GET', '/api/openapi.json');
    assert.equal(doc.json.openapi, '3.1.0');
    assert.ok(doc.json.paths['/api/v1/releases/{version}/approve']);
    // A token made with the CLI works.
    const t = await run('token', 'create', 'ci-bot', '--role', 'deployer');
    assert.equal(t.code, 0, t.stderr);
    const made = t.stdout.split('\n')[0]!.trim();
    const ok = await api(up.apiUrl, 'POST', '/api/v1/releases', { version: 'bad version!' }, made);
    assert.equal(ok.status, 400, 'authenticated, then rejected for the body');
  });

  it('switches a stage to a new release with no failed request, and streams events', async () => {
    const events = await fetch(`${up.apiUrl}/api/v1/events?after=0`);
    const reader = events.body!.getReader();
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    const seen = new Map<string, number>();
    const failures: string[] = [];
    const hammer = async (stage: string) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        try {
          const r = await viaRouter(up.routerPort, `${stage}.shop.localhost`, '/healthz', agent);
          if (r.status !== 200) failures.push(`${stage} ${r.status} ${r.body}`);
          else {
            const v = `${stage}@${JSON.parse(r.body).version}`;
            seen.set(v, (seen.get(v) ?? 0) + 1);
          }
        } catch (e) {
          failures.push(`${stage} ${(e as Error).message}`);
        }
      }
    };
    const loads = [hammer('staging'), hammer('staging'), hammer('prod'), hammer('prod')];
    const releasing = run('release', 'create', '3.0.0', '--wait');
    // Follow prod's logs from before it starts until its last step ends; the command ends by itself.
    while ((await api(up.apiUrl, 'GET', '/api/v1/releases/3.0.0')).status !== 200)
      await new Promise((res) => setTimeout(res, 50));
    const following = run('logs', '3.0.0', 'prod', '--follow');
    const r = await releasing;
    stop = true;
    await Promise.all(loads);
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(
      followed.stdout,
      /── deploy ──[\s\S]*prod now routes to 3\.0\.0[\s\S]*── verify:smoke ──[\s\S]*ok {3}home page shows the release version[\s\S]*── bake-check ──/,
    );
    agent.destroy();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(failures, []);
    assert.ok((seen.get('staging@1.0.0') ?? 0) > 0 && (seen.get('staging@3.0.0') ?? 0) > 0, JSON.stringify([...seen]));
    assert.ok((seen.get('prod@1.0.0') ?? 0) > 0 && (seen.get('prod@3.0.0') ?? 0) > 0, JSON.stringify([...seen]));

    // The journey has an id of its own; its release's version is data.
    const journeyId = (await api<{ release: { journeyId: string } }>(up.apiUrl, 'GET', '/api/v1/releases/3.0.0')).json.release.journeyId;
    assert.match(journeyId, /^j-[0-9a-z]+$/);
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes(`"journeyId":"${journeyId}"`) || !text.includes('event: step.finished')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    await reader.cancel();
    assert.match(text, /id: 1\nevent: journey\.created\ndata: \{/);
    const created = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as StoredEvent).find((e) => e.journeyId === journeyId);
    assert.ok(created?.type === 'journey.created' && created.release.version === '3.0.0', `${journeyId}: ${JSON.stringify(created)?.slice(0, 300)}; ${text.length} chars`);
  });

  it('rolls prod back by hand to the release it ran before', async () => {
    const r = await run('rollback', 'prod', '--reason', 'checkout latency');
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 200 && (await version('prod')) !== '1.0.0'; i++)
      await new Promise((res) => setTimeout(res, 100));
    assert.equal(await version('prod'), '1.0.0');
    const again = await run('rollback', 'prod');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already rolled back to 1\.0\.0/);
  });

  it('waits for a delivery lead: reject rolls the stage back, approve lets the release through', async () => {
    const file = join(app, 'sluice.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('    bake: 3s\n', '    bake: 1s\n    approval: true\n'));
    try {
      const waitFor = async (version: string, status: string) => {
        for (let i = 0; i < 300; i++) {
          const j = await api<{ journey: { stageDetails: { name: string; status: string }[] } }>(
            up.apiUrl,
            'GET',
            `/api/v1/releases/${version}`,
          );
          if (j.json.journey.stageDetails.find((x) => x.name === 'prod')?.status === status) return;
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.fail(`${version} never reached ${status} at prod`);
      };
      writeFileSync(catalog(), `${goodCatalog}\n// 4.0.0\n`);
      assert.equal((await run('release', 'create', '4.0.0')).code, 0);
      await waitFor('4.0.0', 'awaiting-approval');
      assert.equal(await version('prod'), '4.0.0');
      const status = await run('status');
      assert.match(status.stdout, /⏸ approval: sluice approve 4\.0\.0/);
      const noComment = await run('reject', '4.0.0');
      assert.equal(noComment.code, 2);
      const rejected = await run('reject', '4.0.0', 'prod', '--comment', 'banner copy is wrong');
      assert.equal(rejected.code, 0, rejected.stderr);
      await waitFor('4.0.0', 'rolled-back');
      assert.equal(await version('prod'), '1.0.0');
      // The same release runs again only when someone asks; then it waits for approval again.
      const retried = await run('retry', '4.0.0');
      assert.equal(retried.code, 0, retried.stderr);
      await waitFor('4.0.0', 'awaiting-approval');
      assert.equal(await version('prod'), '4.0.0');
      assert.equal((await run('reject', '4.0.0', 'prod', '--comment', 'still wrong')).code, 0);
      await waitFor('4.0.0', 'rolled-back');

      writeFileSync(catalog(), `${goodCatalog}\n// 4.0.1\n`);
      assert.equal((await run('release', 'create', '4.0.1')).code, 0);
      await waitFor('4.0.1', 'awaiting-approval');
      const early = await run('approve', '4.0.1', 'staging');
      assert.equal(early.code, 1);
      assert.match(early.stderr, /the stage is passed, not awaiting-approval/);
      const approved = await run('approve', '4.0.1', '--comment', 'ship it');
      assert.equal(approved.code, 0, approved.stderr);
      await waitFor('4.0.1', 'passed');
      assert.equal(await version('prod'), '4.0.1');
    } finally {
      writeFileSync(file, good);
      writeFileSync(catalog(), goodCatalog);
    }
  });

  it('keeps serving after a restart, adopting the instances', async () => {
    await up.stop();
    up = await startUp(app, data);
    assert.equal(await version('prod'), '4.0.1');
    assert.equal(await version('staging'), '4.0.1');
    const status = JSON.parse((await run('status', '--json')).stdout);
    assert.equal(status.journeys.length, 5);
  });
  it('a release that fails its commit checks never reaches a stage, and status shows why', async () => {
    writeFileSync(catalog(), goodCatalog.replace('price: 1200', 'price: 1300'));
    try {
      const r = await run('release', 'create', '5.0.0', '--wait');
      assert.equal(r.code, 1);
      assert.match(r.stdout, /5\.0\.0: ✗ failed at commit: commit step "unit" failed: exit code 1/);
      const status = await run('status');
      assert.match(status.stdout, /5\.0\.0\s+✗ failed[\s\S]*│ .*2 mugs must total 2400/);
      assert.equal(await version('integ'), '4.0.1');
    } finally {
      writeFileSync(catalog(), goodCatalog);
    }
  });
});
