import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryEnvironmentDatabases } from '../adapters/store-memory/memory-environment-databases.js';
import { MemoryEnvironmentStore } from '../adapters/store-memory/memory-environment-store.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { EnvironmentService } from './environment-service.js';
import { envDatabaseName } from './ports/environment-databases.js';

// The environment service with its databases behind the port (ADR 26), on the in-memory fake: a copy at create whose
// URL the deploy gets, none made again on a redeploy, the copy dropped at destroy, orphans swept at start, and a
// failed copy failing the environment with the reason.
const PIPELINE = `app: shop
artifact: { output: dist }
defaults:
  local: { start: node server.js }
stages:
  staging:
    database: { url: "postgres://shop@db.test:5432/shop_staging" }
  prod:
    after: staging
    database: { url: "postgres://shop@db.test:5432/shop_prod" }
`;
const STAGING_URL = 'postgres://shop@db.test:5432/shop_staging';

function setup() {
  const plan = parsePipeline(PIPELINE);
  const databases = new MemoryEnvironmentDatabases();
  databases.data.set(STAGING_URL, new Map([['greeting', 'staging row']]));
  const store = new MemoryEnvironmentStore(() => {});
  const deployed: { stage: string; env: Record<string, string> }[] = [];
  const lines: string[] = [];
  let failClone: string | undefined;
  const port = {
    clone: (app: string, env: string, source: Parameters<typeof databases.clone>[2], log: (l: string) => void) =>
      failClone ? Promise.reject(new Error(failClone)) : databases.clone(app, env, source, log),
    drop: databases.drop.bind(databases),
    list: databases.list.bind(databases),
    seeded: databases.seeded.bind(databases),
    markSeeded: databases.markSeeded.bind(databases),
  };
  const service = new EnvironmentService({
    store,
    target: {
      deploy: async (req) => void deployed.push({ stage: req.stage.name, env: req.stage.env }),
      rollback: async () => {},
      health: async () => ({ ok: true, detail: '' }),
      url: (s) => `http://${s.name}.shop.localhost:7080`,
      forgetStage: async () => {},
    },
    release: async (version) => ({ version, digest: `sha256:${'a'.repeat(64)}` }),
    workspace: { open: () => ({ log: (l: string) => lines.push(l), logPath: '' }) as never, readLog: () => undefined },
    clock: { now: () => 1_000 },
    plan: () => plan,
    databases: { port, source: async (sp: StagePlan) => ({ plan: sp.database! }) },
  });
  return { service, databases, deployed, lines, failCloneWith: (m: string | undefined) => (failClone = m) };
}
const actor = { kind: 'token', id: 't', name: 'alice', role: 'deployer' } as const;

describe('environments with databases, on the in-memory port', () => {
  it('gives an environment its own copy of staging’s rows, and its deploy the copy’s URL, never staging’s', async () => {
    const { service, databases, deployed } = setup();
    const e = await service.create(actor, { name: 'pr-1', from: 'staging', ref: '1.0.0' });
    assert.equal(e.status, 'ready');
    const url = `postgres://shop@db.test:5432/${envDatabaseName('pr-1')}`;
    assert.equal(deployed[0]?.env.DATABASE_URL, url);
    assert.equal(databases.data.get(url)?.get('greeting'), 'staging row');
    databases.data.get(url)!.set('greeting', 'changed in pr-1');
    assert.equal(databases.data.get(STAGING_URL)?.get('greeting'), 'staging row');
    // A redeploy keeps the copy and its data.
    await service.redeploy('pr-1', '1.1.0');
    assert.equal(databases.data.get(url)?.get('greeting'), 'changed in pr-1');
    await service.destroy('pr-1');
    assert.equal(databases.data.has(url), false, 'destroy drops it');
    assert.deepEqual(await databases.list('shop', { plan: parsePipeline(PIPELINE).stages[0]!.database! }), []);
  });

  it('refuses an override of the database variable and makes nothing', async () => {
    const { service, databases, deployed } = setup();
    await assert.rejects(service.create(actor, { name: 'x', from: 'staging', ref: '1.0.0', env: { DATABASE_URL: 'postgres://shop@db.test/shop_prod' } }), /env override DATABASE_URL: it is the environment's own database/);
    assert.deepEqual(deployed, []);
    assert.deepEqual(await service.list(), []);
    assert.equal(databases.data.size, 1);
  });

  it('a copy that cannot be made fails the environment with the reason, and deploys nothing; a redeploy makes it', async () => {
    const { service, deployed, failCloneWith, lines } = setup();
    failCloneWith('could not connect');
    const e = await service.create(actor, { name: 'pr-2', from: 'staging', ref: '1.0.0' });
    assert.equal(e.status, 'failed');
    assert.equal(e.reason, 'its database could not be made: could not connect');
    assert.ok(lines.includes('its database could not be made: could not connect'));
    assert.deepEqual(deployed, []);
    failCloneWith(undefined);
    assert.equal((await service.redeploy('pr-2', undefined)).status, 'ready');
    assert.equal(deployed.length, 1);
  });

  it('start drops the databases of environments that have no record, and keeps the others', async () => {
    const { service, databases } = setup();
    await service.create(actor, { name: 'kept', from: 'staging', ref: '1.0.0' });
    const source = { plan: parsePipeline(PIPELINE).stages[0]!.database! };
    await databases.clone('shop', 'orphan', source, () => {});
    await databases.clone('other-app', 'theirs', source, () => {});
    await service.start();
    assert.deepEqual(await databases.list('shop', source), ['kept']);
    assert.deepEqual(await databases.list('other-app', source), ['theirs'], 'another app’s are not ours');
  });
});
