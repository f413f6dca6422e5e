import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool as UpstreamPool } from 'undici';
import { bucketOf } from '../core/murmur3.js';
import { RouterMetrics } from './router-metrics.js';

/** One instance the router can send requests to. `id` is unique across the router. */
export interface Backend {
  id: string;
  port: number;
}

/** The instances of one version. */
export interface Pool {
  version: string;
  backends: Backend[];
}

/** How a stage's traffic is split. */
export interface RouteSpec {
  stage: string;
  stable: Pool | null;
  canary?: Pool | null;
  /** Percent (0-100) of users sent to the canary. */
  canaryWeight?: number;
  /**
   * How a user keeps their side: by a request header's value (e.g. x-user-id), by a cookie the router sets
   * (the default), or not at all (`none`: each request is split at random, as plain weighted upstreams do).
   */
  sticky?: { header: string } | 'cookie' | 'none';
}

/** The router as targets see it: routes by host, and a way to let in-flight requests finish. */
export interface RouterPort {
  setRoute(host: string, spec: RouteSpec): void;
  /** Moves the split without touching the pools. */
  setCanaryWeight(host: string, weight: number): void;
  removeRoute(host: string): void;
  /** Resolves once no request is in flight to any of these backends (or after `timeoutMs`), and their idle connections are closed. */
  drain(backends: Backend[], timeoutMs: number): Promise<void>;
}

/** Pins a request to `canary`, `stable` or a version: for testers and synthetic traffic. */
export const VERSION_HEADER = 'x-sluice-version';
/** Set on the first response when no sticky header is configured; its value is the user's bucketing key. */
export const STICKY_COOKIE = 'sluice_key';

// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/** Set by the router itself (the client's own x-forwarded-for is extended, not dropped). */
const SET_BY_ROUTER = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);

/** The request's headers as a flat [name, value, …] list, without hop-by-hop ones (nor those its Connection header lists). */
function forwardRequestHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const connection = req.headers.connection;
  const listed = connection ? connection.toLowerCase().split(/\s*,\s*/) : undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || SET_BY_ROUTER.has(lower) || (listed && listed.includes(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/** The upstream's response headers, without hop-by-hop ones. */
function forwardResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers.connection;
  const listed = typeof connection === 'string' ? connection.toLowerCase().split(/\s*,\s*/) : undefined;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || HOP_BY_HOP.has(k) || (listed && listed.includes(k))) continue;
    out[k] = v;
  }
  return out;
}

interface LivePool extends Pool {
  next: number;
  record: (status: number, ms: number) => void;
}

interface Route {
  stage: string;
  stable: LivePool | null;
  canary: LivePool | null;
  weight: number;
  /** Lower-cased sticky header; '' for the cookie; null for no stickiness. */
  stickyHeader: string | null;
}

