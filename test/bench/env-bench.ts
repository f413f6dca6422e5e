// npm run bench:env: how fast an environment cloned from staging comes up with its own copy of a ~100 MB PostgreSQL
// database, and what 20 live environments cost (ADR 26).
// - A source database of BENCH_DB_MB (default 100) MB is made with generate_series, on DATABASE_URL's server (else
//   the local one); `sluice up` runs the db-app fixture (test/fixtures/db-app) with staging declaring that database,
//   clone: template, and the pipeline's migrate command.
// - Staging serves 1.0.0 (approved before deploy, so 1.1.0 waits there); then BENCH_RUNS (default 20) times, the
//   spin-up: from the API call creating an environment of 1.1.0 to its URL answering with 1.1.0 and its own
//   database's copy of staging's row. Each environment then writes a row, and staging must not see it.
//   The first create takes the snapshot environments are copied from (ADR 26) and is reported on its own too.
// - With every environment alive: their instances' processes (each instance's process group) and resident memory,
//   the PostgreSQL sessions they hold and those sessions' memory, and the copies' size on disk.
// - Then each is destroyed (timed), and everything the bench made is dropped.
// Targets: median <= 1.5 s, p95 <= 3 s. Figures only, never a gate: exits 0 whether the targets are met or not, 1
// only when it could not measure. Writes bench-results/env.json.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { snapshotName, spareName } from '../../src/adapters/databases-postgres/postgres-databases.js';
import { pgDropAfterQuiet } from '../helpers/pg-databases.js';
import { api, cli, journeyEnd, REPO, startUp, type UpProcess } from '../helpers/sluice-process.js';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 20));
const ALIVE = 20;
const DB_MB = Number(process.env.BENCH_DB_MB ?? 100);
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TARGET = { medianMs: 1500, p95Ms: 3000 };
const tag = `${process.pid}`;
const APP = 'benchshop';
const SOURCE = `sluice_bench_staging_${tag}`;
const PROD = `sluice_bench_prod_${tag}`;
const urlOf = (db: string) => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${db}`;
  return u.toString();
};

async function sql<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

function get(port: number, host: string, method = 'GET', path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const round = (n: number) => Math.round(n);
const mb = (kb: number) => Math.round(kb / 102.4) / 10;

/** Every process whose process group is one of `groups`, with its resident memory (kB). */
function processesIn(groups: Set<number>): { pid: number; rssKb: number }[] {
  const out: { pid: number; rssKb: number }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (!groups.has(pgrp)) continue;
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1] ?? 0);
      out.push({ pid: Number(d), rssKb: rss });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const rssOf = (pid: number) => {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error('bench:env: gave up after 15 minutes');
    process.exit(1);
  }, 15 * 60_000);
  deadline.unref();
  const app = join(mkdtempSync(join(tmpdir(), 'sluice-envbench-')), 'benchshop');
  const data = join(app, '.sluice');
  let up: UpProcess | undefined;
  try {
    // The source: ~DB_MB MB of rows, one row the app shows, and a small prod database.
    for (const db of [SOURCE, PROD]) await sql(ADMIN_URL, `CREATE DATABASE ${db}`);
    const rows = Math.round((DB_MB * 1024 * 1024) / 260);
    let t = Date.now();
    await sql(urlOf(SOURCE), 'CREATE TABLE items (id int PRIMARY KEY, payload text NOT NULL)');
    await sql(urlOf(SOURCE), `INSERT INTO items SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, ${rows}) i`);
    await sql(urlOf(SOURCE), "CREATE TABLE kv (k text PRIMARY KEY, v text NOT NULL); INSERT INTO kv VALUES ('greeting', 'staging-row')");
    await sql(urlOf(SOURCE), 'VACUUM ANALYZE items');
    const [size] = await sql<{ bytes: string }>(ADMIN_URL, 'SELECT pg_database_size($1)::text AS bytes', [SOURCE]);
    const sourceMb = Math.round(Number(size!.bytes) / 1048576);
    console.log(`source database ${SOURCE}: ${sourceMb} MB (${rows} rows) made in ${Date.now() - t} ms`);

    cpSync(join(REPO, 'test', 'fixtures', 'db-app'), app, { recursive: true });
    writeFileSync(
      join(app, 'sluice.yaml'),
      `app: ${APP}
