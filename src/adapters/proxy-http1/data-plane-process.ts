import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../../kernel/errors.js';
import { groupAlive, isAlive, signalGroup } from '../../platform/durable-run.js';
import { tail } from '../../platform/files.js';
import { freePort, portFree } from '../../platform/net.js';
import { CONTROL_PROTOCOL, type DataPlaneHealth } from './control-server.js';
import { RouterClient } from './router-client.js';

/** Exit code of a data plane that cannot start with its settings (port taken, say): its supervisor gives up. */
export const EXIT_CONFIG = 78;

/** Where the data plane of a data directory keeps its files: routes, log, supervisor pid, control socket. */
export function dataPlaneDir(dataDir: string): string {
  return join(dataDir, 'dataplane');
}

/** The control socket's path (Unix socket paths are short: a long data directory gets one in the temp folder). */
export function controlSocketPath(dataDir: string): string {
  const inDir = join(dataPlaneDir(dataDir), 'control.sock');
  if (Buffer.byteLength(inDir) < 100) return inDir;
  return join(tmpdir(), `sluice-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}.sock`);
}

export interface DataPlaneSettings {
  dataDir: string;
  host: string;
  port: number;
  maxConnections: number;
  /** Where the flag listener (OFREP, stream, sync feed) listens; port 0 (the default) picks a free one once. Default host: `host`. */
  flagsHost?: string;
  flagsPort?: number;
  /** The most bytes a request head may take (431 past it); the router's default when absent. */
  maxHeadBytes?: number;
  /** The data plane's entry script (dist/src/main/data-plane.js). */
  entry: string;
  build: string;
}

export interface RunningDataPlane {
  client: RouterClient;
  health: DataPlaneHealth;
  /** True when a data plane was already running and was adopted. */
  adopted: boolean;
}

// The supervisor: a shell loop that starts the data plane again 0.2 s after it dies (a crash, or kill -9), until
// `sluice down` leaves a stop file; a data plane that cannot start with its settings ends the loop.
const SUPERVISOR = `dir=$1; shift
echo $$ > "$dir/supervisor.pid"
while :; do
  "$@" >> "$dir/router.log" 2>&1
  code=$?
  if [ -f "$dir/stop" ] || [ "$code" -eq ${EXIT_CONFIG} ]; then exit "$code"; fi
  echo "--- sluice: the data plane exited ($code); starting it again" >> "$dir/router.log"
  sleep 0.2
done`;

/**
 * Adopts the data plane of this data directory when one answers (the way instances are adopted), or starts one: a
 * process of its own, in its own process group, that outlives the control plane. Stopping `sluice up` never stops it;
 * `sluice down` does.
 */
export async function ensureDataPlane(s: DataPlaneSettings, notice: (line: string) => void): Promise<RunningDataPlane> {
  const dir = dataPlaneDir(s.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = controlSocketPath(s.dataDir);
  const client = new RouterClient(socket);
  const probe = new RouterClient(socket, 0);
  try {
    const health = await probe.health();
    if (health.protocol === CONTROL_PROTOCOL) return { client, health, adopted: true };
    notice(`the running data plane (pid ${health.pid}, build ${health.build}) speaks protocol ${health.protocol}, not ${CONTROL_PROTOCOL}; run \`sluice down\`, then \`sluice up\``);
    throw new Error('data plane protocol mismatch');
  } catch (e) {
    if ((e as Error).message === 'data plane protocol mismatch') throw e;
  } finally {
    probe.close();
  }
  const supervisor = readSupervisor(dir);
  if (supervisor !== undefined && groupAlive(supervisor)) {
    // Its supervisor is there and the data plane is starting again: wait for it rather than start a second one.
    notice(`waiting for the data plane of ${s.dataDir} to come back (supervisor pid ${supervisor})`);
  } else {
    rmSync(join(dir, 'stop'), { force: true });
    if (s.port !== 0 && !(await portFree(s.port, s.host))) {
      client.close();
      throw new SluiceError('CONFIG_INVALID', `the router port ${s.port} on ${s.host} is in use (another sluice up, with another data directory?); pass --router-port to use another`);
    }
    // Port 0 is chosen once, here: a data plane started again by its supervisor comes back on the same port.
    const port = s.port === 0 ? await freePort() : s.port;
    const flagsHost = s.flagsHost ?? s.host;
    const wantFlagsPort = s.flagsPort ?? 0;
    if (wantFlagsPort !== 0 && !(await portFree(wantFlagsPort, flagsHost))) {
      client.close();
      throw new SluiceError('CONFIG_INVALID', `the flags port ${wantFlagsPort} on ${flagsHost} is in use (another sluice up, with another data directory?); pass --flags-port (or SLUICE_FLAGS_PORT) to use another`);
    }
    const flagsPort = wantFlagsPort === 0 ? await freePort() : wantFlagsPort;
    const log = openSync(join(dir, 'router.log'), 'a');
    const child = spawn(
      '/bin/sh',
      ['-c', SUPERVISOR, 'sluice-data-plane', dir, process.execPath, s.entry, '--data-dir', s.dataDir, '--host', s.host, '--port', String(port), '--max-connections', String(s.maxConnections), '--flags-host', flagsHost, '--flags-port', String(flagsPort), ...(s.maxHeadBytes ? ['--max-head-bytes', String(s.maxHeadBytes)] : [])],
      { detached: true, stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SLUICE_BUILD: s.build, ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}) } },
    );
    child.unref();
    closeSync(log);
  }
  for (const until = Date.now() + 15_000; Date.now() < until; ) {
    try {
      const health = await client.health();
      return { client, health, adopted: false };
    } catch {
      const sup = readSupervisor(dir);
      if (sup !== undefined && !groupAlive(sup) && Date.now() > until - 14_000) break;
      await sleep(50);
    }
  }
  client.close();
  throw new Error(`the data plane did not start; its log ends:\n${tail(join(dir, 'router.log'), 1500)}`);
}

/** Stops the data plane of a data directory (its supervisor first, so nothing starts it again). True if one ran. */
export async function stopDataPlane(dataDir: string): Promise<boolean> {
  const dir = dataPlaneDir(dataDir);
  writeFileSync(join(dir, 'stop'), '');
  const supervisor = readSupervisor(dir);
  let ran = supervisor !== undefined && groupAlive(supervisor);
  const client = new RouterClient(controlSocketPath(dataDir), 0);
  let pid: number | undefined;
  try {
    pid = (await client.health()).pid;
    ran = true;
    await client.shutdownNow();
  } catch {
    // not answering: signals below
  } finally {
    client.close();
  }
  for (const until = Date.now() + 10_000; Date.now() < until; ) {
    if (!(supervisor !== undefined && groupAlive(supervisor)) && !(pid !== undefined && isAlive(pid))) return ran;
    await sleep(50);
  }
  if (supervisor !== undefined) signalGroup(supervisor, 'SIGKILL');
  if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  return ran;
}

function readSupervisor(dir: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(join(dir, 'supervisor.pid'), 'utf8'), 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}
