import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PostgresDatabases, snapshotName, spareName } from '../../src/adapters/databases-postgres/postgres-databases.js';
import { envDatabaseName } from '../../src/environments/ports/environment-databases.js';
import { api, cli, journeyEnd, REPO, startUp, type UpProcess } from '../helpers/sluice-process.js';
import { pgAdmin, pgDropAfterQuiet, pgUrlOf } from '../helpers/pg-databases.js';

// Environments with databases on a real `sluice up` and a real PostgreSQL server: each gets its own copy of its
// source stage's database (template, or empty plus seed), the migrations run on every deploy of every stage and
// environment, a failing one fails the deploy, destroy drops the copy, and an orphan is swept after a kill -9.
const tag = `${process.pid}_${Date.now()}`;
const dbs = { qa: `sluice_test_qa_${tag}`, staging: `sluice_test_staging_${tag}`, prod: `sluice_test_prod_${tag}` };
const APP = `dbshop${process.pid}`;
const pipeline = () => `app: ${APP}
artifact: { build: node build.js, output: dist }
migrate: node migrate.js
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
  env: { PG_MODULE: ${JSON.stringify(join(REPO, 'node_modules', 'pg', 'lib', 'index.js'))} }
stages:
  qa:
    database: { url: "${pgUrlOf(dbs.qa)}", clone: empty, seed: node seed.js }
  staging:
    after: qa
    database: { url: "${pgUrlOf(dbs.staging)}" }
  prod:
    after: staging
    database: { url: "${pgUrlOf(dbs.prod)}" }
`;

const databaseExists = async (name: string) => {
  const c = new pg.Client({ connectionString: pgUrlOf('postgres') });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
};

