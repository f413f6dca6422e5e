// npm run bench:router: the same 90/10 split of the same two backends behind nginx, HAProxy, http-proxy-3 and
// Sluice's router, side by side in one run, loaded with wrk; medians of ROUNDS rounds; figures and ratios to JSON.
// Three loads, each run against every setup in turn:
// - saturated: 32 connections sending back to back; gives throughput (its median latency is then just
//   connections / throughput, so it is reported but is not the latency figure; see docs/adr/0007);
// - paced: the latency a proxy adds at a load it is sized for. Each connection pauses a random (exponential) time
//   before each request, the same pauses for every setup; the connections are as many as make the pauses alone
//   offer half of what Sluice carried saturated. This is the figure the latency target is held to;
// - one connection, one request at a time: the latency a proxy adds when nothing queues.
// Every request carries an `x-user-id` header; `sluice-variants` is Sluice's router with a flag counted per variant
// from it (docs/adr/0021, "Per-variant counters"): its cost is read against `sluice` in the same run.
// Installs nginx, HAProxy and wrk from Debian's packages when missing (as root).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/platform/net.js';
import { startBackend } from '../helpers/backends.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = process.env.BENCH_DURATION ?? '6s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PATH = '/status?code=200';
/** The user every request names (x-user-id): one evaluation per request, whatever its value. */
const USER = 'user-4271';

function ensureTools(): void {
  const missing = ['nginx', 'haproxy', 'wrk'].filter((t) => spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`]).status !== 0);
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} from Debian's packages…`);
  const apt = (pkgs: string[]) => spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  const pkgs = ['nginx', 'haproxy', 'wrk'];
  if (!apt(pkgs)) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    if (!apt(pkgs)) throw new Error(`could not install ${pkgs.join(', ')} (run as root on Debian, or install them)`);
  }
}