artifact: { build: node build.js, output: dist }
migrate: node migrate.js
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
  env: { PG_MODULE: ${JSON.stringify(join(REPO, 'node_modules', 'pg', 'lib', 'index.js'))} }
stages:
  staging:
    approval: { before: deploy }
    database: { url: "${urlOf(SOURCE)}", clone: template, snapshot: 1h }
  prod:
    after: staging
    database: { url: "${urlOf(PROD)}" }
`,
    );
    up = await startUp(app, data);
    const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: '' });
    for (const v of ['1.0.0', '1.1.0']) {
      const r = await run('release', 'create', v);
      if (r.code !== 0) throw new Error(`release create ${v}: ${r.stderr}`);
    }
    for (let i = 0; ; i++) {
      if ((await run('approve', '1.0.0', 'staging')).code === 0) break;
      if (i > 300) throw new Error('1.0.0 never waited for approval at staging');
      await sleep(200);
    }
    if ((await journeyEnd(up.apiUrl, '1.0.0', 180_000)) !== 'succeeded') throw new Error(`1.0.0 did not reach prod:\n${up.output()}`);
    const staging = JSON.parse((await get(up.routerPort, `staging.${APP}.localhost`)).body) as { version: string; greeting: string };
    if (staging.version !== '1.0.0' || staging.greeting !== 'staging-row') throw new Error(`staging serves ${JSON.stringify(staging)}`);

    // Spin-up, RUNS times; at most ALIVE environments are kept (the oldest is destroyed past it).
    const spinMs: number[] = [];
    const names: string[] = [];
    const destroyMs: number[] = [];
    const copyMs: number[] = [];
    const migrateMs: number[] = [];
    for (let i = 0; i < Math.max(RUNS, ALIVE); i++) {
      const name = `bench-${i}`;
      const host = `${name}.${APP}.localhost`;
      t = performance.now();
      const made = await api<{ status: string; reason?: string }>(up.apiUrl, 'POST', '/api/v1/environments', { name, from: 'staging', ref: '1.1.0', reason: 'bench' }, token);
      if (made.status !== 201 || made.json.status !== 'ready') throw new Error(`create ${name}: ${made.status} ${JSON.stringify(made.json)}`);
      for (;;) {
        const r = await get(up.routerPort, host);
        const b = r.status === 200 ? (JSON.parse(r.body) as { version: string; greeting: string; database: string }) : undefined;
        if (b?.version === '1.1.0' && b.greeting === 'staging-row' && b.database.startsWith('sluice_env_')) break;
        if (performance.now() - t > 60_000) throw new Error(`${name} never answered with 1.1.0 and its copy: ${r.status} ${r.body}`);
        await sleep(5);
      }
      const ms = performance.now() - t;
      if (i < RUNS) spinMs.push(ms);
      // Where the time went, from the deploy's log: the copy, and the migrations.
      const log = (await api<{ log: string }>(up.apiUrl, 'GET', `/api/v1/environments/${name}/logs`)).json.log;
      if (i < RUNS) {
        copyMs.push(Number(/has its own database .* made in (\d+) ms/.exec(log)?.[1] ?? NaN));
        migrateMs.push(Number(/migrate done in (\d+) ms/.exec(log)?.[1] ?? NaN));
      }
      names.push(name);
      // Its own data: a write there is not seen in staging.
      await get(up.routerPort, host, 'POST', `/greeting?v=${name}`);
      const back = JSON.parse((await get(up.routerPort, `staging.${APP}.localhost`)).body) as { greeting: string };
      if (back.greeting !== 'staging-row') throw new Error(`staging sees ${name}'s write: ${back.greeting}`);
      console.log(`${name}: ${round(ms)} ms${i === 0 ? ' (with the snapshot of the source)' : ''}`);
    }

    // Twenty alive: their instances' processes and memory, their database sessions and the copies' size.
    const alive = names.slice(-ALIVE);
    const instanceGroups = (envs: string[]) => {
      const out = new Set<number>();
      for (const n of envs) {
        const dir = join(data, 'local', n, 'instances');
        for (const r of existsSync(dir) ? readdirSync(dir) : []) {
          const pidFile = join(dir, r, 'pid');
          if (existsSync(pidFile)) out.add(Number(readFileSync(pidFile, 'utf8')));
        }
      }
      return out;
    };
    const groups = instanceGroups(alive);
    const procs = processesIn(groups);
    const sessions = await sql<{ pid: number }>(ADMIN_URL, "SELECT pid FROM pg_stat_activity WHERE starts_with(datname, 'sluice_env_bench_')");
    const sessionKb = sessions.reduce((s, r) => s + rssOf(r.pid), 0);
    const [copies] = await sql<{ bytes: string; n: string }>(ADMIN_URL, "SELECT coalesce(sum(pg_database_size(datname)), 0)::text AS bytes, count(*)::text AS n FROM pg_database WHERE starts_with(datname, 'sluice_env_bench_')");

    // The same twenty with the idle ones scaled to zero: idleAfter is made 1s (the pipeline file is read at each
    // check), every environment sleeps, then one request wakes one of them; its first byte is the wake's latency.
    const pipelineFile = join(app, 'sluice.yaml');
    writeFileSync(pipelineFile, `${readFileSync(pipelineFile, 'utf8')}environments: { idleAfter: 1s }\n`);
    const apiUrl = up.apiUrl;
    const asleep = async () => (await api<{ name: string; asleep: boolean }[]>(apiUrl, 'GET', '/api/v1/environments')).json.filter((e) => alive.includes(e.name) && e.asleep).length;
    for (let waited = 0; (await asleep()) < alive.length; waited += 250) {
      if (waited > 120_000) throw new Error(`only ${await asleep()} of ${alive.length} environments went to sleep in 2 minutes`);
      await sleep(250);
    }
    // The record says asleep first; its instances then drain and stop (stopTimeout 2s): count once they are gone.
    const stillRunning = () => processesIn(new Set([...groups, ...instanceGroups(alive)])).length;
    const asleepAt = performance.now();
    while (stillRunning() > 0 && performance.now() - asleepAt < 30_000) await sleep(100);
    const sleepingProcs = stillRunning();
    const w0 = performance.now();
    const woken = await get(up.routerPort, `${alive[0]}.${APP}.localhost`);
    const wakeMs = performance.now() - w0;
    if (woken.status !== 200) throw new Error(`waking ${alive[0]}: ${woken.status} ${woken.body}`);
    const oneAwake = processesIn(instanceGroups(alive));

    for (const n of alive) {
      t = performance.now();
      const r = await api(up.apiUrl, 'POST', `/api/v1/environments/${n}/destroy`, { reason: 'bench' }, token);
      if (r.status >= 300) throw new Error(`destroy ${n}: ${r.status} ${JSON.stringify(r.json)}`);
      destroyMs.push(performance.now() - t);
    }
    const [left] = await sql<{ n: string }>(ADMIN_URL, "SELECT count(*)::text AS n FROM pg_database WHERE starts_with(datname, 'sluice_env_bench_')");

    // The peer in the same run: one Node process loading the pg driver and exiting, as the migrations and the app
    // each start one; on a busy machine it says how much of a spin-up is just starting Node.
    const pgModule = join(REPO, 'node_modules', 'pg', 'lib', 'index.js');
    const nodeStart: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s0 = performance.now();
      execFileSync(process.execPath, ['--input-type=module', '-e', 'await import(process.env.PG_MODULE)'], { env: { ...process.env, PG_MODULE: pgModule } });
      nodeStart.push(performance.now() - s0);
    }
    const steady = spinMs.slice(1);
    const result = {
      runs: RUNS,
      sourceDatabaseMb: sourceMb,
      spinUpMs: {
        median: round(pct(spinMs, 50)),
        p95: round(pct(spinMs, 95)),
        min: round(Math.min(...spinMs)),
        max: round(Math.max(...spinMs)),
        first: round(spinMs[0]!),
        medianWithoutFirst: steady.length > 0 ? round(pct(steady, 50)) : null,
        all: spinMs.map(round),
      },
      phasesMedianMs: {
        databaseCopy: round(pct(copyMs, 50)),
        migrate: round(pct(migrateMs, 50)),
        instanceStartAndRest: round(pct(spinMs.map((x, i) => x - copyMs[i]! - migrateMs[i]!), 50)),
      },
      peer: {
        nodeWithPgStartMs: round(pct(nodeStart, 50)),
        spinUpOverTwoNodeStarts: Math.round((pct(spinMs, 50) / (2 * pct(nodeStart, 50))) * 100) / 100,
      },
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
      targets: { ...TARGET, medianMet: pct(spinMs, 50) <= TARGET.medianMs, p95Met: pct(spinMs, 95) <= TARGET.p95Ms },
      alive: {
        environments: alive.length,
        instanceProcesses: procs.length,
        instanceRssMb: mb(procs.reduce((s, p) => s + p.rssKb, 0)),
        databaseSessions: sessions.length,
        databaseSessionRssMb: mb(sessionKb),
        copiesOnDiskMb: Math.round(Number(copies!.bytes) / 1048576),
        copies: Number(copies!.n),
      },
      scaledToZero: {
        asleep: alive.length,
        instanceProcesses: sleepingProcs,
        wakeFirstByteMs: round(wakeMs),
        oneWokenProcesses: oneAwake.length,
        oneWokenRssMb: mb(oneAwake.reduce((sum, p) => sum + p.rssKb, 0)),
      },
      destroyMs: { median: round(pct(destroyMs, 50)), p95: round(pct(destroyMs, 95)) },
      databasesLeftAfterDestroy: Number(left!.n),
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `\nspin-up of an environment with its own copy of a ${sourceMb} MB database: median ${result.spinUpMs.median} ms ` +
        `(target ${TARGET.medianMs}: ${result.targets.medianMet ? 'met' : 'NOT met'}), p95 ${result.spinUpMs.p95} ms ` +
        `(target ${TARGET.p95Ms}: ${result.targets.p95Met ? 'met' : 'NOT met'}); ${alive.length} alive: ${procs.length} processes, ` +
        `${result.alive.instanceRssMb} MB RSS, plus ${sessions.length} PostgreSQL sessions (${result.alive.databaseSessionRssMb} MB RSS); ` +
        `scaled to zero: ${sleepingProcs} processes, one woken by a request in ${result.scaledToZero.wakeFirstByteMs} ms`,
    );
    mkdirSync(join(REPO, 'bench-results'), { recursive: true });
    writeFileSync(join(REPO, 'bench-results', 'env.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await up?.down().catch(() => {});
    const envs = await sql<{ datname: string }>(ADMIN_URL, "SELECT datname FROM pg_database WHERE starts_with(datname, 'sluice_env_bench_')").catch(() => []);
    const spares = Array.from({ length: 6 }, (_, n) => spareName(SOURCE, n));
    await pgDropAfterQuiet([SOURCE, PROD, snapshotName(SOURCE), ...spares, ...envs.map((r) => r.datname)]).catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
    rmSync(join(app, '..'), { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench:env could not measure: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
