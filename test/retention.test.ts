import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../src/adapters/artifacts-fs/artifact-store.js';
import { InProcessRouter } from '../src/adapters/proxy-http1/in-process-router.js';
import { CommandTarget } from '../src/adapters/target-command/command-target.js';
import { LocalTarget, stopLocalInstances } from '../src/adapters/target-local/local-target.js';
import type { ReleaseRef, StepIO } from '../src/journeys/ports/target.js';
import { isSluiceError } from '../src/kernel/errors.js';
import { parsePipeline } from '../src/pipeline/pipeline.js';
import { api, cli, startUp, type UpProcess, viaRouter } from './helpers/sluice-process.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-retention-'));
after(() => rmSync(root, { recursive: true, force: true }));

// Serves its version; a release differs from the next in content, so each has an artifact of its own.
const APP = `import { createServer } from 'node:http';
const v = process.env.SLUICE_RELEASE_VERSION;
const s = createServer((q, r) => r.end(JSON.stringify({ version: v })));
s.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => { s.close(() => process.exit(0)); s.closeIdleConnections(); });
`;

function appDir(version: string): string {
  const dir = join(root, 'builds', version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.mjs'), APP);
  writeFileSync(join(dir, 'VERSION'), version);
  return dir;
}

/** The digests unpacked under a folder of release folders, sorted. */
const unpackedIn = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((n) => /^sha256-[0-9a-f]{64}$/.test(n)).map((n) => n.replace('-', ':')).sort() : [];
/** The digests of the artifacts stored in a folder, sorted. */
const storedIn = (dir: string) =>
  readdirSync(dir).flatMap((n) => /^sha256-([0-9a-f]{64})\.(tar|tgz)$/.exec(n)?.[1] ?? []).map((h) => `sha256:${h}`).sort();

let steps = 0;
const io = (): StepIO => {
  const dir = join(root, 'steps', String(steps++));
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, 'log');
  return { runDir: dir, logPath, log: (l) => writeFileSync(logPath, `${l}\n`, { flag: 'a' }) };
};

const plan = parsePipeline(`app: t
artifact: { output: d }
stages:
  web:
    local: { start: node server.mjs, health: { path: /, timeout: 5s }, stopTimeout: 1s }
    strategy: { canary: { steps: [ { setWeight: 50 } ] } }
  ops:
    target: command
    command:
      deploy: while [ ! -e "$GO_FILE" ]; do sleep 0.05; done; test -f "$SLUICE_ARTIFACT_DIR/VERSION"
      timeout: 20s
`);
const web = plan.stages.find((s) => s.name === 'web')!;
const ops = plan.stages.find((s) => s.name === 'ops')!;
const everything = Date.now() + 3_600_000;