describe('environments with their own databases on sluice up', { timeout: 300_000 }, () => {
  let app: string;
  let up: UpProcess;
  let token: string;
  const data = () => join(app, '.sluice');
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
  const call = (host: string, method = 'GET', path = '/') =>
    new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, method, path, headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown>;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      req.on('error', reject);
      req.end();
    });
  const host = (name: string) => `${name}.${APP}.localhost`;
  const environOf = (name: string) => {
    const dir = join(data(), 'local', name, 'instances');
    return readdirSync(dir).flatMap((r) => {
      const pidFile = join(dir, r, 'pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      return pid && existsSync(`/proc/${pid}/environ`) ? readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0') : [];
    });
  };

  before(async () => {
    for (const db of Object.values(dbs)) await pgAdmin(`CREATE DATABASE ${db}`);
    app = join(mkdtempSync(join(tmpdir(), 'sluice-envdb-')), 'dbshop');
    cpSync(join(REPO, 'test', 'fixtures', 'db-app'), app, { recursive: true });
    writeFileSync(join(app, 'sluice.yaml'), pipeline());
    up = await startUp(app, data());
    token = readFileSync(join(data(), 'admin-token'), 'utf8').trim();
    assert.equal((await run('release', 'create', '1.0.0')).code, 0);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0', 180_000), 'succeeded', up.output());
  });
  after(async () => {
    await up?.down();
    await pgDropAfterQuiet([
      ...Object.values(dbs).flatMap((db) => [db, snapshotName(db), spareName(db, 0)]),
      ...['pr-1', 'fresh', 'broken', 'ghost'].map(envDatabaseName),
    ]);
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('migrates every stage before its instances start', async () => {
    for (const stage of ['qa', 'staging', 'prod']) {
      const r = await call(host(stage));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json, { version: '1.0.0', greeting: null, database: dbs[stage as keyof typeof dbs], migrations: 1 });
    }
    assert.equal((await call(host('staging'), 'POST', '/greeting?v=from-staging')).status, 200);
  });

  it('an environment cloned from staging gets its own copy with staging’s rows, migrated; a write there is not seen in staging', async () => {
    const made = await run('env', 'create', 'pr-1', '--from', 'staging', '--ref', '1.0.0');
    assert.equal(made.code, 0, made.stderr);
    const r = await call(host('pr-1'));
    assert.deepEqual(r.json, { version: '1.0.0', greeting: 'from-staging', database: 'sluice_env_pr_1', migrations: 2 }, 'staging’s row and migration, and its own');
    assert.ok(environOf('pr-1').includes(`DATABASE_URL=${pgUrlOf('sluice_env_pr_1')}`), 'its DATABASE_URL is its copy');
    assert.ok(!environOf('pr-1').some((v) => v.includes(dbs.staging)), 'nothing of it points at staging’s database');
    await call(host('pr-1'), 'POST', '/greeting?v=from-pr-1');
    assert.equal((await call(host('pr-1'))).json.greeting, 'from-pr-1');
    assert.equal((await call(host('staging'))).json.greeting, 'from-staging', 'staging does not see the environment’s write');
    const logs = await run('env', 'logs', 'pr-1');
    assert.match(logs.stdout, /has its own database \(template of staging's\)/);
    assert.match(logs.stdout, /migrate: node migrate\.js[\s\S]*migrated pr-1 to 1\.0\.0[\s\S]*migrate done/);
    // A redeploy keeps its data and migrates again.
    assert.equal((await run('env', 'redeploy', 'pr-1')).code, 0);
    assert.deepEqual(await call(host('pr-1')).then((x) => [x.json.greeting, x.json.migrations]), ['from-pr-1', 3]);
    // Its database variable is Sluice's to set.
    const over = await run('env', 'create', 'x9', '--from', 'staging', '--ref', '1.0.0', '--set', `DATABASE_URL=${pgUrlOf(dbs.prod)}`);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /env override DATABASE_URL: it is the environment's own database, which Sluice sets/);
    assert.equal(await databaseExists(envDatabaseName('x9')), false);
  });

  it('an empty copy is migrated, then seeded once', async () => {
    assert.equal((await run('env', 'create', 'fresh', '--from', 'qa', '--ref', '1.0.0')).code, 0);
    assert.deepEqual((await call(host('fresh'))).json, { version: '1.0.0', greeting: 'seeded', database: 'sluice_env_fresh', migrations: 1 });
    await call(host('fresh'), 'POST', '/greeting?v=changed');
    assert.equal((await run('env', 'redeploy', 'fresh')).code, 0);
    assert.deepEqual(await call(host('fresh')).then((x) => [x.json.greeting, x.json.migrations]), ['changed', 2], 'not seeded again');
  });

  it('a failing migration fails the deploy with a clear line, and starts nothing', async () => {
    const r = await run('env', 'create', 'broken', '--from', 'staging', '--ref', '1.0.0', '--set', 'MIGRATE_FAIL=column exists');
    const shown = JSON.parse((await run('env', 'show', 'broken', '--json')).stdout) as { status: string; reason: string };
    assert.equal(shown.status, 'failed', r.stdout + r.stderr);
    assert.match(shown.reason, /the migrate command of broken exited with 3; nothing new was started/);
    const logs = (await run('env', 'logs', 'broken')).stdout;
    assert.match(logs, /migrate: migration refused: column exists/);
    assert.equal((await call(host('broken'))).status, 404);
    assert.equal(await databaseExists('sluice_env_broken'), true);
    assert.equal((await run('env', 'destroy', 'broken')).code, 0);
    assert.equal(await databaseExists('sluice_env_broken'), false, 'destroy drops a failed environment’s database too');
  });

  it('after a kill -9, the restart drops a database no environment owns, and keeps the others', async () => {
    await up.kill();
    // What a create cut short leaves: a database for an environment that has no record.
    await new PostgresDatabases().clone(APP, 'ghost', { plan: { url: pgUrlOf(dbs.staging), clone: 'empty', snapshotMaxAgeMs: 0 } }, () => {});
    assert.equal(await databaseExists('sluice_env_ghost'), true);
    up = await startUp(app, data());
    assert.equal(await databaseExists('sluice_env_ghost'), false, 'the orphan is gone');
    assert.equal(await databaseExists('sluice_env_pr_1'), true);
    assert.equal((await call(host('pr-1'))).json.greeting, 'from-pr-1');
  });

  it('destroy drops the environment’s database; staging’s stays', async () => {
    for (const e of ['pr-1', 'fresh']) assert.equal((await run('env', 'destroy', e)).code, 0);
    assert.equal(await databaseExists('sluice_env_pr_1'), false);
    assert.equal(await databaseExists('sluice_env_fresh'), false);
    assert.equal((await call(host('staging'))).json.greeting, 'from-staging');
    const pipelineOut = JSON.stringify((await api(up.apiUrl, 'GET', '/api/v1/pipeline', undefined, token)).json);
    assert.match(pipelineOut, /sluice_test_staging_/, 'the pipeline shows the database URL');
  });
});
