import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/platform/net.js';

const SCRIPT = fileURLToPath(new URL('../../../test/fixtures/echo-server.mjs', import.meta.url));

export interface BackendProcess {
  port: number;
  proc: ChildProcess;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts a real backend process (test/fixtures/echo-server.mjs) on a free loopback port. */
export async function startBackend(version: string): Promise<BackendProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [SCRIPT], { env: { ...process.env, PORT: String(port), VERSION: version }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res, rej) => {
    proc.stdout!.once('data', () => res());
    proc.once('exit', (c) => rej(new Error(`backend exited with ${c}`)));
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  return {
    port,
    proc,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to the router with any headers, and an optional body. */
export function send(port: number, opts: { host: string; path?: string; method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: import('node:http').Agent }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { host: opts.host, ...(opts.headers ?? {}) }, ...(opts.agent ? { agent: opts.agent } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
