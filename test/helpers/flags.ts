import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { controlSocketPath } from '../../src/adapters/proxy-http1/data-plane-process.js';
import { RouterClient } from '../../src/adapters/proxy-http1/router-client.js';
import type { FlagdDocument, PublishedFlagSet } from '../../src/flags/ports/flag-serving.js';

export const DATA_PLANE_ENTRY = fileURLToPath(new URL('../../src/main/data-plane.js', import.meta.url));

/** SHA-256 (hex) of an API key, as a stage lists its keys. */
export const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

/** A published set of `doc` at `revision`, readable with `keys`. */
export function published(doc: FlagdDocument, revision: number, ...keys: string[]): PublishedFlagSet {
  return { doc, revision, keyHashes: keys.map(sha256) };
}

export interface FlagsDataPlane {
  dataDir: string;
  client: RouterClient;
  flagsPort: number;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

/** A data plane process started directly (no supervisor), with any of its flags; its flag listener on a free port. */
export async function startFlagsDataPlane(args: string[] = [], dataDir = join(mkdtempSync(join(tmpdir(), 'sluice-flags-')), 'data')): Promise<FlagsDataPlane> {
  const proc = spawn(process.execPath, [DATA_PLANE_ENTRY, '--data-dir', dataDir, '--port', '0', '--flags-port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; i < 200 && !/ serving /.test(log); i++) {
    if (proc.exitCode !== null) throw new Error(`the data plane exited:\n${log}`);
    await sleep(25);
  }
  const client = new RouterClient(controlSocketPath(dataDir));
  const health = await client.health();
  return {
    dataDir,
    client,
    flagsPort: health.flagsPort,
    proc,
    log: () => log,
    async stop() {
      client.close();
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON, or undefined when it is not. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface FlagsRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One HTTP request to the flag listener (POST unless told). */
export function flagsRequest(port: number, path: string, o: FlagsRequest = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'POST', headers: o.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** POST an OFREP evaluation with an API key. */
export function ofrep(
  port: number,
  key: string | undefined,
  flag: string | undefined,
  context: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return flagsRequest(port, flag === undefined ? '/ofrep/v1/evaluate/flags' : `/ofrep/v1/evaluate/flags/${flag}`, {
    headers: { 'content-type': 'application/json', ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: JSON.stringify({ context }),
  });
}

export interface StreamEvent {
  event: string;
  id?: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** When it arrived (Date.now()). */
  at: number;
}

/**
 * A subscriber of the flag stream, as an SDK would be: it reads server-sent events and, when `reconnect` is set,
 * connects again 100 ms after the stream ends or fails (sending Last-Event-ID).
 */
export class StreamSubscriber {
  readonly events: StreamEvent[] = [];
  /** Status of each connection attempt (0: it could not connect). */
  readonly attempts: number[] = [];
  private closed = false;
  private current: import('node:http').ClientRequest | undefined;
  private lastId: string | undefined;

  constructor(
    private readonly port: () => number,
    private readonly key: string,
    private readonly reconnect = false,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const again = () => {
      this.current = undefined;
      if (this.reconnect && !this.closed) setTimeout(() => this.connect(), 100);
    };
    const req = request(
      { host: '127.0.0.1', port: this.port(), path: '/flags/v1/stream', method: 'GET', agent: false, headers: { 'x-api-key': this.key, ...(this.lastId ? { 'last-event-id': this.lastId } : {}) } },
      (res) => {
        this.attempts.push(res.statusCode ?? 0);
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const e: Partial<StreamEvent> = { event: 'message', at: Date.now() };
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const [field, value] = colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')];
              if (field === 'event') e.event = value;
              else if (field === 'id') e.id = this.lastId = value;
              else if (field === 'data') data += value;
            }
            if (data === '') continue;
            try {
              e.data = JSON.parse(data);
            } catch {
              e.data = data;
            }
            this.events.push(e as StreamEvent);
          }
        });
        res.on('end', again);
        res.on('error', () => {});
        res.on('close', () => {
          if (this.current === req) again();
        });
      },
    );
    this.current = req;
    req.on('error', () => {
      if (this.current === req) {
        this.attempts.push(0);
        again();
      }
    });
    req.end();
  }

  /** The revisions told, in order. */
  revisions(): number[] {
    return this.events.filter((e) => e.event === 'revision').map((e) => e.data.revision as number);
  }

  async waitFor(pred: (events: StreamEvent[]) => boolean, ms = 10_000): Promise<void> {
    for (const until = Date.now() + ms; Date.now() < until; await sleep(10)) if (pred(this.events)) return;
    throw new Error(`the stream did not get there in ${ms} ms; events: ${JSON.stringify(this.events)}`);
  }

  close(): void {
    this.closed = true;
    this.current?.destroy();
  }
}

/** The data plane's log file under its data directory (when started by its supervisor). */
export function routerLog(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'dataplane', 'router.log'), 'utf8');
  } catch {
    return '';
  }
}
