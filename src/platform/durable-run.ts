import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs a shell command at most once per run directory, even if Sluice is killed and restarted meanwhile.
 *
 * The process is started detached (its own process group) through a small sh wrapper that first takes a lock
 * (`mkdir <dir>/lock`, atomic), writes its pid, runs the command with output appended to a log file, and
 * finally writes the exit code to `<dir>/exit`. A second launch with the same directory finds the lock and
 * exits at once with LOCK_HELD; the caller then follows the first run through its pid and exit files.
 */
const LOCK_HELD = 75;
/**
 * Sluice's own files are private (it runs with umask 077); a workload gets the usual 022, so that what it makes is
 * readable as it would be outside Sluice. Its log, pid and exit files are made by the wrapper, under Sluice's umask.
 */
export const WORKLOAD_UMASK = '022';
const COMMAND_WRAPPER = `mkdir "$1/lock" 2>/dev/null || exit ${LOCK_HELD}
echo $$ > "$1/pid.tmp" && mv "$1/pid.tmp" "$1/pid"
(umask ${WORKLOAD_UMASK}; exec /bin/sh -c "$3") >> "$2" 2>&1 < /dev/null
echo $? > "$1/exit.tmp" && mv "$1/exit.tmp" "$1/exit"`;
const SERVICE_WRAPPER = `mkdir "$1/lock" 2>/dev/null || exit ${LOCK_HELD}
echo $$ > "$1/pid.tmp" && mv "$1/pid.tmp" "$1/pid"
: >> "$2"; umask ${WORKLOAD_UMASK}
exec /bin/sh -c "$3" >> "$2" 2>&1 < /dev/null`;
// With secrets, output goes through the redacting filter ($4 node, $5 the filter, then the names of the secrets).
const REDACT_ARGS = `d=$1; l=$2; c=$3; n=$4; f=$5; shift 5`;
const REDACTED_COMMAND_WRAPPER = `mkdir "$1/lock" 2>/dev/null || exit ${LOCK_HELD}
echo $$ > "$1/pid.tmp" && mv "$1/pid.tmp" "$1/pid"
${REDACT_ARGS}
{ (umask ${WORKLOAD_UMASK}; exec /bin/sh -c "$c" 2>&1 < /dev/null); echo $? > "$d/exit.tmp"; } | "$n" "$f" "$@" >> "$l" 2>&1
mv "$d/exit.tmp" "$d/exit"`;
const REDACTED_SERVICE_WRAPPER = `mkdir "$1/lock" 2>/dev/null || exit ${LOCK_HELD}
echo $$ > "$1/pid.tmp" && mv "$1/pid.tmp" "$1/pid"
${REDACT_ARGS}
(umask ${WORKLOAD_UMASK}; exec /bin/sh -c "$c" 2>&1 < /dev/null) | "$n" "$f" "$@" >> "$l" 2>&1`;
const REDACT_FILTER = fileURLToPath(new URL('./redact-filter.js', import.meta.url));

export interface RunSpec {
  /** Holds lock, pid and exit files. One directory per run, named by the effect's idempotency key. */
  dir: string;
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** Output is appended here. */
  logPath: string;
  /** command: runs to completion and records its exit code; service: replaced by the command itself (exec). */
  mode: 'command' | 'service';
  /** Names of variables of `env` whose values never reach the log: its output goes through a redacting filter. */
  redact?: readonly string[];
}

export interface Launched {
  pid: number;
  /** Set when this process started it; null when it was started by an earlier Sluice process and adopted. */
  child: ChildProcess | null;
}

export interface RunOutcome {
  exitCode: number | null;
  /** The process ended without recording an exit code (killed from outside, or the machine restarted). */
  interrupted: boolean;
}

