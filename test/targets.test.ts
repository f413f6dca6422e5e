import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../src/adapters/artifacts-fs/artifact-store.js';
import type { ReleaseRef } from '../src/journeys/journey-events.js';
import { parsePipeline, type StagePlan } from '../src/pipeline/pipeline.js';
import { isAlive, readPid } from '../src/platform/durable-run.js';
import { Router } from '../src/adapters/proxy-http1/router.js';
import { CommandTarget } from '../src/adapters/target-command/command-target.js';
import { LocalTarget } from '../src/adapters/target-local/local-target.js';
import type { StepIO, Target } from '../src/journeys/ports/target.js';
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

interface Harness {
  target: Target;
  stage: StagePlan;
  /** What the stage serves now, as a user of it would see (null: nothing). */
  served(): Promise<string | null>;
  close(): Promise<void>;
}

/** The contract every target passes. */
function targetContract(name: string, make: () => Promise<Harness>) {
  describe(`target contract: ${name}`, { timeout: 60_000 }, () => {
    let h: Harness;
    let artifacts: ArtifactStore;
    let a: ReleaseRef;
    let b: ReleaseRef;
    let broken: ReleaseRef;
    before(async () => {
      h = await make();
      artifacts = new ArtifactStore(join(root, 'artifacts'));
      a = await makeRelease(artifacts, `${name}-a`);
      b = await makeRelease(artifacts, `${name}-b`);
      broken = await makeRelease(artifacts, `${name}-broken`, { BREAK: '1' });
    });
    after(() => h.close());

    it('deploys, and deploying the same key again does nothing more', async () => {
      await h.target.deploy({ stage: h.stage, key: 'k1', io: io(), release: a });
      assert.equal(await h.served(), a.version);
      assert.deepEqual(await h.target.health({ stage: h.stage, key: 'h1', io: io(), release: a }), {
        ok: true,
        detail: (await h.target.health({ stage: h.stage, key: 'h1b', io: io(), release: a })).detail,
      });
      const step = io();
      await h.target.deploy({ stage: h.stage, key: 'k1', io: step, release: a });
      assert.equal(await h.served(), a.version);
    });

    it('moves to a new release and reports health for it', async () => {
      await h.target.deploy({ stage: h.stage, key: 'k2', io: io(), release: b });
      assert.equal(await h.served(), b.version);
      assert.equal((await h.target.health({ stage: h.stage, key: 'h2', io: io(), release: b })).ok, true);
    });

    it('a failing deploy throws with the output, and the previous release keeps serving', async () => {
      const step = io();
      await assert.rejects(
        h.target.deploy({ stage: h.stage, key: 'k3', io: step, release: broken }),
        /refusing to start|exited with|exit/,
      );
      assert.equal(await h.served(), b.version);
    });

    it('rolls back to the previous release, and to nothing', async () => {
      await h.target.rollback({ stage: h.stage, key: 'r1', io: io(), from: b, to: a });
      assert.equal(await h.served(), a.version);
      await h.target.rollback({ stage: h.stage, key: 'r2', io: io(), from: a, to: null });
      assert.equal(await h.served(), null);
    });
  });
}

const STAGE_YAML = `app: t
artifact: { output: d }
stages:
  web:
    local: { start: node server.mjs, instances: 2, health: { path: /, timeout: 5s }, stopTimeout: 1s }
  ops:
    target: command
    command:
      deploy: test ! -e "$SLUICE_ARTIFACT_DIR/BREAK" || { echo "refusing to start"; exit 3; }; echo "$SLUICE_RELEASE_VERSION" > "$STATE_FILE"
      rollback: if [ -n "$SLUICE_RELEASE_VERSION" ]; then echo "$SLUICE_RELEASE_VERSION" > "$STATE_FILE"; else rm -f "$STATE_FILE"; fi
      health: test -s "$STATE_FILE"
      timeout: 10s
`;
const plan = parsePipeline(STAGE_YAML);

targetContract('local', async () => {
  const router = new Router();
  const port = await router.listen(0);
  const target = new LocalTarget({
    root: join(root, 'local'),
    app: 't',
    artifacts: new ArtifactStore(join(root, 'artifacts')),
    router,
    routerPort: port,
    baseEnv: { PATH: process.env.PATH ?? '' },
  });
  return {
    target,
    stage: plan.stages.find((s) => s.name === 'web')!,
    async served() {
      const r = await viaRouter(port, 'web.t.localhost', '/');
      return r.status === 200 ? (JSON.parse(r.body).version as string) : null;
    },
    async close() {
      await target.close();
      await router.close();
    },
  };
});

targetContract('command', async () => {
  const stateFile = join(root, 'ops-state');
  const target = new CommandTarget({
    root: join(root, 'command'),
    artifacts: new ArtifactStore(join(root, 'artifacts')),
    baseEnv: { PATH: process.env.PATH ?? '', STATE_FILE: stateFile },
    appDir: root,
  });
  return {
    target,
    stage: plan.stages.find((s) => s.name === 'ops')!,
    async served() {
      return existsSync(stateFile) ? readFileSync(stateFile, 'utf8').trim() : null;
    },
    close: () => target.close(),
  };
});

describe('local target supervision', { timeout: 60_000 }, () => {
  let router: Router;
  let port: number;
  let target: LocalTarget;
  let artifacts: ArtifactStore;
  const stage = plan.stages.find((s) => s.name === 'web')!;
  before(async () => {
    router = new Router();
    port = await router.listen(0);
    artifacts = new ArtifactStore(join(root, 'artifacts'));
    target = new LocalTarget({
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
});
