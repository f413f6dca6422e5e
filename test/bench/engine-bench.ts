// npm run bench:engine: how long the engine takes from a gate passing to the next step starting.
//   in-process: the real executor and store (PGlite on disk, and PostgreSQL when reachable), effects that finish at once;
//               measured from the effect's outcome to the next effect's start, with performance.now().
//   end-to-end: a real `sluice up` running real (trivial) commands through the durable runner;
//               measured from each step.finished event to the next step.started event (millisecond timestamps).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { COMMIT_STAGE, type StoredEvent } from '../../src/journeys/journey-events.js';
import { parsePipeline } from '../../src/pipeline/pipeline.js';
import { systemClock } from '../../src/kernel/clock.js';
import type { EffectRunner } from '../../src/journeys/effect-runner.js';
import { Executor } from '../../src/journeys/executor.js';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { api, startUp } from '../helpers/sluice-process.js';

const STAGES = 8;
const VERIFY = 3;
const JOURNEYS = Number(process.env.BENCH_JOURNEYS ?? 15);

function pipelineYaml(): string {
  const lines = [
    'app: bench',
    'artifact: { output: out }',
    'defaults:',
    '  target: command',
    '  command: { deploy: "true" }',
    'stages:',
  ];
  for (let i = 0; i < STAGES; i++) {
    lines.push(`  s${i}:`);
    if (i > 0) lines.push(`    after: s${i - 1}`);
    lines.push('    verify:');
    for (let v = 0; v < VERIFY; v++) lines.push(`      v${v}: "true"`);
  }
  return `${lines.join('\n')}\n`;
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    samples: s.length,
    p50Ms: r(q(0.5)),
    p95Ms: r(q(0.95)),
    p99Ms: r(q(0.99)),
    maxMs: r(s.at(-1) ?? Number.NaN),
  };
}

async function inProcess(store: SqlStore): Promise<number[]> {
  const plan = parsePipeline(pipelineYaml());
  const done = new Map<string, number>();
  const gaps: number[] = [];
  let last: { journey: string; at: number } | undefined;
  let finished: () => void = () => {};
  const runner: EffectRunner = {
    async run(r, j) {
      const now = performance.now();
      if (last && last.journey === j.id && r.stage !== COMMIT_STAGE) gaps.push(now - last.at);
      await new Promise((res) => setImmediate(res));
      last = { journey: j.id, at: performance.now() };
      done.set(r.key, last.at);
      return { ok: true, exitCode: 0 };
    },
  };
  const ex = new Executor({
    store,
    clock: systemClock,
    runner,
    onEvent: (e) => {
      if (e.type === 'step.finished' && e.stage === `s${STAGES - 1}` && e.step === `verify:v${VERIFY - 1}`) finished();
    },
  });
  await ex.start();
  for (let n = 0; n < JOURNEYS; n++) {
    const version = `1.0.${n}`;
    const wait = new Promise<void>((res) => {
      finished = res;
    });
    await store.createRelease(
      { version, digest: `sha256:${n}`, createdAt: Date.now(), journeyId: `j-${version}` },
      { type: 'journey.created', release: { version, digest: `sha256:${n}` }, plan },
      { kind: 'system', reason: 'benchmark' },
    );
    last = undefined;
    await ex.track(`j-${version}`);
    await wait;
  }
  await ex.stop();
  return gaps;
}

async function endToEnd(): Promise<number[]> {
  const app = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  mkdirSync(join(app, 'out'));
  writeFileSync(join(app, 'out', 'file'), 'x');
  writeFileSync(join(app, 'sluice.yaml'), pipelineYaml());
  const up = await startUp(app, join(app, '.sluice'));
  const token = (await import('node:fs')).readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
  const gaps: number[] = [];
  try {
    for (let n = 0; n < Math.min(JOURNEYS, 6); n++) {
      const version = `2.0.${n}`;
      await api(up.apiUrl, 'POST', '/api/v1/releases', { version }, token);
      for (;;) {
        const j = await api<{ journey: { status: string } }>(up.apiUrl, 'GET', `/api/v1/releases/${version}`);
        if (j.json.journey.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const events = (await api<StoredEvent[]>(up.apiUrl, 'GET', `/api/v1/releases/${version}/events`)).json;
      let prev: StoredEvent | undefined;
      for (const e of events) {
        if (e.type === 'step.started' && prev && e.stage !== COMMIT_STAGE) gaps.push(e.at - prev.at);
        if (e.type === 'step.finished') prev = e;
      }
    }
  } finally {
    await up.down();
    rmSync(app, { recursive: true, force: true });
  }
  return gaps;
}

async function postgresUrl(): Promise<string | undefined> {
  const admin = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    const db = `sluice_bench_${process.pid}`;
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${db}`);
    const u = new URL(admin);
    u.pathname = `/${db}`;
    return u.toString();
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
}

const results: Record<string, unknown> = {
  target: { p95Ms: 50 },
  stages: STAGES,
  verifyPerStage: VERIFY,
  journeys: JOURNEYS,
  node: process.version,
};
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-pglite-'));
const pglite = await openStore({ dataDir: dir });
results.inProcessPglite = stats(await inProcess(pglite));
await pglite.close();
rmSync(dir, { recursive: true, force: true });
const pgUrl = await postgresUrl();
if (pgUrl) {
  const store = await openStore({ dataDir: 'unused', databaseUrl: pgUrl });
  results.inProcessPostgres = stats(await inProcess(store));
  await store.close();
} else results.inProcessPostgres = 'skipped: no PostgreSQL reachable';
results.endToEndPglite = stats(await endToEnd());

mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/engine.json', `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log('written to bench-results/engine.json');
