import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from '../kernel/errors.js';
import { type PipelineIssue, parsePipeline } from './pipeline.js';

// A stage's database and the pipeline's migrate command (ADR 26): what they resolve to, and where a mistake is.
const file = (stage: string, top = '') => `app: shop
artifact: { output: dist }
${top}defaults:
  local: { start: node server.js }
stages:
  staging:
${stage}
  prod:
    after: staging
`;

function issuesOf(text: string): PipelineIssue[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (e) {
    assert.ok(isSluiceError(e) && e.code === 'PIPELINE_INVALID', String(e));
    return (e.details as { issues: PipelineIssue[] }).issues;
  }
  assert.fail('expected the file to be rejected');
}

describe('a stage database and migrate in sluice.yaml', () => {
  it('gives workloads the URL as DATABASE_URL (or the variable named), defaults to template, and puts migrate on every stage', () => {
    const plan = parsePipeline(
      file(
        '    secrets: [PGPASSWORD]\n    database: { url: "postgres://shop@db.internal:5432/shop_staging", password: PGPASSWORD, snapshot: 30s }',
        'migrate: { run: node migrate.js, timeout: 2m }\n',
      ),
    );
    const [staging, prod] = plan.stages;
    assert.deepEqual(staging!.database, { url: 'postgres://shop@db.internal:5432/shop_staging', clone: 'template', env: 'DATABASE_URL', password: 'PGPASSWORD', snapshotMaxAgeMs: 30_000 });
    assert.equal(staging!.env.DATABASE_URL, 'postgres://shop@db.internal:5432/shop_staging');
    assert.deepEqual(staging!.migrate, { name: 'migrate', run: 'node migrate.js', timeoutMs: 120_000 });
    assert.deepEqual(prod!.migrate, staging!.migrate);
    assert.equal(prod!.database, undefined);
    const other = parsePipeline(file('    database: { url: "postgresql://shop@h/db", clone: empty, seed: node seed.js, env: SHOP_DB }')).stages[0]!;
    assert.equal(other.env.SHOP_DB, 'postgresql://shop@h/db');
    assert.equal(other.database?.seed, 'node seed.js');
  });

  it('refuses a password in the URL, and says where and what to do instead', () => {
    const [i, ...rest] = issuesOf(file('    database: { url: "postgres://shop:hunter2@db:5432/shop" }'));
    assert.deepEqual(rest, []);
    assert.equal(i!.line, 7);
    assert.equal(i!.path, 'stages.staging.database.url');
    assert.match(i!.message, /carries a password: sluice\.yaml is shown by the API; keep the password in a stage secret and name it with database\.password/);
  });

  it('locates every other mistake', () => {
    const cases: [string, RegExp, string][] = [
      ['    database: { url: "mysql://db/x" }', /a PostgreSQL URL/, 'stages.staging.database.url'],
      ['    database: { url: "postgres://db:5432" }', /names no database/, 'stages.staging.database.url'],
      ['    database: { url: "postgres://db/x", clone: copy }', /unknown clone strategy "copy".*known: template, dump, empty/, 'stages.staging.database.clone'],
      ['    database: { url: "postgres://db/x", password: PGPASSWORD }', /PGPASSWORD is not one of the stage's secrets/, 'stages.staging.database.password'],
      ['    database: { url: "postgres://db/x", seed: node seed.js }', /a seed runs on an empty copy only/, 'stages.staging.database.seed'],
      ['    env: { DATABASE_URL: x }\n    database: { url: "postgres://db/x" }', /DATABASE_URL is set in env too/, 'stages.staging.database.env'],
      ['    database: { url: "postgres://db/x", urls: y }', /urls/, 'stages.staging.database.urls'],
    ];
    for (const [stage, why, path] of cases) {
      const [i] = issuesOf(file(stage));
      assert.match(i!.message, why, stage);
      assert.equal(i!.path, path, stage);
      assert.ok(i!.line >= 7, `${stage}: line ${i!.line}`);
    }
  });
});
