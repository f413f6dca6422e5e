import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../src/adapters/artifacts-fs/artifact-store.js';
import { InProcessRouter } from '../src/adapters/proxy-http1/in-process-router.js';
import { CommandTarget } from '../src/adapters/target-command/command-target.js';
import { LocalTarget, stopLocalInstances } from '../src/adapters/target-local/local-target.js';
import { targetContract } from '../src/journeys/ports/target.contract.js';
import type { DesiredStage, ReleaseRef, StepIO } from '../src/journeys/ports/target.js';
import { parsePipeline } from '../src/pipeline/pipeline.js';
import { isAlive, readPid } from '../src/platform/durable-run.js';
import { viaRouter } from './helpers/sluice-process.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-targets-'));
after(() => rmSync(root, { recursive: true, force: true }));

// A tiny app: serves its version; `BREAK=1` in its files makes it exit at start; `STUBBORN=1` ignores SIGTERM.
const APP = `import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
if (existsSync('./BREAK')) { console.error('refusing to start'); process.exit(3); }
const v = process.env.SLUICE_RELEASE_VERSION;
const s = createServer((q, r) => r.end(JSON.stringify({ version: v, pid: process.pid })));
s.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('up', v));
process.on('SIGTERM', () => { if (existsSync('./STUBBORN')) return; s.close(() => process.exit(0)); s.closeIdleConnections(); });
`;

async function makeRelease(
  artifacts: ArtifactStore,
  version: string,
  extra: Record<string, string> = {},
): Promise<ReleaseRef> {
  const dir = join(root, 'src', version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.mjs'), APP);
  // Releases differ in content, as real ones do, so that each has an artifact of its own.
  writeFileSync(join(dir, 'VERSION'), version);
  for (const [k, v] of Object.entries(extra)) writeFileSync(join(dir, k), v);
  return { version, digest: await artifacts.add(dir) };
}

let n = 0;
const io = (): StepIO => {
  const dir = join(root, 'steps', String(n++));
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, 'log');
  return { runDir: dir, logPath, log: (l) => writeFileSync(logPath, `${l}\n`, { flag: 'a' }) };
};

const STAGE_YAML = `app: t
artifact: { output: d }
stages:
  web:
    local: { start: node server.mjs, instances: 2, health: { path: /, timeout: 5s }, stopTimeout: 1s }
  ops:
    target: command
    command:
      deploy: test ! -e "$SLUICE_ARTIFACT_DIR/BREAK" || { echo "refusing to start"; exit 3; }; echo "$SLUICE_RELEASE_VERSION" >> "$RUNS_FILE"; echo "$SLUICE_RELEASE_VERSION" > "$STATE_FILE"
      rollback: if [ -n "$SLUICE_RELEASE_VERSION" ]; then echo "$SLUICE_RELEASE_VERSION" > "$STATE_FILE"; else rm -f "$STATE_FILE"; fi
      health: test -s "$STATE_FILE"
      timeout: 10s
`;
const plan = parsePipeline(STAGE_YAML);

/** The digests unpacked under a stage's releases folder, sorted. */
const unpackedIn = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((n) => /^sha256-[0-9a-f]{64}$/.test(n)).map((n) => n.replace('-', ':')).sort() : [];

/** Lines of a file that match, 0 when it does not exist. */
const countIn = (path: string, re: RegExp) => (existsSync(path) ? (readFileSync(path, 'utf8').match(re) ?? []).length : 0);

targetContract('local', async () => {
  const router = new InProcessRouter();
  const port = await router.listen(0);
  const artifacts = new ArtifactStore(join(root, 'artifacts'));
  const target = new LocalTarget({
    root: join(root, 'local'),
    app: 't',
    artifacts,
    router,
    routerPort: port,
    baseEnv: { PATH: process.env.PATH ?? '' },
  });
  return {
    target,
    stage: plan.stages.find((s) => s.name === 'web')!,
    release: (version, broken) => makeRelease(artifacts, version, broken ? { BREAK: '1' } : {}),
    async served() {
      const r = await viaRouter(port, 'web.t.localhost', '/');
      return r.status === 200 ? (JSON.parse(r.body).version as string) : null;
    },
    async starts(version) {
      return [0, 1].reduce((n, slot) => n + countIn(join(root, 'local', 'web', 'logs', `${version}-${slot}.log`), /^--- sluice: starting /gm), 0);
    },
    unpacked: async () => unpackedIn(join(root, 'local', 'web', 'releases')),
    io,
    async close() {
      await target.close();
      await stopLocalInstances(join(root, 'local'));
      await router.close();
    },
  };
});

targetContract('command', async () => {
  const stateFile = join(root, 'ops-state');
  const runs = join(root, 'ops-runs');
  const artifacts = new ArtifactStore(join(root, 'artifacts'));
  const target = new CommandTarget({
    root: join(root, 'command'),
    artifacts,
    baseEnv: { PATH: process.env.PATH ?? '' },
    appDir: root,
  });
  const ops = plan.stages.find((s) => s.name === 'ops')!;
  return {
    target,
    // Workloads see only the stage's env of the test's variables, never Sluice's own environment.
    stage: { ...ops, env: { ...ops.env, STATE_FILE: stateFile, RUNS_FILE: runs } },
    release: (version, broken) => makeRelease(artifacts, version, broken ? { BREAK: '1' } : {}),
    async served() {
      return existsSync(stateFile) ? readFileSync(stateFile, 'utf8').trim() : null;
    },
    async starts(version) {
      return countIn(runs, new RegExp(`^${version}$`, 'gm'));
    },
    unpacked: async () => unpackedIn(join(root, 'command', 'ops', 'releases')),
    io,
    close: () => target.close(),
  };
});