describe('retention in the targets, with real files and processes', { timeout: 60_000 }, () => {
  let router: InProcessRouter;
  let port: number;
  let artifacts: ArtifactStore;
  let local: LocalTarget;
  const release = async (v: string): Promise<ReleaseRef> => ({ version: v, digest: await artifacts.add(appDir(v)) });
  const served = async (host: string) => {
    const r = await viaRouter(port, host, '/');
    return r.status === 200 ? (JSON.parse(r.body) as { version: string }).version : null;
  };
  before(async () => {
    router = new InProcessRouter();
    port = await router.listen(0);
    artifacts = new ArtifactStore(join(root, 'artifacts'));
    local = new LocalTarget({ root: join(root, 'local'), app: 't', artifacts, router, routerPort: port, baseEnv: { PATH: process.env.PATH ?? '' } });
  });
  after(async () => {
    await local.close();
    // Closing a target leaves its instances serving, as a control plane that stops does; a test stops them itself.
    await stopLocalInstances(join(root, 'local'));
    await router.close();
  });

  it('never removes what a stage runs or rolls out as a canary, even told to keep nothing', async () => {
    const [a, b, c] = [await release('a'), await release('b'), await release('c')];
    await local.deploy({ stage: web, key: 'd-a', io: io(), release: a });
    await local.deploy({ stage: web, key: 'd-b', io: io(), release: b });
    await local.canary.deployCanary({ stage: web, key: 'd-c', io: io(), release: c });
    assert.deepEqual(unpackedIn(join(root, 'local', 'web', 'releases')), [a.digest, b.digest, c.digest].sort());
    const r = await local.pruneReleases(new Map(), everything);
    assert.deepEqual(r.removed, [{ stage: 'web', digest: a.digest }]);
    assert.deepEqual(unpackedIn(join(root, 'local', 'web', 'releases')), [b.digest, c.digest].sort());
    assert.equal(await served('web.t.localhost'), 'b');
    assert.equal(await served('web-preview.t.localhost'), 'c');
    // The canary goes on from where it is: promoted, its instances keep running from the folder that stayed.
    await local.canary.promoteCanary({ stage: web, key: 'p-c', io: io(), release: c });
    assert.equal(await served('web.t.localhost'), 'c');
  });

  it('a release whose artifact was removed fails to deploy with an error naming its digest, and the stage keeps serving', async () => {
    const gone = await release('gone');
    assert.equal(artifacts.remove(gone.digest, everything, 'retention: a test removed it'), true);
    await assert.rejects(
      local.deploy({ stage: web, key: 'd-gone', io: io(), release: gone }),
      (e: unknown) => isSluiceError(e) && e.code === 'ARTIFACT_REMOVED' && e.message.includes(gone.digest) && e.message.includes('a test removed it'),
    );
    assert.equal(await served('web.t.localhost'), 'c');
  });

  it('the command target never removes the folder a command still runs from', async () => {
    const goFile = join(root, 'go');
    const command = new CommandTarget({ root: join(root, 'command'), artifacts, baseEnv: { PATH: process.env.PATH ?? '' }, appDir: root });
    const opsGo = { ...ops, env: { ...ops.env, GO_FILE: goFile } };
    const x = await release('x');
    const deploying = command.deploy({ stage: opsGo, key: 'd-x', io: io(), release: x });
    const folders = join(root, 'command', 'ops', 'releases');
    for (const until = Date.now() + 10_000; unpackedIn(folders).length === 0 && Date.now() < until; ) await sleep(20);
    const during = await command.pruneReleases(new Map(), everything);
    assert.deepEqual(during, { removed: [], deferred: 0 });
    assert.deepEqual(unpackedIn(folders), [x.digest]);
    writeFileSync(goFile, '');
    await deploying;
    const afterwards = await command.pruneReleases(new Map(), everything);
    assert.deepEqual(afterwards.removed, [{ stage: 'ops', digest: x.digest }]);
    assert.deepEqual(unpackedIn(folders), []);
  });
});

