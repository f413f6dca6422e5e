// npm run bench:abuse: does Sluice hold its load while it is abused? `sluice up` runs the example shop (a fresh copy,
// free ports) with 1.0.0 released; then, side by side with every scenario, normal users: prod requests through the
// router (PROD_RPS a second, at a fixed pace, on keep-alive connections) and GET /api/v1/health (HEALTH_RPS a second),
// whose latencies (p50, p99) and failures are measured, with the resident memory (VmRSS) of the control plane and of
// the data plane sampled twice a second. First with no abuse (the baseline), then during each scenario in turn, each
// SCENARIO_MS long:
// - judge: a 1 MB POST /api/v1/judge, again as soon as it is answered;
// - streams: 60 GET /api/v1/events?after=0 clients that never read;
// - trickle: 1,000 connections to the router, each sending its request head a byte a second (under the router's
//   default cap of 10,000 connections);
// - empty lines: a connection sending nothing but empty lines (up to 1 MB/s), again whenever it is closed.
// The abuse runs in a child process of its own, so that its work does not delay the measuring. Targets: prod p99 at
// most 50 ms and health p99 at most 200 ms in every phase, resident memory at most 100 MB above the baseline, every
// process alive at the end. Figures only, never a gate: it exits 0 whether the targets are met or not, 1 only when it
// could not measure. Writes bench-results/abuse.json. Loopback only; stops what it started (`sluice down`).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { downSluice } from '../../src/main/single-node.js';
import { api, copyExample, journeyEnd, REPO, startUp, type UpProcess } from '../helpers/sluice-process.js';