/** Starts the run, or adopts it if an earlier launch with the same directory already started it. */
export async function launch(spec: RunSpec): Promise<Launched> {
  mkdirSync(spec.dir, { recursive: true });
  if (existsSync(join(spec.dir, 'lock'))) return { pid: await awaitPid(spec.dir), child: null };
  const redact = (spec.redact ?? []).filter((n) => spec.env[n]);
  const wrapper = redact.length === 0
    ? spec.mode === 'command' ? COMMAND_WRAPPER : SERVICE_WRAPPER
    : spec.mode === 'command' ? REDACTED_COMMAND_WRAPPER : REDACTED_SERVICE_WRAPPER;
  const child = spawn(
    '/bin/sh',
    ['-c', wrapper, 'sluice-run', spec.dir, spec.logPath, spec.command, ...(redact.length ? [process.execPath, REDACT_FILTER, ...redact] : [])],
    { cwd: spec.cwd, env: spec.env, detached: true, stdio: 'ignore' },
  );
  child.unref();
  const early = new Promise<'exit'>((res) => child.once('exit', () => res('exit')));
  // Wait until the wrapper has written its pid (or exited because the lock was taken meanwhile).
  for (let i = 0; i < 400; i++) {
    const pid = readPid(spec.dir);
    if (pid !== undefined) return { pid, child: pid === child.pid ? child : null };
    if (child.exitCode !== null || child.signalCode !== null) break;
    await Promise.race([sleep(5), early]);
  }
  if (child.exitCode === LOCK_HELD) return { pid: await awaitPid(spec.dir), child: null };
  const pid = readPid(spec.dir);
  if (pid !== undefined) return { pid, child: null };
  throw new Error(`could not start "${spec.command}" (wrapper exited with ${child.exitCode ?? child.signalCode})`);
}

/** Waits for a command-mode run to finish, whether this process started it or adopted it. */
export async function waitForExit(dir: string, l: Launched, pollMs = 50): Promise<RunOutcome> {
  if (l.child && l.child.exitCode === null && l.child.signalCode === null) {
    await new Promise((res) => l.child!.once('exit', res));
  }
  for (;;) {
    const code = readExit(dir);
    if (code !== undefined) return { exitCode: code, interrupted: false };
    if (!isAlive(l.pid)) {
      // The exit file is written just before the wrapper exits: look once more.
      const again = readExit(dir);
      return again !== undefined ? { exitCode: again, interrupted: false } : { exitCode: null, interrupted: true };
    }
    await sleep(pollMs);
  }
}

function readIntFile(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

/** The exit code a finished run recorded. */
export const readExit = (dir: string) => readIntFile(join(dir, 'exit'));

/** The pid a run recorded, if it has started. */
export const readPid = (dir: string) => readIntFile(join(dir, 'pid'));

async function awaitPid(dir: string): Promise<number> {
  // The lock is taken a moment before the pid is written.
  for (let i = 0; i < 200; i++) {
    const pid = readPid(dir);
    if (pid !== undefined) return pid;
    await sleep(10);
  }
  // Locked but no pid: the wrapper died between the two lines. Treat it as a dead process.
  return -1;
}

/** True if the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Signals the whole process group of a run (the wrapper and everything it started). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** True while any live (non-zombie) process remains in the process group `pgid`. */
export function groupAlive(pgid: number): boolean {
  if (pgid <= 0) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the command: state, ppid, pgrp.
      if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
    } catch {
      // the process ended while we looked
    }
  }
  return false;
}

/**
 * SIGTERM to the run's whole process group, then SIGKILL after `graceMs` if any of it is still there.
 * Waits for the group, not just its leader: a shell may have forked the real program.
 */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pid) && !isAlive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while ((groupAlive(pid) || isAlive(pid)) && Date.now() < until) await sleep(20);
  if (groupAlive(pid) || isAlive(pid)) {
    signalGroup(pid, 'SIGKILL');
    const hard = Date.now() + 5000;
    while ((groupAlive(pid) || isAlive(pid)) && Date.now() < hard) await sleep(10);
  }
}

export interface OnceOutcome extends RunOutcome {
  timedOut: boolean;
}

/**
 * Runs a command once (see `launch`) and waits for it, killing its process group after `timeoutMs`.
 * The timeout counts from when the run first started, so a run adopted after a restart gets no extra time.
 */
export async function runOnce(
  spec: Omit<RunSpec, 'mode'>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<OnceOutcome> {
  const l = await launch({ ...spec, mode: 'command' });
  let startedAt = Date.now();
  try {
    startedAt = statSync(join(spec.dir, 'lock')).mtimeMs;
  } catch {
    // no lock: the run ended already
  }
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      void terminate(l.pid, 5000);
    },
    Math.max(0, startedAt + timeoutMs - Date.now()),
  );
  const onAbort = () => void terminate(l.pid, 5000);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const out = await waitForExit(spec.dir, l);
    return { ...out, timedOut };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