describe('retention with a real sluice up', { timeout: 240_000 }, () => {
  const app = join(root, 'app');
  const data = join(app, '.sluice');
  let up: UpProcess;
  const run = (...args: string[]) => cli([...args, '--dir', app, '--data-dir', data], { SLUICE_URL: up.apiUrl });
  const digestOf = async (v: string) => (await api<{ release: { digest: string } }>(up.apiUrl, 'GET', `/api/v1/releases/${v}`)).json.release.digest;
  const ship = async (v: string) => run('release', 'create', v, '--artifact', appDir(v), '--wait');
  const servedAt = async (stage: string) => JSON.parse((await viaRouter(up.routerPort, `${stage}.keep.localhost`, '/')).body).version as string;
  const folders = (stage: string) => unpackedIn(join(data, 'local', stage, 'releases'));
  const stored = () => storedIn(join(data, 'artifacts'));
  /** Waits until the disk looks as expected, which passes reach by themselves after deploys. */
  async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 30_000) {
    for (const until = Date.now() + ms; !(await check()); ) {
      if (Date.now() > until) assert.fail(`${what}: not reached in ${ms}ms; sluice up said:\n${up.output().slice(-3000)}`);
      await sleep(100);
    }
  }

  before(async () => {
    mkdirSync(app, { recursive: true });
    writeFileSync(
      join(app, 'sluice.yaml'),
      `app: keep
artifact: { output: out }
defaults:
  local: { start: node server.mjs, health: { path: /, timeout: 10s }, stopTimeout: 1s }
stages:
  staging:
    verify: { check: 'test "$SLUICE_RELEASE_VERSION" != bad' }
  prod:
    after: staging
`,
    );
    up = await startUp(app, data, { SLUICE_KEEP_RELEASES: '2' });
  });
  after(async () => {
    await up?.stop();
    await cli(['down', '--dir', app, '--data-dir', data]);
  });

  it('refuses a setting below 1, saying what it means', async () => {
    const r = await cli(['up', '--dir', app, '--data-dir', join(root, 'unused'), '--keep-releases', '0']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /--keep-releases must be a whole number from 1 to 10000: how many of its newest releases each stage keeps on disk.*; got "0"/);
  });

  it('keeps the newest 2 releases per stage on disk and removes the rest, with their artifacts', async () => {
    for (const v of ['1', '2', '3']) assert.equal((await ship(v)).code, 0, v);
    assert.equal((await ship('bad')).code, 1, 'bad fails its check at staging and is rolled back');
    for (const v of ['4', '5']) assert.equal((await ship(v)).code, 0, v);
    const [d4, d5] = [await digestOf('4'), await digestOf('5')];
    const kept = [d4, d5].sort();
    await eventually('each stage keeps 4 and 5', () => JSON.stringify(folders('staging')) === JSON.stringify(kept) && JSON.stringify(folders('prod')) === JSON.stringify(kept));
    await eventually('only the artifacts of 4 and 5 stay', () => JSON.stringify(stored()) === JSON.stringify(kept));
    // The pass reports once its removals are done, a moment after the files are gone.
    await eventually('the removal is reported', () => /retention: removed .*artifact\(s\)/.test(up.output()));
    assert.equal(await servedAt('prod'), '5');
  });

  it('refuses to retry a release whose artifact was removed, naming its digest', async () => {
    const bad = await digestOf('bad');
    const r = await run('retry', 'bad');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`release bad cannot be deployed again: artifact ${bad} was removed .* \\(retention: not among the newest 2`));
  });

  it('rolls prod back to the release it kept for that', async () => {
    const r = await run('rollback', 'prod', '--reason', 'test');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await eventually('prod serves 4 again', async () => (await servedAt('prod')) === '4');
  });

  it('at start-up, a smaller setting takes effect without a deploy; a rollback target stays even with 1', async () => {
    await up.stop();
    up = await startUp(app, data, { SLUICE_KEEP_RELEASES: '1' });
    const [d4, d5] = [await digestOf('4'), await digestOf('5')];
    // prod went back to 4 by a rollback, so nothing further back is offered there; staging serves 5 and may go back to 4.
    await eventually('prod keeps only 4', () => JSON.stringify(folders('prod')) === JSON.stringify([d4]));
    assert.deepEqual(folders('staging'), [d4, d5].sort());
    assert.deepEqual(stored(), [d4, d5].sort());
    assert.equal(await servedAt('prod'), '4');
    assert.equal(await servedAt('staging'), '5');
  });

  it('storing the same build again, as the error says, lets the release be retried', async () => {
    const bad = await digestOf('bad');
    const again = await run('release', 'create', 'bad', '--artifact', appDir('bad'));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.ok(stored().includes(bad), 'the artifact is back');
    const r = await run('retry', 'bad');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await eventually('the retried journey ends', async () => (await api<{ journey: { status: string } }>(up.apiUrl, 'GET', '/api/v1/releases/bad')).json.journey.status !== 'running');
    const j = (await api<{ journey: { status: string; failure?: unknown } }>(up.apiUrl, 'GET', '/api/v1/releases/bad')).json.journey;
    // Newer releases have passed staging since, so the engine's own rule supersedes the retried journey at once;
    // what matters here is that it was let run, and that nothing failed for want of its artifact.
    assert.equal(j.status, 'superseded', JSON.stringify(j));
    assert.equal(j.failure, undefined);
    assert.equal(await servedAt('staging'), '5');
  });
});
