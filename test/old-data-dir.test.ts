import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMigrations, migrate } from '../src/adapters/store-sql/migrate.js';
import { PGlite } from '@electric-sql/pglite';
import { pgliteDriver } from '../src/adapters/store-sql/pglite-driver.js';
import { api, cli, copyExample, journeyEnd, REPO, startUp, type UpProcess, viaRouter } from './helpers/sluice-process.js';

const FIXTURE = join(REPO, 'test', 'fixtures', 'data-dir-0.1.0');

/** Rebuilds the data directory that Sluice 0.1.0 left (see test/fixtures/data-dir-0.1.0/README.md). */
async function oldDataDir(app: string): Promise<string> {
  const data = join(app, '.sluice');
  const fill = (text: string) => text.replaceAll('{{DATA_DIR}}', data).replaceAll('{{APP_DIR}}', app);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
  for (const f of walk(join(FIXTURE, 'files'))) {
    const to = join(data, relative(join(FIXTURE, 'files'), f));
    cpSync(f, to);
    if (f.endsWith('.json') || f.endsWith('log')) writeFileSync(to, fill(readFileSync(f, 'utf8')));
  }
  const rows = JSON.parse(fill(readFileSync(join(FIXTURE, 'db.json'), 'utf8'))) as Record<string, Record<string, unknown>[]>;
  // That version's database: PGlite made in place, with that version's migrations only.
  const pg = new PGlite(join(data, 'pg'));
  await pg.waitReady;
  const db = pgliteDriver(pg);
  try {
    await migrate(db, loadMigrations().filter((m) => m.version <= 2));
    await db.query('DELETE FROM cursors');
    for (const [table, list] of Object.entries(rows)) {
      if (table === 'schema_migrations') continue;
      for (const row of list) {
        const cols = Object.keys(row);
        const values = cols.map((c) => (row[c] !== null && typeof row[c] === 'object' ? JSON.stringify(row[c]) : row[c]));
        await db.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values);
      }
    }
    for (const t of ['events', 'notifications']) await db.query(`SELECT setval('${t}_id_seq', (SELECT coalesce(max(id), 1) FROM ${t}))`);
  } finally {
    await db.close();
  }
  return data;
}

// A data directory made by the release before journeys had ids of their own and before desired state was kept in the
// store: today's Sluice migrates it forward and serves what it served.
describe('a data directory made by Sluice 0.1.0', { timeout: 180_000 }, () => {
  let app: string;
  let data: string;
  let up: UpProcess;
  before(async () => {
    app = copyExample();
    data = await oldDataDir(app);
    up = await startUp(app, data);
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });
  const run = (...args: string[]) => cli([...args, '--dir', app]);

  it('is migrated forward: the old journeys keep their ids, every stage serves what it served', async () => {
    const list = await api<{ version: string; journeyId: string; status: string }[]>(up.apiUrl, 'GET', '/api/v1/releases');
    assert.deepEqual(list.json.map((r) => [r.version, r.journeyId, r.status]), [
      ['1.0.0', '1.0.0', 'succeeded'],
      ['2.0.0', '2.0.0', 'failed'],
      ['3.0.0', '3.0.0', 'succeeded'],
    ]);
    for (const stage of ['integ', 'staging', 'prod']) {
      const r = await viaRouter(up.routerPort, `${stage}.shop.localhost`, '/healthz');
      assert.equal(r.status, 200, `${stage}: ${r.body}`);
      assert.equal(JSON.parse(r.body).version, '3.0.0', stage);
    }
    const stages = await api<{ stage: string; stable: { release: { version: string }; journeyId: string } | null }[]>(up.apiUrl, 'GET', '/api/v1/stages');
    assert.deepEqual(stages.json.map((d) => [d.stage, d.stable?.release.version, d.stable?.journeyId]), [
      ['integ', '3.0.0', '3.0.0'],
      ['prod', '3.0.0', '3.0.0'],
      ['staging', '3.0.0', '3.0.0'],
    ]);
    assert.match(up.output(), /desired state of .* rebuilt from the event log/);
  });

  it('reads events written before actors as Sluice\'s, "recorded before actors", and starts an audit trail that verifies', async () => {
    const events = await api<{ actor: unknown }[]>(up.apiUrl, 'GET', '/api/v1/releases/1.0.0/events');
    assert.ok(events.json.length > 0);
    for (const e of events.json) assert.deepEqual(e.actor, { kind: 'system', reason: 'recorded before actors' });
    const v = await run('audit', 'verify');
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  it('shows the old logs, and an old failure with its test output', async () => {
    const r = await run('logs', '2.0.0', 'staging', 'acceptance');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /FAIL cart pot:2,mug:3 totals 11400/);
    assert.match((await run('status')).stdout, /2\.0\.0\s+✗ failed/);
  });

  it('carries a new release through with a journey id of its own, and rolls prod back to the old one', async () => {
    writeFileSync(join(app, 'src', 'catalog.js'), `${readFileSync(join(app, 'src', 'catalog.js'), 'utf8')}\n// 4.0.0\n`);
    const created = await run('release', 'create', '4.0.0', '--json');
    assert.equal(created.code, 0, created.stderr);
    assert.match(JSON.parse(created.stdout).release.journeyId, /^j-/);
    assert.equal(await journeyEnd(up.apiUrl, '4.0.0', 120_000), 'succeeded');
    assert.equal(JSON.parse((await viaRouter(up.routerPort, 'prod.shop.localhost', '/healthz')).body).version, '4.0.0');
    assert.equal((await run('rollback', 'prod', '--reason', 'back to the old one')).code, 0);
    for (let i = 0; i < 200 && JSON.parse((await viaRouter(up.routerPort, 'prod.shop.localhost', '/healthz')).body).version !== '3.0.0'; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(JSON.parse((await viaRouter(up.routerPort, 'prod.shop.localhost', '/healthz')).body).version, '3.0.0');
  });
});
