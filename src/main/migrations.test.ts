import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryEnvironmentDatabases } from '../adapters/store-memory/memory-environment-databases.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { migrationsBeforeStart } from './migrations.js';

// The migrate command before a deploy's instances start (ADR 26), as a real shell process: its output in the deploy's
// log with the stage's secrets redacted, a failure failing the deploy with the command and its exit code.
const stage = (run: string): StagePlan => ({
  name: 'staging',
  after: [],
  target: 'local',
  env: {},
  config: {},
  verify: [],
  approval: false,
  bakeMs: 0,
  autoPromote: true,
  migrate: { name: 'migrate', run, timeoutMs: 20_000 },
});

describe('migrations before a deploy starts its instances', () => {
  const hook = migrationsBeforeStart({ app: () => 'shop', databases: new MemoryEnvironmentDatabases(), sourceOf: async () => undefined });
  const dir = mkdtempSync(join(tmpdir(), 'sluice-migrate-'));
  const req = (run: string, lines: string[]) => ({
    stage: stage(run),
    release: { version: '1.0.0', digest: 'sha256:x' },
    key: 'k',
    appDir: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATABASE_URL: 'postgres://db/x', TOKEN: 's3cr3t-value' },
    redact: ['TOKEN'],
    log: (l: string) => lines.push(l),
  });

  it('runs in the release folder with the instances’ env, and logs its output with secrets redacted', async () => {
    const lines: string[] = [];
    await hook(req('echo "url=$DATABASE_URL token=$TOKEN" && echo made > marker && echo to-stderr >&2', lines));
    const log = lines.join('\n');
    assert.match(log, /migrate: url=postgres:\/\/db\/x token=\[secret TOKEN\]/);
    assert.match(log, /migrate: to-stderr/);
    assert.match(log, /migrate done in \d+ ms/);
    assert.ok(!log.includes('s3cr3t-value'));
    assert.equal(readFileSync(join(dir, 'marker'), 'utf8'), 'made\n');
  });

  it('a failing command fails the deploy, saying which command and how it ended', async () => {
    const lines: string[] = [];
    await assert.rejects(hook(req('echo "no such column $TOKEN"; exit 4', lines)), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MIGRATION_FAILED');
      assert.equal(e.message, 'the migrate command of staging exited with 4; nothing new was started (migrate: echo "no such column $TOKEN"; exit 4)');
      return true;
    });
    assert.ok(lines.includes('  migrate: no such column [secret TOKEN]'), lines.join('\n'));
  });

  it('a stage without migrate runs nothing', async () => {
    const lines: string[] = [];
    const { migrate: _m, ...none } = stage('exit 1');
    await hook({ ...req('exit 1', lines), stage: none });
    assert.deepEqual(lines, []);
    rmSync(dir, { recursive: true, force: true });
  });
});