const hostOf = (req: IncomingMessage) => (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The built-in HTTP data plane: `<stage>.<app>.localhost` goes to that stage's instances, split between a stable
 * and a canary pool by weight. A user keeps their side while the weight only grows: their bucket (MurmurHash3 of
 * the sticky key, as flag rollouts use) is compared with the weight. Switching is one map write, so a request sees
 * the old split or the new one; idempotent requests that hit a connection closing under them are retried.
 */
export class Router implements RouterPort {
  private readonly routes = new Map<string, Route>();
  private readonly inflight = new Map<string, number>();
  /** One keep-alive connection pool per backend (undici: far less work per request than http.request). */
  private readonly upstreams = new Map<number, UpstreamPool>();
  private server: http.Server | undefined;
  /** Upgraded connections: the HTTP server no longer tracks them, so close() ends them itself. */
  private readonly tunnels = new Set<Duplex>();
  readonly metrics = new RouterMetrics();

  setRoute(host: string, spec: RouteSpec): void {
    const live = (p: Pool | null | undefined): LivePool | null =>
      p ? { version: p.version, backends: [...p.backends], next: 0, record: this.metrics.recorder(spec.stage, p.version) } : null;
    this.routes.set(host.toLowerCase(), {
      stage: spec.stage,
      stable: live(spec.stable),
      canary: live(spec.canary),
      weight: clampWeight(spec.canaryWeight ?? 0),
      stickyHeader: spec.sticky === 'none' ? null : typeof spec.sticky === 'object' ? spec.sticky.header.toLowerCase() : '',
    });
  }

  setCanaryWeight(host: string, weight: number): void {
    const r = this.routes.get(host.toLowerCase());
    if (r) this.routes.set(host.toLowerCase(), { ...r, weight: clampWeight(weight) });
  }

  removeRoute(host: string): void {
    this.routes.delete(host.toLowerCase());
  }

  async drain(backends: Backend[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (backends.some((b) => (this.inflight.get(b.id) ?? 0) > 0) && Date.now() < until) await sleep(10);
    // The instances are about to stop: close their idle connections first, so no request picks one as it closes.
    await Promise.all(
      backends.map(async (b) => {
        const pool = this.upstreams.get(b.port);
        this.upstreams.delete(b.port);
        await pool?.close().catch(() => {});
      }),
    );
  }

  private upstream(port: number): UpstreamPool {
    let pool = this.upstreams.get(port);
    if (!pool) {
      pool = new UpstreamPool(`http://127.0.0.1:${port}`, { connections: 256, keepAliveTimeout: 4000, headersTimeout: 60_000, bodyTimeout: 60_000 });
      this.upstreams.set(port, pool);
    }
    return pool;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
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
      for (const t of this.tunnels) t.destroy();
      s.closeAllConnections();
      await new Promise((res) => s.close(res));
    }
    await Promise.all([...this.upstreams.values()].map((p) => p.destroy().catch(() => {})));
    this.upstreams.clear();
  }

  /** Picks the pool for a request, and the cookie to set when the user had no key yet. */
  private choose(route: Route, req: IncomingMessage): { pool: LivePool | null; setCookie?: string } {
    const pinned = req.headers[VERSION_HEADER];
    if (typeof pinned === 'string' && pinned) {
      if (pinned === 'canary' && route.canary) return { pool: route.canary };
      if (pinned === 'stable' && route.stable) return { pool: route.stable };
      if (route.canary?.version === pinned) return { pool: route.canary };
      if (route.stable?.version === pinned) return { pool: route.stable };
    }
    if (!route.canary || route.weight <= 0) return { pool: route.stable ?? route.canary };
    if (route.weight >= 100 || !route.stable) return { pool: route.canary };
    if (route.stickyHeader === null) return { pool: Math.random() * 100 < route.weight ? route.canary : route.stable };
    let key: string | undefined;
    let setCookie: string | undefined;
    if (route.stickyHeader) {
      const h = req.headers[route.stickyHeader];
      key = Array.isArray(h) ? h[0] : h;
    }
    if (!key) key = cookieValue(req.headers.cookie, STICKY_COOKIE);
    if (!key) {
      key = randomBytes(9).toString('base64url');
      setCookie = `${STICKY_COOKIE}=${key}; Path=/; HttpOnly; SameSite=Lax`;
    }
    const pool = bucketOf(`${route.stage}${key}`) < route.weight ? route.canary : route.stable;
    return { pool, ...(setCookie ? { setCookie } : {}) };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const host = hostOf(req);
    const route = this.routes.get(host);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`sluice: no stage answers at ${host || '(no Host header)'}; known: ${[...this.routes.keys()].join(', ') || 'none'}\n`);
      return;
    }
    const { pool, setCookie } = this.choose(route, req);
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const retryable = (req.method === 'GET' || req.method === 'HEAD') && !hasBody;
    const headers = forwardRequestHeaders(req);
    const prior = req.headers['x-forwarded-for'];
    const client = req.socket.remoteAddress ?? '';
    headers.push('x-forwarded-for', prior ? `${prior}, ${client}` : client, 'x-forwarded-host', req.headers.host ?? '', 'x-forwarded-proto', 'http');
    this.attempt(host, pool, req, res, headers, retryable, hasBody, 0, start, setCookie);
  }

  private attempt(
    host: string,
    pool: LivePool | null,
    req: IncomingMessage,
    res: ServerResponse,
    headers: string[],
    retryable: boolean,
    hasBody: boolean,
    tries: number,
    start: number,
    setCookie: string | undefined,
  ): void {
    if (!pool || pool.backends.length === 0) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' });
      res.end('sluice: no healthy instance for this stage\n');
      pool?.record(503, performance.now() - start);
      return;
    }
    const b = pool.backends[pool.next++ % pool.backends.length]!;
    this.inflight.set(b.id, (this.inflight.get(b.id) ?? 0) + 1);
    let status = 0;
    this.upstream(b.port).stream(
      { method: req.method as 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null },
      ({ statusCode, headers: upHeaders }) => {
        status = statusCode;
        const out = forwardResponseHeaders(upHeaders);
        out[VERSION_HEADER] = pool.version;
        if (setCookie) {
          const prev = out['set-cookie'];
          out['set-cookie'] = [...(Array.isArray(prev) ? prev : prev ? [prev] : []), setCookie];
        }
        res.writeHead(statusCode, out);
        return res;
      },
      (err) => {
        this.inflight.set(b.id, (this.inflight.get(b.id) ?? 1) - 1);
        if (!err) {
          pool.record(status, performance.now() - start);
          return;
        }
        if (res.headersSent) {
          res.destroy();
          pool.record(0, performance.now() - start);
          return;
        }
        if (retryable && tries + 1 < Math.max(2, pool.backends.length + 1)) {
          // A connection closing under the request: the split may have moved meanwhile, so choose again.
          this.attempt(host, this.poolNow(host, pool.version) ?? pool, req, res, headers, retryable, hasBody, tries + 1, start, setCookie);
          return;
        }
        const timeout = (err as { code?: string }).code?.includes('TIMEOUT') ?? false;
        res.writeHead(timeout ? 504 : 502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`sluice: upstream failed: ${err.message}\n`);
        pool.record(0, performance.now() - start);
      },
    );
  }

  /** The pool of `version` in the host's current route, or its stable pool if that version left. */
  private poolNow(host: string, version: string): LivePool | null {
    const r = this.routes.get(host);
    if (!r) return null;
    if (r.canary?.version === version) return r.canary;
    return r.stable ?? r.canary;
  }

  /** WebSocket and other upgrades: the handshake is forwarded, then bytes flow both ways untouched. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const route = this.routes.get(hostOf(req));
    const pool = route ? this.choose(route, req).pool : null;
    const b = pool?.backends[pool.next++ % pool.backends.length];
    if (!b) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = net.connect(b.port, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      lines.push(`x-forwarded-for: ${req.socket.remoteAddress ?? ''}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    this.inflight.set(b.id, (this.inflight.get(b.id) ?? 0) + 1);
    this.tunnels.add(socket);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      this.tunnels.delete(socket);
      this.inflight.set(b.id, (this.inflight.get(b.id) ?? 1) - 1);
      upstream.destroy();
      socket.destroy();
    };
    // Either side hanging up ends the tunnel: sockets here allow half-open connections, which would otherwise linger.
    for (const side of [upstream, socket]) for (const ev of ['error', 'end', 'close']) side.on(ev, done);
  }
}

function clampWeight(w: number): number {
  return Math.max(0, Math.min(100, Number.isFinite(w) ? w : 0));
}
