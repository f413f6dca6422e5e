import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, cli, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// What a new user hits on the CLI, against a real `sluice up`.
describe('the CLI, as a new user meets it', { timeout: 240_000 }, () => {
  let app: string;
  let up: UpProcess;
  // No --url and no SLUICE_URL: the CLI finds the running `sluice up` from the data directory.
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  before(async () => {
    app = copyExample();
    const yaml = readFileSync(join(app, 'sluice.yaml'), 'utf8').replace('    bake: 3s\n', '    bake: 1s\n    approval: true\n');
    writeFileSync(join(app, 'sluice.yaml'), yaml);
    up = await startUp(app, join(app, '.sluice'));
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('finds the running sluice up from the data directory, with no --url', async () => {
    const r = await run('status', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).app, 'shop');
  });

  it('refuses an unknown option with a "did you mean", and extra arguments, with exit code 2', async () => {
    const typo = await run('status', '--jsn');
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /sluice status takes no option --jsn \(did you mean --json\?\)/);
    const extra = await run('rollback', 'prod', 'staging');
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /takes at most 1 argument\(s\); unexpected: staging/);
    const cmd = await run('relase', 'list');
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command "relase" \(did you mean "release"\?\)/);
    const few = await run('logs', '1.0.0');
    assert.equal(few.code, 2, 'too few arguments');
    assert.match(few.stderr, /sluice logs needs <stage>/);
    const sub = await run('release', 'creat', '1.0.0');
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /"release" needs one of: create, list, show \(not "creat"; did you mean "create"\?\)/);
    // --help and `help <command>` show a command's usage, whatever arguments are missing.
    for (const args of [['release', 'create', '--help'], ['help', 'logs'], ['logs', '--help']]) {
      const h = await run(...args);
      assert.equal(h.code, 0, `${args.join(' ')}: ${h.stderr}`);
      assert.match(h.stdout, /^sluice (release create|logs) </);
      assert.match(h.stdout, /Options\n/);
    }
    assert.match((await run('version')).stdout, /^\d+\.\d+\.\d+/);
  });

  it('says in one line that the data directory is in use, or the router port', async () => {
    const twice = await cli(['up', '--dir', app, '--port', '0', '--router-port', '0']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /^sluice: another Sluice \(pid \d+\) is using .*\.sluice; stop it or pass another --data-dir\n$/);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const other = join(app, '..', 'other-router');
    mkdirSync(other);
    writeFileSync(join(other, 'sluice.yaml'), readFileSync(join(app, 'sluice.yaml')));
    try {
      const r = await cli(['up', '--dir', other, '--port', '0', '--router-port', String(port)]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `sluice: the router port ${port} on 127.0.0.1 is in use (another sluice up, with another data directory?); pass --router-port to use another`);
    } finally {
      taken.close();
      await cli(['down', '--dir', other]);
    }
  });

  it('a call that needs a token, with none to be found, says where a token comes from', async () => {
    const elsewhere = join(app, '..', 'no-data');
    mkdirSync(elsewhere);
    const r = await cli(['release', 'create', '9.9.9', '--dir', elsewhere, '--url', up.apiUrl]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs an Authorization: Bearer <token> header \(no token was found: pass --token, set SLUICE_TOKEN, or run from the app whose data directory holds admin-token/);
  });

  it('validate warns when the artifact output takes in the data directory', async () => {
    const file = join(app, '..', 'dot.yaml');
    writeFileSync(file, readFileSync(join(app, 'sluice.yaml'), 'utf8').replace('  output: dist', '  output: .'));
    const r = await cli(['validate', '--dir', app, '--file', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /artifact\.output \. contains the data directory .*\.sluice; it is left out of artifacts/);
    assert.doesNotMatch((await run('validate')).stderr, /contains the data directory/);
  });

  it('says in one line that the API port is taken, and starts nothing', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const other = join(app, '..', 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'sluice.yaml'), readFileSync(join(app, 'sluice.yaml')));
    try {
      const r = await cli(['up', '--dir', other, '--port', String(port), '--router-port', '0']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `sluice: the API port ${port} on 127.0.0.1 is in use (another sluice up?); pass --port to use another`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      taken.close();
    }
  });

  it('registers --artifact from where the user is, relative or absolute; a missing one is a 4xx naming it', async () => {
    const built = join(app, '..', 'prebuilt');
    mkdirSync(built);
    writeFileSync(join(built, 'server.js'), readFileSync(join(app, 'src', 'server.js')));
    const rel = relative(process.cwd(), built);
    const a = await run('release', 'create', '0.9.0', '--artifact', rel, '--json');
    assert.equal(a.code, 0, a.stderr);
    const b = await run('release', 'create', '0.9.1', '--artifact', built, '--json');
    assert.equal(b.code, 0, b.stderr);
    assert.equal(JSON.parse(a.stdout).release.digest, JSON.parse(b.stdout).release.digest, 'the same folder, relative or absolute');
    const missing = await run('release', 'create', '0.9.2', '--artifact', 'no/such/dir');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`artifact ${join(process.cwd(), 'no/such/dir').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
    // Over the API, without the operator key the CLI on this machine sends, an absolute path is refused before it is looked at.
    const viaApi = await api<{ code: string }>(up.apiUrl, 'POST', '/api/v1/releases', { version: '0.9.3', artifact: '/no/such/thing' }, readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim());
    assert.equal(viaApi.status, 400);
    assert.equal(viaApi.json.code, 'BAD_REQUEST');
    // Those two journeys run their checks against a bare artifact: let them end before the next test.
    for (const v of ['0.9.0', '0.9.1']) await journeyEnd(up.apiUrl, v, 120_000);
  });

  it('release create --wait returns with the command to run when the journey waits for a person (exit 5)', async () => {
    const r = await run('release', 'create', '1.0.0', '--wait');
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout, /1\.0\.0: .*awaiting-approval at prod; to go on: sluice approve 1\.0\.0 prod/);
    assert.equal((await run('approve', '1.0.0', 'prod')).code, 0);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0'), 'succeeded');
  });

  it('logs: every step the board shows, a verify step by its short name, --json, and a stage that never ran', async () => {
    const short = await run('logs', '1.0.0', 'staging', 'acceptance');
    assert.equal(short.code, 0, short.stderr);
    assert.match(short.stdout, /^\$ node tests\/acceptance\.js/);
    assert.match(short.stdout, /ok {3}cart pot:2,mug:3 totals 11400/);
    const json = JSON.parse((await run('logs', '1.0.0', 'prod', '--json')).stdout) as { status: string; steps: { name: string; status: string; log: string }[] };
    assert.equal(json.status, 'passed');
    assert.deepEqual(json.steps.map((s) => s.name), ['deploy', 'verify:smoke', 'bake-check']);
    assert.match(json.steps[0]!.log, /prod now routes to 1\.0\.0/);
    const unknown = await run('logs', '1.0.0', 'prod', 'smok');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /has no step "smok" \(did you mean "smoke"\?\); its steps: deploy, verify:smoke, bake-check, rollback/);
    // 0.9.x failed their commit checks (a bare artifact has no tests): their stages never ran.
    for (const follow of [[], ['--follow']]) {
      const never = await run('logs', '0.9.0', 'prod', ...follow);
      assert.equal(never.code, 0, never.stderr);
      assert.match(never.stdout, /prod has not run for 0\.9\.0: it is (skipped|waiting)/, follow.join(''));
    }
  });

  it('an adopted step\'s log marks the adoption instead of repeating its command as if it ran twice', async () => {
    const yaml = readFileSync(join(app, 'sluice.yaml'), 'utf8');
    writeFileSync(join(app, 'sluice.yaml'), yaml.replace('      integration: node tests/integration.js\n  staging:', '      integration: sleep 3 && node tests/integration.js\n  staging:'));
    writeFileSync(join(app, 'src', 'catalog.js'), `${readFileSync(join(app, 'src', 'catalog.js'), 'utf8')}\n// 1.1.0\n`);
    try {
      assert.equal((await run('release', 'create', '1.1.0')).code, 0);
      for (let i = 0; i < 200; i++) {
        const j = await api<{ journey: { stageDetails: { name: string; steps: { name: string; status: string }[] }[] } }>(up.apiUrl, 'GET', '/api/v1/releases/1.1.0');
        if (j.json.journey.stageDetails.find((s) => s.name === 'integ')?.steps.some((s) => s.name === 'verify:integration')) break;
        await sleep(100);
      }
      await up.kill();
      up = await startUp(app, join(app, '.sluice'));
      for (let i = 0; i < 300; i++) {
        const j = await api<{ journey: { stages: Record<string, string> } }>(up.apiUrl, 'GET', '/api/v1/releases/1.1.0');
        if (j.json.journey.stages.integ === 'passed') break;
        await sleep(100);
      }
      const log = (await run('logs', '1.1.0', 'integ', 'integration')).stdout;
      assert.equal((log.match(/^\$ sleep 3 && node tests\/integration\.js/gm) ?? []).length, 1, log);
      assert.equal((log.match(/^--- sluice: adopting "sleep 3 && node tests\/integration\.js", started before Sluice restarted$/gm) ?? []).length, 1, log);
      assert.match(log, /ok {3}GET \/healthz answers 200/);
    } finally {
      writeFileSync(join(app, 'sluice.yaml'), yaml);
    }
  });
});