describe('local target supervision', { timeout: 60_000 }, () => {
  let router: InProcessRouter;
  let port: number;
  let target: LocalTarget;
  let artifacts: ArtifactStore;
  const stage = plan.stages.find((s) => s.name === 'web')!;
  const notices: string[] = [];
  before(async () => {
    router = new InProcessRouter();
    port = await router.listen(0);
    artifacts = new ArtifactStore(join(root, 'artifacts'));
    target = new LocalTarget({
      notice: (line) => notices.push(line),
      root: join(root, 'local2'),
      app: 't',
      artifacts,
      router,
      routerPort: port,
      baseEnv: { PATH: process.env.PATH ?? '' },
    });
  });
  after(async () => {
    await target.close();
    await stopLocalInstances(join(root, 'local2'));
    await router.close();
  });

  it('restarts a crashed instance, keeps a log per instance, and SIGKILLs one that ignores SIGTERM', async () => {
    const rel = await makeRelease(artifacts, 'sup-a', { STUBBORN: '1' });
    await target.deploy({ stage, key: 's1', io: io(), release: rel });
    const pidOf = async () => JSON.parse((await viaRouter(port, 'web.t.localhost', '/')).body).pid as number;
    const first = await pidOf();
    process.kill(first, 'SIGKILL');
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      await sleep(100);
      const pids = new Set<number>();
      for (let k = 0; k < 4; k++) pids.add(await pidOf().catch(() => -1));
      back = !pids.has(first) && !pids.has(-1) && pids.size === 2;
    }
    assert.ok(back, 'the crashed instance was restarted and serves again');
    const logs =
      readFileSync(join(root, 'local2', 'web', 'logs', 'sup-a-0.log'), 'utf8') +
      readFileSync(join(root, 'local2', 'web', 'logs', 'sup-a-1.log'), 'utf8');
    assert.match(logs, /exited; restarting in 500ms/);
    assert.equal((logs.match(/^up sup-a$/gm) ?? []).length, 3);

    // The stubborn release ignores SIGTERM: replacing it must still end its processes, after stopTimeout.
    const pids = [await pidOf(), await pidOf()];
    const t0 = Date.now();
    await target.deploy({ stage, key: 's2', io: io(), release: await makeRelease(artifacts, 'sup-b') });
    assert.ok(Date.now() - t0 >= 900, 'waited for the stop timeout');
    for (const p of pids) assert.equal(isAlive(p), false, `pid ${p} still alive`);
    assert.equal(readPid(join(root, 'nope')), undefined);
  });

  const desiredOf = (release: ReleaseRef): DesiredStage => ({ stage: 'web', stable: { release, journeyId: 'j' }, canary: null, plan: stage });
  const reopen = () =>
    new LocalTarget({ notice: (line) => notices.push(line), root: join(root, 'local2'), app: 't', artifacts, router, routerPort: port, baseEnv: { PATH: process.env.PATH ?? '' } });
  const pids = async () => {
    const seen = new Set<number>();
    for (let k = 0; k < 6; k++) seen.add(JSON.parse((await viaRouter(port, 'web.t.localhost', '/')).body).pid as number);
    return [...seen].sort();
  };
  /** Requests the stage while `during` runs; resolves with the answers that were not 200. */
  const keepAsking = async (during: Promise<unknown>) => {
    const bad: string[] = [];
    let done = false;
    void during.finally(() => (done = true));
    while (!done) {
      const r = await viaRouter(port, 'web.t.localhost', '/').catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status !== 200) bad.push(`${r.status} ${r.body}`);
    }
    await during;
    return bad;
  };

  it('stopping the control plane leaves the instances serving, and the next start adopts them', async () => {
    const release = await makeRelease(artifacts, 'keep-a');
    await target.deploy({ stage, key: 'c1', io: io(), release });
    const before = await pids();
    await target.close();
    await sleep(600);
    assert.deepEqual(await pids(), before, 'the same instances still answer');
    target = reopen();
    await target.restore([desiredOf(release)], new Set());
    assert.deepEqual(await pids(), before, 'adopted, not started again');
  });

  it('a corrupt state file is named in one line, and the stage is rebuilt from the desired state with no failed request', async () => {
    const release = await makeRelease(artifacts, 'keep-a');
    const before = await pids();
    const file = join(root, 'local2', 'web', 'state.json');
    writeFileSync(file, '{ "current": { "key": ');
    await target.close();
    target = reopen();
    notices.length = 0;
    const bad = await keepAsking(target.restore([desiredOf(release)], new Set()));
    assert.deepEqual(bad, []);
    assert.equal(notices.filter((n) => n.includes(file) && /corrupt/.test(n)).length, 1, notices.join('\n'));
    const after = await pids();
    assert.equal(after.length, 2);
    assert.ok(after.every((p) => !before.includes(p)), 'new instances serve');
    for (const p of before) assert.equal(isAlive(p), false, `the instance the lost file named (pid ${p}) was stopped`);
  });

  it('a missing state file is rebuilt the same way, and a stage the log wants empty is taken down', async () => {
    const release = await makeRelease(artifacts, 'keep-a');
    const before = await pids();
    rmSync(join(root, 'local2', 'web', 'state.json'));
    await target.close();
    target = reopen();
    assert.deepEqual(await keepAsking(target.restore([desiredOf(release)], new Set())), []);
    for (const p of before) assert.equal(isAlive(p), false);
    await target.close();
    target = reopen();
    await target.restore([{ ...desiredOf(release), stable: null }], new Set());
    assert.equal((await viaRouter(port, 'web.t.localhost', '/')).status, 404);
  });
});
