import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downSluice, type RunningSluice, startSluice } from '../../src/main/single-node.js';
import { loadConfig } from '../../src/main/config.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(REPO, 'bin', 'sluice.js');

/** A copy of examples/shop in a fresh temporary folder. */
export function copyExample(name = 'shop'): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'sluice-e2e-')), name);
  cpSync(join(REPO, 'examples', 'shop'), dir, {
    recursive: true,
    filter: (s) => !/[/\\](\.sluice[^/\\]*|dist)([/\\]|$)/.test(s),
  });
  return dir;
}

export interface UpProcess {
  proc: ChildProcess;
  apiUrl: string;
  routerPort: number;
  output: () => string;
  /** Graceful stop (SIGTERM) of the control plane, and wait; the data plane and the instances keep serving. */
  stop(): Promise<void>;
  /** SIGKILL of the control plane, and wait. */
  kill(): Promise<void>;
  /** Everything stops, as `sluice down` does: control plane, data plane, instances. */
  down(): Promise<void>;
}

/**
 * Starts `sluice up` as a real process and waits until it serves; the API on `apiPort` (0: any free port). `bin` runs
 * another build of the CLI.
 */
export function startUp(appDir: string, dataDir: string, extraEnv: Record<string, string> = {}, apiPort = 0, bin = BIN): Promise<UpProcess> {
  // Its store is PGlite in the data directory unless the test says otherwise: a DATABASE_URL meant for the test
  // itself (the PostgreSQL suite's) would make every sluice up share one database.
  const { DATABASE_URL: _forTheTest, ...inherited } = process.env;
  const proc = spawn(
    process.execPath,
    [bin, 'up', '--dir', appDir, '--data-dir', dataDir, '--port', String(apiPort), '--router-port', '0'],
    {
      env: { ...inherited, NO_COLOR: '1', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice up did not start in 60s:\n${out}`)), 60_000);
    const check = () => {
      const api = /api\s+(http:\/\/\S+)/.exec(out);
      const router = /localhost:(\d+)/.exec(out);
      if (api && router) {
        clearTimeout(timer);
        proc.stdout!.off('data', check);
        resolve({
          proc,
          apiUrl: api[1]!,
          routerPort: Number(router[1]),
          output: () => out,
          async stop() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            await exited;
          },
          async kill() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
            await exited;
          },
          async down() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            await exited;
            await downSluice(dataDir);
          },
        });
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice up exited with ${code}:\n${out}`));
    });
  });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the sluice CLI as a user would. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export interface HttpResult {
  status: number;
  body: string;
  /** The version that answered (the router's x-sluice-version header). */
  version: string;
}

/** GET through the router with a stage host, as a browser would for http://<stage>.<app>.localhost. */
export function viaRouter(
  port: number,
  host: string,
  path = '/',
  agent?: import('node:http').Agent,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host }, timeout: 10_000, ...(agent ? { agent } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, version: String(res.headers['x-sluice-version'] ?? '') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: T }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
}

/** Waits until a release's journey stops running, and returns how it ended. */
export async function journeyEnd(apiUrl: string, version: string, timeoutMs = 60_000): Promise<string> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; ) {
    const j = await api<{ journey: { status: string } }>(apiUrl, 'GET', `/api/v1/releases/${encodeURIComponent(version)}`);
    if (j.json.journey.status !== 'running') return j.json.journey.status;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${version} did not finish within ${timeoutMs}ms`);
}

/**
 * Starts Sluice's control plane inside the test process (faster than `sluice up`) on free ports, with its data in
 * `<appDir>/.sluice`; its data plane runs as a process of its own, as always. `down` stops everything.
 */
export async function startInProcess(appDir: string): Promise<{ sluice: RunningSluice; token: string; down: () => Promise<void> }> {
  const config = loadConfig({ env: {}, cwd: appDir, argv: { dataDir: '.sluice', port: '0', routerPort: '0' } });
  const sluice = await startSluice(config, { env: { PATH: process.env.PATH ?? '' } });
  const down = async () => {
    await sluice.close();
    await downSluice(config.dataDir);
  };
  return { sluice, token: readFileSync(join(appDir, '.sluice', 'admin-token'), 'utf8').trim(), down };
}
