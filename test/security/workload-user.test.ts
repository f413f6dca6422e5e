import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ArtifactStore } from '../../src/adapters/artifacts-fs/artifact-store.js';
import { InProcessRouter } from '../../src/adapters/proxy-http1/in-process-router.js';
import { LocalTarget, stopLocalInstances } from '../../src/adapters/target-local/local-target.js';
import type { StepIO } from '../../src/journeys/ports/target.js';
import { parsePipeline } from '../../src/pipeline/pipeline.js';
import { viaRouter } from '../helpers/sluice-process.js';

// Instances of a stage with `local.user` run as that user: here `nobody`, which needs the tests to run as root (CI does).
const root = process.getuid?.() === 0;
const APP = `import { createServer } from 'node:http';
createServer((q, r) => r.end(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), home: process.env.HOME, user: process.env.USER }))).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('app instances as another user', { skip: root ? false : 'running instances as user nobody needs the tests to run as root (CI runs as root)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-user-'));
  const data = join(dir, 'data');
  let target: LocalTarget | undefined;
  let router: InProcessRouter | undefined;
  after(async () => {
    await target?.close();
    await stopLocalInstances(join(data, 'local'));
    await router?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('local.user: nobody serves as uid/gid of nobody, from a release folder it can read, and the rest of the data directory stays closed to it', async () => {
    // The folders above the data directory are the operator's (mkdtemp makes its folder 0700, an app's folder is
    // usually 0755): the user must be able to pass through them.
    chmodSync(dir, 0o711);
    // As sluice up does: what Sluice makes is for its user only.
    process.umask(0o077);
    mkdirSync(data, { mode: 0o700 });
    router = new InProcessRouter();
    const port = await router.listen(0);
    const artifacts = new ArtifactStore(join(data, 'artifacts'));
    target = new LocalTarget({ root: join(data, 'local'), app: 't', artifacts, router, routerPort: port, baseEnv: { PATH: process.env.PATH ?? '', HOME: '/root' } });
    const plan = parsePipeline(`app: t
artifact: { output: d }
stages:
  web:
    local: { start: node server.mjs, user: nobody, health: { path: /, timeout: 10s }, stopTimeout: 1s }
`);
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'server.mjs'), APP);
    const release = { version: '1.0.0', digest: await artifacts.add(src) };
    const logPath = join(dir, 'step.log');
    const io: StepIO = { runDir: join(dir, 'step'), logPath, log: (l) => writeFileSync(logPath, `${l}\n`, { flag: 'a' }) };
    await target.deploy({ stage: plan.stages[0]!, key: 'd1', io, release });
    const r = await viaRouter(port, 'web.t.localhost', '/');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { uid: 65534, gid: 65534, home: '/nonexistent', user: 'nobody' });
    // What the instance may not reach: the artifacts, the stage's state file and logs.
    assert.equal(statSync(join(data, 'artifacts')).mode & 0o077, 0);
    assert.equal(statSync(join(data, 'local', 'web', 'state.json')).mode & 0o077, 0);
    assert.equal(statSync(join(data, 'local', 'web', 'logs')).mode & 0o077, 0);
  });
});
