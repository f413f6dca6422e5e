import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One instance the router can send requests to. `id` is unique across the router. */
export interface Backend {
  id: string;
  port: number;
}

/** The router as targets see it: routes by host, and a way to let in-flight requests finish. */
export interface RouterPort {
  setRoute(host: string, backends: Backend[]): void;
  removeRoute(host: string): void;
  /** Resolves once no request is in flight to any of these backends (or after `timeoutMs`), and their idle connections are closed. */
  drain(backends: Backend[], timeoutMs: number): Promise<void>;
}

// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase());
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || listed.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

interface Route {
  backends: Backend[];
  next: number;
}

/**
 * The built-in HTTP data plane: `<stage>.<app>.localhost` goes to that stage's instances.
 * Switching a route is one map write, so a request sees either the old instances or the new ones;
 * idempotent requests that hit a connection closing under them are retried on another instance.
 */
export class Router implements RouterPort {
  private readonly routes = new Map<string, Route>();
  private readonly inflight = new Map<string, number>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512, keepAliveMsecs: 1000 });
  private server: http.Server | undefined;

  setRoute(host: string, backends: Backend[]): void {
    this.routes.set(host.toLowerCase(), { backends: [...backends], next: 0 });
  }

  removeRoute(host: string): void {
    this.routes.delete(host.toLowerCase());
  }

  routeOf(host: string): Backend[] | undefined {
    return this.routes.get(host.toLowerCase())?.backends;
  }

  async drain(backends: Backend[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (backends.some((b) => (this.inflight.get(b.id) ?? 0) > 0) && Date.now() < until) await sleep(10);
    const ports = new Set(backends.map((b) => `:${b.port}:`));
    for (const [name, sockets] of Object.entries(this.agent.freeSockets)) {
      if ([...ports].some((p) => name.includes(p))) for (const s of sockets ?? []) s.destroy();
    }
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => res());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise((res) => s.close(res));
    }
    this.agent.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    const host = hostHeader.replace(/:\d+$/, '');
    const route = this.routes.get(host);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        `sluice: no stage answers at ${host || '(no Host header)'}; known: ${[...this.routes.keys()].join(', ') || 'none'}\n`,
      );
      return;
    }
    const retryable =
      (req.method === 'GET' || req.method === 'HEAD') &&
      !req.headers['content-length'] &&
      !req.headers['transfer-encoding'];
    const headers = forwardable(req.headers);
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${prior}, ${req.socket.remoteAddress}` : (req.socket.remoteAddress ?? '');
    headers['x-forwarded-host'] = hostHeader;
    headers['x-forwarded-proto'] = 'http';
    this.attempt(route, req, res, headers, retryable, 0);
  }

  private attempt(
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string | string[]>,
    retryable: boolean,
    tries: number,
  ): void {
    const backends = route.backends;
    if (backends.length === 0) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' });
      res.end('sluice: no healthy instance for this stage\n');
      return;
    }
    const b = backends[route.next++ % backends.length]!;
    this.inflight.set(b.id, (this.inflight.get(b.id) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inflight.set(b.id, (this.inflight.get(b.id) ?? 1) - 1);
    };
    const up = http.request({
      agent: this.agent,
      host: '127.0.0.1',
      port: b.port,
      method: req.method,
      path: req.url,
      headers,
    });
    up.setTimeout(60_000, () => up.destroy(new Error('upstream timeout')));
    up.on('response', (ur) => {
      res.writeHead(ur.statusCode ?? 502, forwardable(ur.headers));
      ur.pipe(res);
      ur.on('end', release);
      ur.on('close', release);
      ur.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      release();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (retryable && tries + 1 < Math.max(2, backends.length + 1)) {
        this.attempt(
          this.routes.get((req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '')) ?? route,
          req,
          res,
          headers,
          retryable,
          tries + 1,
        );
        return;
      }
      res.writeHead(err.message === 'upstream timeout' ? 504 : 502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`sluice: upstream failed: ${err.message}\n`);
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (retryable) up.end();
    else req.pipe(up);
  }
}