interface WrkResult {
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

// wrk calls delay() before each request on a connection: exponential gaps make the arrivals a Poisson process.
const POISSON_SCRIPT = `local mean
function init(args) mean = tonumber(args[1]) end
function delay() return math.floor(-math.log(1 - math.random()) * mean + 0.5) end
`;

/** `gapMs`: mean pause before each request on a connection (paced load); none when omitted. */
function wrk(port: number, host?: string, duration = DURATION, connections = CONNECTIONS, gapMs?: number): WrkResult {
  const args = ['-t1', `-c${connections}`, `-d${duration}`, '--latency', '-H', `x-user-id: ${USER}`, ...(host ? ['-H', `Host: ${host}`] : [])];
  if (gapMs !== undefined) args.push('-s', join(work, 'poisson.lua'));
  args.push(`http://127.0.0.1:${port}${PATH}`);
  if (gapMs !== undefined) args.push('--', String(gapMs));
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const pct = (p: string) => toMs(new RegExp(`\\s${p}%\\s+(\\S+)`).exec(out)?.[1] ?? '');
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (errs ? Number(errs[1]) : 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50Ms: pct('50'), p90Ms: pct('90'), p99Ms: pct('99'), errors };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

ensureTools();
const stable = await startBackend('stable');
const canary = await startBackend('canary');
const work = mkdtempSync(join(tmpdir(), 'sluice-bench-router-'));
writeFileSync(join(work, 'poisson.lua'), POISSON_SCRIPT);

// nginx: one worker (the Node proxies use one core too), keep-alive upstreams, weights 9:1.
const nginxPort = await freePort();
mkdirSync(join(work, 'logs'));
writeFileSync(
  join(work, 'nginx.conf'),
  `worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${stable.port} weight=9; server 127.0.0.1:${canary.port} weight=1; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }
  }
}
`,
);
const binary = (name: string) => spawnSync('sh', ['-c', `command -v ${name} || echo /usr/sbin/${name}`], { encoding: 'utf8' }).stdout.trim();
const nginx = spawn(binary('nginx'), ['-p', work, '-c', join(work, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });

// HAProxy: one thread, connections to the instances kept and shared between clients, weights 9:1.
const haproxyPort = await freePort();
writeFileSync(
  join(work, 'haproxy.cfg'),
  `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 65s
  timeout server 60s
frontend bench
  bind 127.0.0.1:${haproxyPort}
  default_backend app
backend app
  balance roundrobin
  server stable 127.0.0.1:${stable.port} weight 9
  server canary 127.0.0.1:${canary.port} weight 1
`,
);
const haproxy = spawn(binary('haproxy'), ['-db', '-f', join(work, 'haproxy.cfg')], { stdio: 'inherit' });

// The Node proxies run in processes of their own, as they would in production: http-proxy-3 (the usual Node proxy
// library, keep-alive agent, upstream chosen at random 90/10) and Sluice's router (the same split, per request).
const PROXY_SCRIPT = fileURLToPath(new URL('./proxy-server.js', import.meta.url));
async function startProxy(kind: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [PROXY_SCRIPT, kind, String(port), String(stable.port), String(canary.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res, rej) => {
    proc.stdout!.once('data', () => res());
    proc.once('exit', (c) => rej(new Error(`${kind} proxy exited with ${c}`)));
  });
  return { port, proc };
}
const hp = await startProxy('http-proxy-3');
const sl = await startProxy('sluice');
const slv = await startProxy('sluice-variants');
const HOST = 'bench.shop.localhost';
await sleep(500);

const setups: { name: string; port: number; host?: string }[] = [
  { name: 'direct', port: stable.port },
  { name: 'nginx', port: nginxPort },
  { name: 'haproxy', port: haproxyPort },
  { name: 'http-proxy-3', port: hp.port },
  { name: 'sluice', port: sl.port, host: HOST },
  { name: 'sluice-variants', port: slv.port, host: HOST },
];
type Rounds = Record<string, WrkResult[]>;
const fresh = (): Rounds => Object.fromEntries(setups.map((s) => [s.name, []]));
const saturated = fresh();
const paced = fresh();
const single = fresh();
/** ROUNDS rounds, each running every setup once in turn, so a slow spell of the machine hits them all alike. */
function measure(label: string, into: Rounds, run: (s: (typeof setups)[number]) => WrkResult): void {
  for (let r = 0; r < ROUNDS; r++)
    for (const s of setups) {
      const x = run(s);
      into[s.name]!.push(x);
      console.log(`${label} round ${r + 1} ${s.name.padEnd(15)} ${Math.round(x.rps)} req/s  p50 ${x.p50Ms.toFixed(3)} ms  p99 ${x.p99Ms.toFixed(3)} ms  errors ${x.errors}`);
    }
}
// wrk's pauses are whole milliseconds: the rate is set by the number of connections.
const PACE_GAP_MS = 2;
let pacedConnections = 0;
try {
  for (const s of setups) wrk(s.port, s.host, '2s'); // warm-up: JIT, connection pools
  measure('saturated', saturated, (s) => wrk(s.port, s.host));
  pacedConnections = Math.max(1, Math.round((median(saturated.sluice!.map((x) => x.rps)) / 2) * (PACE_GAP_MS / 1000)));
  measure(`paced ×${pacedConnections}`, paced, (s) => wrk(s.port, s.host, DURATION, pacedConnections, PACE_GAP_MS));
  measure('one connection', single, (s) => wrk(s.port, s.host, '3s', 1));
} finally {
  nginx.kill('SIGTERM');
  haproxy.kill('SIGTERM');
  hp.proc.kill('SIGTERM');
  sl.proc.kill('SIGTERM');
  slv.proc.kill('SIGTERM');
  await stable.stop();
  await canary.stop();
  rmSync(work, { recursive: true, force: true });
}

function summarize(rounds: Rounds): Record<string, WrkResult> {
  return Object.fromEntries(
    setups.map((s) => {
      const rs = rounds[s.name]!;
      const med = (f: (x: WrkResult) => number) => median(rs.map(f));
      const row: WrkResult = {
        rps: Math.round(med((x) => x.rps)),
        p50Ms: med((x) => x.p50Ms),
        p90Ms: med((x) => x.p90Ms),
        p99Ms: med((x) => x.p99Ms),
        errors: rs.reduce((a, x) => a + x.errors, 0),
      };
      return [s.name, row];
    }),
  );
}
const sat = summarize(saturated);
const pace = summarize(paced);
const one = summarize(single);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const added = (rows: Record<string, WrkResult>, name: string) => r3(rows[name]!.p50Ms - rows.direct!.p50Ms);
const ratios = {
  sluiceVsNginxThroughput: r3(sat.sluice!.rps / sat.nginx!.rps),
  sluiceVsHaproxyThroughput: r3(sat.sluice!.rps / sat.haproxy!.rps),
  sluiceVsHttpProxy3Throughput: r3(sat.sluice!.rps / sat['http-proxy-3']!.rps),
  sluiceAddedP50Ms: added(pace, 'sluice'),
  nginxAddedP50Ms: added(pace, 'nginx'),
  haproxyAddedP50Ms: added(pace, 'haproxy'),
  httpProxy3AddedP50Ms: added(pace, 'http-proxy-3'),
  sluiceAddedP50MsOneConnection: added(one, 'sluice'),
  nginxAddedP50MsOneConnection: added(one, 'nginx'),
  sluiceAddedP50MsSaturated: added(sat, 'sluice'),
  nginxAddedP50MsSaturated: added(sat, 'nginx'),
  /** Counting a flag's variants per request, against the same router without: throughput, and p50 added (paced, ms). */
  sluiceVariantsVsSluiceThroughput: r3(sat['sluice-variants']!.rps / sat.sluice!.rps),
  sluiceVariantsAddedP50Ms: r3(pace['sluice-variants']!.p50Ms - pace.sluice!.p50Ms),
};
const targets = {
  sluiceVsNginxThroughput: { atLeast: 0.5, met: ratios.sluiceVsNginxThroughput >= 0.5 },
  sluiceVsHttpProxy3Throughput: { atLeast: 1.2, met: ratios.sluiceVsHttpProxy3Throughput >= 1.2 },
  sluiceAddedP50Ms: { atMost: 0.3, met: ratios.sluiceAddedP50Ms <= 0.3 },
};
const result = {
  method: {
    tool: `wrk -t1 -d${DURATION} --latency`,
    path: PATH,
    split: '90/10',
    rounds: ROUNDS,
    statistic: 'median of rounds',
    saturated: `${CONNECTIONS} connections, back to back`,
    paced: `${pacedConnections} connections, each pausing a random exponential time (mean ${PACE_GAP_MS} ms) before each request; ` +
      'the pauses alone offer half of what Sluice carried saturated; the latency target is held to this load (docs/adr/0007)',
    oneConnection: '1 connection, back to back',
    node: process.version,
  },
  saturated: sat,
  paced: pace,
  oneConnection: one,
  ratios,
  targets,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/router.json', `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
console.log('written to bench-results/router.json');
for (const [name, t] of Object.entries(targets)) console.log(`target ${name}: ${t.met ? 'met' : 'NOT met'}`);