const SCENARIO_MS = Number(process.env.BENCH_SCENARIO_MS ?? 12_000);
const PROD_RPS = 50;
const HEALTH_RPS = 10;
const REQUEST_TIMEOUT_MS = 5000;
const HOST = 'prod.shop.localhost';
const TARGETS = { prodP99Ms: 50, healthP99Ms: 200, rssGrowthMb: 100 };
const SCENARIOS = ['judge', 'streams', 'trickle', 'empty-lines'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Target {
  apiUrl: string;
  apiPort: number;
  routerPort: number;
  token: string;
}

// ---- the abuse, in a child process ---------------------------------------------------------------------------------

/**
 * A valid judge request of about 1 MB (within the API's 1 MiB body limit): the example's metrics, repeated under new
 * names with 4,000 measurements a side (the judge compares at most 20 million pairs a metric), until the body is that
 * large.
 */
function bigJudgeBody(): string {
  const example = JSON.parse(readFileSync(join(REPO, 'examples', 'judge', 'latency-regression.json'), 'utf8')) as { config: unknown; metrics: Record<string, unknown>[] };
  const series = (base: number) => Array.from({ length: 4000 }, (_, i) => Math.round((base + Math.sin(i) * 3 + (i % 7)) * 100) / 100);
  const metrics: Record<string, unknown>[] = [];
  let body = '';
  for (let k = 0; ; k++) {
    const m = example.metrics[k % example.metrics.length]!;
    const next = [...metrics, { ...m, name: `${String(m.name)}-${k}`, canary: series(40 + (k % 5)), baseline: series(30 + (k % 5)) }];
    const text = JSON.stringify({ ...example, metrics: next });
    if (Buffer.byteLength(text) > 1_000_000) return body;
    metrics.splice(0, metrics.length, ...next);
    body = text;
  }
}

async function abuse(kind: Scenario, t: Target, untilMs: number): Promise<string> {
  const live = () => Date.now() < untilMs;
  const sockets = new Set<Socket>();
  const open = (port: number) => {
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.on('error', () => {});
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    return s;
  };
  let note = '';
  try {
    switch (kind) {
      case 'judge': {
        const body = bigJudgeBody();
        let sent = 0;
        let answered = 0;
        const statuses: Record<string, number> = {};
        while (live()) {
          sent++;
          const ok = await new Promise<boolean>((res) => {
            const headers = { 'content-type': 'application/json', authorization: `Bearer ${t.token}` };
            const req = request(`${t.apiUrl}/api/v1/judge`, { method: 'POST', headers, timeout: Math.max(1, untilMs - Date.now()) }, (r) => {
              statuses[r.statusCode ?? 0] = (statuses[r.statusCode ?? 0] ?? 0) + 1;
              r.resume();
              r.on('end', () => res(true));
            });
            req.on('timeout', () => req.destroy());
            req.on('error', () => res(false));
            req.end(body);
          });
          if (ok) answered++;
        }
        note = `${(Buffer.byteLength(body) / 1e6).toFixed(2)} MB requests: ${sent} sent, ${answered} answered (statuses ${JSON.stringify(statuses)})`;
        break;
      }
      case 'streams': {
        for (let i = 0; i < 60; i++) {
          const s = open(t.apiPort);
          s.write(`GET /api/v1/events?after=0 HTTP/1.1\r\nhost: 127.0.0.1:${t.apiPort}\r\nauthorization: Bearer ${t.token}\r\naccept: text/event-stream\r\n\r\n`);
          s.pause(); // never reads
        }
        while (live()) await sleep(100);
        note = `60 clients, ${sockets.size} still connected at the end`;
        break;
      }
      case 'trickle': {
        const head = `GET /status HTTP/1.1\r\nhost: ${HOST}\r\nx-trickle: ${'t'.repeat(40)}\r\n\r\n`;
        const conns: { s: Socket; at: number }[] = [];
        for (let i = 0; i < 1000; i++) {
          conns.push({ s: open(t.routerPort), at: 0 });
          if (i % 100 === 99) await sleep(10);
        }
        // A byte a second each, spread over the second.
        let sentBytes = 0;
        for (let k = 0; live(); k++) {
          const c = conns[k % conns.length]!;
          if (!c.s.destroyed && c.at < head.length) {
            c.s.write(head[c.at++]!);
            sentBytes++;
          }
          if (k % 10 === 9) await sleep(10);
        }
        note = `1000 connections, ${sockets.size} still open at the end, ${sentBytes} bytes sent`;
        break;
      }
      case 'empty-lines': {
        const lines = Buffer.alloc(1024, '\r\n');
        let connections = 0;
        let bytes = 0;
        while (live()) {
          const s = open(t.routerPort);
          connections++;
          await new Promise<void>((res) => s.once('connect', () => res()));
          // 1 KB a millisecond at most (about 1 MB/s): enough to be cut off every few dozen milliseconds, without the
          // bench's own writing taking the machine's cores from what it measures.
          while (live() && !s.destroyed && s.writable) {
            bytes += lines.length;
            if (!s.write(lines)) await Promise.race([new Promise((r) => s.once('drain', r)), new Promise((r) => s.once('close', r))]);
            await sleep(1);
          }
          s.destroy();
        }
        note = `${connections} connections, ${(bytes / 1e6).toFixed(1)} MB of empty lines written`;
        break;
      }
    }
  } finally {
    for (const s of sockets) s.destroy();
  }
  return note;
}

// ---- measuring, in the main process --------------------------------------------------------------------------------

interface Phase {
  phase: string;
  note: string;
  prod: { p50Ms: number; p99Ms: number; requests: number; failed: number };
  health: { p50Ms: number; p99Ms: number; requests: number; failed: number };
  rssMaxMb: Record<string, number>;
  met: { prodP99: boolean; healthP99: boolean };
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
};

function rssMb(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Paced GETs: one every 1000/rps ms whatever the answers do; each request's time, or a failure past the timeout. */
function pacedLoad(rps: number, send: (agent: Agent) => Promise<number>) {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let times: number[] = [];
  let failed = 0;
  let stopped = false;
  const pending = new Set<Promise<void>>();
  const loop = (async () => {
    const start = performance.now();
    for (let k = 0; !stopped; k++) {
      const due = start + (k * 1000) / rps;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      const p = send(agent)
        .then((status) => {
          if (status >= 200 && status < 500) times.push(performance.now() - t0);
          else failed++;
        })
        .catch(() => {
          failed++;
        });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  })();
  return {
    take() {
      const out = { times, failed };
      times = [];
      failed = 0;
      return out;
    },
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(pending);
      agent.destroy();
    },
  };
}

function get(url: string, headers: Record<string, string>, agent: Agent): Promise<number> {
  return new Promise((res, rej) => {
    const req = request(url, { headers, agent, timeout: REQUEST_TIMEOUT_MS }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

function runAbuse(kind: Scenario, t: Target, ms: number): { child: ChildProcess; done: Promise<string> } {
  const child = fork(fileURLToPath(import.meta.url), ['--abuse', kind, JSON.stringify(t), String(ms)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const done = new Promise<string>((res) => {
    let note = '';
    child.on('message', (m) => (note = String(m)));
    child.once('exit', () => res(note));
  });
  return { child, done };
}

async function main(): Promise<void> {
  const app = copyExample();
  const dataDir = join(app, '.sluice');
  let up: UpProcess | undefined;
  const stopAll = async () => {
    if (up) {
      // A control plane kept busy (a judge request without a time limit) may not get to its SIGTERM: then SIGKILL.
      const proc = up.proc;
      await Promise.race([up.stop(), sleep(15_000)]);
      if (proc.exitCode === null && proc.signalCode === null) await up.kill();
    }
    await downSluice(dataDir);
  };
  const deadline = setTimeout(() => {
    console.error('bench:abuse: gave up after 6 minutes');
    void stopAll().finally(() => process.exit(1));
  }, 360_000);
  try {
    try {
      up = await startUp(app, dataDir);
    } catch (e) {
      // A first start creates the database; on a busy machine that can outlast the helper's minute. Once more.
      console.error(`sluice up did not start (${(e as Error).message.split('\n')[0]}); trying once more`);
      await downSluice(dataDir);
      up = await startUp(app, dataDir);
    }
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const routerPid = Number(/data plane pid (\d+)/.exec(up.output())?.[1]);
    const pids: Record<string, number> = { controlPlane: up.proc.pid!, dataPlane: routerPid };
    await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token);
    if ((await journeyEnd(up.apiUrl, '1.0.0', 120_000)) !== 'succeeded') throw new Error('1.0.0 did not go through');
    const target: Target = { apiUrl: up.apiUrl, apiPort: Number(new URL(up.apiUrl).port), routerPort: up.routerPort, token };

    const prod = pacedLoad(PROD_RPS, (agent) => get(`http://127.0.0.1:${up!.routerPort}/api/products`, { host: HOST }, agent));
    const health = pacedLoad(HEALTH_RPS, (agent) => get(`${up!.apiUrl}/api/v1/health`, { authorization: `Bearer ${token}` }, agent));
    const phases: Phase[] = [];
    const rssBaseline: Record<string, number[]> = {};
    const measure = async (phase: string, during: () => Promise<string>) => {
      prod.take();
      health.take();
      const most: Record<string, number> = {};
      const sampler = setInterval(() => {
        for (const [name, pid] of Object.entries(pids)) {
          const mb = rssMb(pid);
          if (mb === undefined) continue;
          most[name] = Math.max(most[name] ?? 0, mb);
          if (phase === 'baseline') (rssBaseline[name] ??= []).push(mb);
        }
      }, 500);
      const note = await during();
      clearInterval(sampler);
      const p = prod.take();
      const h = health.take();
      const row: Phase = {
        phase,
        note,
        prod: { p50Ms: quantile(p.times, 0.5), p99Ms: quantile(p.times, 0.99), requests: p.times.length + p.failed, failed: p.failed },
        health: { p50Ms: quantile(h.times, 0.5), p99Ms: quantile(h.times, 0.99), requests: h.times.length + h.failed, failed: h.failed },
        rssMaxMb: most,
        met: {
          prodP99: p.failed === 0 && quantile(p.times, 0.99) <= TARGETS.prodP99Ms,
          healthP99: h.failed === 0 && quantile(h.times, 0.99) <= TARGETS.healthP99Ms,
        },
      };
      phases.push(row);
      console.log(
        `${phase.padEnd(12)} prod p50 ${String(row.prod.p50Ms).padStart(7)} p99 ${String(row.prod.p99Ms).padStart(8)} ms (${row.prod.failed} failed)   ` +
          `health p50 ${String(row.health.p50Ms).padStart(7)} p99 ${String(row.health.p99Ms).padStart(8)} ms (${row.health.failed} failed)   ` +
          `RSS ${Object.entries(most).map(([k, v]) => `${k} ${v} MB`).join(', ')}   ${note}`,
      );
    };
    await sleep(1000);
    await measure('baseline', async () => {
      await sleep(SCENARIO_MS);
      return 'no abuse';
    });
    for (const kind of SCENARIOS) {
      await measure(kind, async () => {
        const a = runAbuse(kind, target, SCENARIO_MS);
        return a.done;
      });
      // Let what the scenario left behind settle before the next one, and count it in neither.
      await sleep(2000);
    }
    await prod.stop();
    await health.stop();

    const baselineMb = Object.fromEntries(Object.entries(rssBaseline).map(([k, v]) => [k, quantile(v, 0.5)]));
    const highest = (k: string) => Math.max(...phases.map((p) => p.rssMaxMb[k] ?? 0));
    const growthMb = Object.fromEntries(Object.keys(pids).map((k) => [k, Math.round((highest(k) - (baselineMb[k] ?? 0)) * 10) / 10]));
    const aliveAtEnd = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, alive(pid)]));
    const met = {
      prodP99: phases.every((p) => p.met.prodP99),
      healthP99: phases.every((p) => p.met.healthP99),
      rssGrowth: Object.values(growthMb).every((g) => g <= TARGETS.rssGrowthMb),
      alive: Object.values(aliveAtEnd).every(Boolean),
    };
    const result = {
      method: {
        app: 'examples/shop, 1.0.0 released, sluice up on free loopback ports',
        users: `${PROD_RPS} prod requests/s through the router (GET /api/products, keep-alive) and ${HEALTH_RPS} GET /api/v1/health/s, paced; a request failing or taking over ${REQUEST_TIMEOUT_MS} ms counts as failed`,
        scenarios: `each ${SCENARIO_MS / 1000} s, in turn, driven by a child process: ${SCENARIOS.join(', ')}`,
        memory: 'VmRSS of the control plane and the data plane every 0.5 s; growth is the highest in any phase less the baseline median',
      },
      phases,
      rss: { baselineMb, growthMb },
      aliveAtEnd,
      targets: TARGETS,
      met,
    };
    mkdirSync('bench-results', { recursive: true });
    writeFileSync('bench-results/abuse.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(`RSS growth: ${Object.entries(growthMb).map(([k, v]) => `${k} ${v} MB`).join(', ')}; alive at the end: ${JSON.stringify(aliveAtEnd)}`);
    for (const [k, v] of Object.entries(met)) console.log(`target ${k}: ${v ? 'met' : 'NOT met'}`);
    console.log('written to bench-results/abuse.json');
  } finally {
    clearTimeout(deadline);
    await stopAll();
    rmSync(join(app, '..'), { recursive: true, force: true });
  }
}

if (process.argv[2] === '--abuse') {
  const [, , , kind, t, ms] = process.argv;
  const note = await abuse(kind as Scenario, JSON.parse(t!) as Target, Date.now() + Number(ms));
  process.send?.(note);
  process.disconnect?.();
} else {
  await main().catch((e: Error) => {
    console.error(`bench:abuse could not measure: ${e.stack ?? e.message}`);
    process.exitCode = 1;
  });
}
