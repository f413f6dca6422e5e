// The data plane's composition root: the router as a process of its own, which outlives the control plane.
//   node dist/src/main/data-plane.js --data-dir D [--host H] [--port P] [--max-connections N] [--max-head-bytes B]
//     [--flags-host H] [--flags-port P] [--flags-max-connections N] [--flags-max-streams N] [--flags-rate N]
// `sluice up` starts it under a small supervisor (or adopts the one running); `sluice down` stops it.
// It loads only the router and the flag evaluator: no store, no pipeline parsing, no judge. Flags are served on a
// listener of their own (OFREP, the stream, the sync feed), so the router's hot path is not touched.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROL_PROTOCOL, ControlServer } from '../adapters/proxy-http1/control-server.js';
import { controlSocketPath, dataPlaneDir, EXIT_CONFIG } from '../adapters/proxy-http1/data-plane-process.js';
import { FlagServer, FLAG_SERVER_LIMITS } from '../adapters/proxy-http1/flag-server.js';
import { FlagSets } from '../adapters/proxy-http1/flag-sets.js';
import { FlagsFile } from '../adapters/proxy-http1/flags-file.js';
import { MAX_HEAD_BYTES } from '../adapters/proxy-http1/http1.js';
import { Router } from '../adapters/proxy-http1/router.js';
import { RoutesFile } from '../adapters/proxy-http1/routes-file.js';
import { compileFlagSet } from '../flags/flag-compiler.js';
import { openFileCount, openFileLimit, PRIVATE_UMASK } from '../platform/files.js';

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

async function main(): Promise<void> {
  // Its routes, log and control socket are for its user only, whoever started it.
  process.umask(PRIVATE_UMASK);
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7080' },
      'max-connections': { type: 'string', default: '10000' },
      'max-head-bytes': { type: 'string', default: String(MAX_HEAD_BYTES) },
      'flags-host': { type: 'string' },
      'flags-port': { type: 'string', default: '7090' },
      'flags-max-connections': { type: 'string', default: String(FLAG_SERVER_LIMITS.maxConnections) },
      'flags-max-streams': { type: 'string', default: String(FLAG_SERVER_LIMITS.maxStreams) },
      'flags-rate': { type: 'string', default: String(FLAG_SERVER_LIMITS.ratePerSecond) },
    },
    strict: true,
  });
  const dataDir = values['data-dir'];
  const port = Number(values.port);
  let maxConnections = Number(values['max-connections']);
  const maxHeadBytes = Number(values['max-head-bytes']);
  const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;
  const flagsHost = values['flags-host'] ?? values.host;
  const flagsPort = Number(values['flags-port']);
  const flagsMaxConnections = Number(values['flags-max-connections']);
  const flagsMaxStreams = Number(values['flags-max-streams']);
  const flagsRate = Number(values['flags-rate']);
  const valid =
    whole(port, 0) && port <= 65535 && whole(maxConnections, 1) && whole(maxHeadBytes, 1024) &&
    whole(flagsPort, 0) && flagsPort <= 65535 && whole(flagsMaxConnections, 1) && whole(flagsMaxStreams, 1) && whole(flagsRate, 1);
  if (!dataDir || !valid) {
    log('data plane: usage: data-plane.js --data-dir D [--host H] [--port P] [--max-connections N] [--max-head-bytes B (1024 or more)] [--flags-host H] [--flags-port P] [--flags-max-connections N] [--flags-max-streams N] [--flags-rate N (requests per second per API key)]');
    process.exit(EXIT_CONFIG);
  }
  // Each client may need a connection to an instance too: past what the file limit allows, clients get 503 instead of
  // being dropped unanswered when the process runs out of file descriptors. What is open already (Node's own, the
  // log) is not available, and a spare share is kept for connections being refused and for the routes file.
  const files = openFileLimit();
  let maxRefusing: number | undefined;
  if (files !== undefined) {
    const spare = Math.min(64, Math.floor(files / 4));
    maxRefusing = Math.max(1, spare - 8);
    const fits = Math.max(1, Math.floor((files - (openFileCount() ?? 32) - spare) / 2));
    if (fits < maxConnections) {
      log(`data plane: maxConnections lowered from ${maxConnections} to ${fits}: this process may open ${files} files (ulimit -n)`);
      maxConnections = fits;
    }
  }
  mkdirSync(dataPlaneDir(dataDir), { recursive: true, mode: 0o700 });
  const file = new RoutesFile(join(dataPlaneDir(dataDir), 'routes.json'), log);
  let control: ControlServer | undefined = undefined;
  const router = new Router({ maxConnections, maxHeadBytes, ...(maxRefusing !== undefined ? { maxRefusing } : {}), onTrip: (t) => {
    save();
    log(`guard tripped at ${t.stage}: ${t.version}'s users are back on stable: ${t.reason}`);
    control?.tripped(t);
  }, onNotice: log, onWake: (w) => {
    log(`a request for ${w.host} waits: ${w.stage} is asleep; asking the control plane to wake it`);
    control?.wake(w);
  } });
  const save = () => file.save(router.savedRoutes());
  for (const [host, r] of Object.entries(file.load())) router.setRoute(host, r.spec, r.trip);
  // Flags: the last sets the control plane published, compiled again from the flags file.
  // The router counts requests per flag variant for the flags each stage's set names (docs/adr/0021, "Per-variant counters").
  const flags = new FlagSets({
    compile: compileFlagSet,
    file: new FlagsFile(join(dataPlaneDir(dataDir), 'flags.json'), log),
    notice: log,
    served: (stage, st) => router.setCountedFlags(stage, st),
  });
  flags.load();
  const flagServer = new FlagServer({
    sets: flags,
    maxConnections: flagsMaxConnections,
    maxStreams: flagsMaxStreams,
    ratePerSecond: flagsRate,
    variants: router.metrics,
    notice: log,
  });
  let listening: number;
  let flagsListening: number;
  try {
    listening = await router.listen(port, values.host);
  } catch (e) {
    log(`data plane: cannot listen on ${values.host}:${port}: ${(e as Error).message}`);
    process.exit(EXIT_CONFIG);
  }
  try {
    flagsListening = await flagServer.listen(flagsPort, flagsHost);
  } catch (e) {
    log(`data plane: the flag listener cannot listen on ${flagsHost}:${flagsPort}: ${(e as Error).message}`);
    process.exit(EXIT_CONFIG);
  }
  const startedAt = Date.now();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('data plane: stopping');
    await control?.close();
    await flagServer.close();
    await router.close(5000);
    process.exit(0);
  };
  control = new ControlServer({
    router,
    flags,
    socketPath: controlSocketPath(dataDir),
    health: () => ({
      protocol: CONTROL_PROTOCOL,
      pid: process.pid,
      build: process.env.SLUICE_BUILD ?? 'unknown',
      startedAt,
      port: listening,
      host: values.host,
      routes: Object.keys(router.savedRoutes()).length,
      flagsPort: flagsListening,
      flagsHost,
      flags: flags.revisions(),
    }),
    saved: save,
    shutdown: () => void stop(),
  });
  await control.listen();
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  log(`data plane: serving ${Object.keys(router.savedRoutes()).length} route(s) on http://${values.host}:${listening}, flags of ${Object.keys(flags.revisions()).length} stage(s) on http://${flagsHost}:${flagsListening} (pid ${process.pid})`);
}

void main().catch((e: Error) => {
  log(`data plane: ${e.stack ?? e.message}`);
  process.exit(1);
});
