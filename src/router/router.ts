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

/** What the router needs from a request's headers, read in one pass over the raw list (req.headers is never built). */
interface RequestView {
  /** Lower-cased, without the port: the route key. */
  host: string;
  /** The Host header as sent, for x-forwarded-host. */
  rawHost: string;
  /** Headers to forward, flat [name, value, …], without hop-by-hop ones and without those the router sets. */
  forward: string[];
  hasBody: boolean;
  forwardedFor?: string;
  pinned?: string;
  cookie?: string;
}

function scanRequest(req: IncomingMessage): RequestView {
  const raw = req.rawHeaders;
  const view: RequestView = { host: '', rawHost: '', forward: [], hasBody: false };
  let listed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        view.rawHost = value;
        view.host = value.toLowerCase().replace(/:\d+$/, '');
        break;
      case 'connection':
        listed = value.toLowerCase().split(/\s*,\s*/);
        break;
      case 'content-length':
      case 'transfer-encoding':
        view.hasBody = true;
        break;
      case 'x-forwarded-for':
        view.forwardedFor = view.forwardedFor ? `${view.forwardedFor}, ${value}` : value;
        continue;
      case 'x-forwarded-host':
      case 'x-forwarded-proto':
        continue;
      case VERSION_HEADER:
        view.pinned = value;
        break;
      case 'cookie':
        view.cookie = view.cookie ? `${view.cookie}; ${value}` : value;
        break;
    }
    if (!HOP_BY_HOP.has(lower)) view.forward.push(name, value);
  }
  if (listed) {
    const f = view.forward;
    view.forward = [];
    for (let i = 0; i < f.length; i += 2) if (!listed.includes(f[i]!.toLowerCase())) view.forward.push(f[i]!, f[i + 1]!);
  }
  return view;
}

/** The first value of a header, looked up in the raw list. */
function rawHeader(req: IncomingMessage, lowerName: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  return undefined;
}

/** The upstream's raw response headers as a flat list, without hop-by-hop ones, plus the router's own. */
function forwardResponseHeaders(raw: (Buffer | string)[] | null, version: string, setCookie: string | undefined): string[] {
  // Header bytes are Latin-1 on the wire; decoding them so keeps every byte as it was.
  const str = (v: Buffer | string) => (typeof v === 'string' ? v : v.toString('latin1'));
  const out: string[] = [];
  let listed: string[] | undefined;
  if (raw) {
    for (let i = 0; i < raw.length; i += 2) if (str(raw[i]!).toLowerCase() === 'connection') listed = str(raw[i + 1]!).toLowerCase().split(/\s*,\s*/);
    for (let i = 0; i < raw.length; i += 2) {
      const name = str(raw[i]!);
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (listed && listed.includes(lower))) continue;
      out.push(name, str(raw[i + 1]!));
    }
  }
  out.push(VERSION_HEADER, version);
  if (setCookie) out.push('set-cookie', setCookie);
  return out;
}

interface LivePool extends Pool {
  next: number;
  record: (status: number, ms: number) => void;
  /** In-flight counters, one per backend (shared by id across route changes). */
  inflight: { n: number }[];
}

interface Route {
  stage: string;
  stable: LivePool | null;
  canary: LivePool | null;
  weight: number;
  /** Lower-cased sticky header; '' for the cookie; null for no stickiness. */
  stickyHeader: string | null;
}

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
  /** @param upstreamTimeoutMs how long an instance may take to send its headers, or to go quiet mid-body (504 / cut). */
  constructor(private readonly upstreamTimeoutMs = 60_000) {}

  private readonly routes = new Map<string, Route>();
  private readonly inflight = new Map<string, { n: number }>();
  private counter(id: string): { n: number } {
    let c = this.inflight.get(id);
    if (!c) {
      c = { n: 0 };
      this.inflight.set(id, c);
    }
    return c;
  }
  /** One keep-alive connection pool per backend (undici: far less work per request than http.request). */
  private readonly upstreams = new Map<number, UpstreamPool>();
  private server: http.Server | undefined;
  /** Upgraded connections: the HTTP server no longer tracks them, so close() ends them itself. */
  private readonly tunnels = new Set<Duplex>();
  readonly metrics = new RouterMetrics();

  setRoute(host: string, spec: RouteSpec): void {
    const live = (p: Pool | null | undefined): LivePool | null =>
      p
        ? {
          version: p.version,
          backends: [...p.backends],
          next: 0,
          record: this.metrics.recorder(spec.stage, p.version),
          inflight: p.backends.map((b) => this.counter(b.id)),
        }
        : null;
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
    while (backends.some((b) => (this.inflight.get(b.id)?.n ?? 0) > 0) && Date.now() < until) await sleep(10);
    for (const b of backends) if ((this.inflight.get(b.id)?.n ?? 0) === 0) this.inflight.delete(b.id);
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
      pool = new UpstreamPool(`http://127.0.0.1:${port}`, {
        connections: 256,
        keepAliveTimeout: 4000,
        headersTimeout: this.upstreamTimeoutMs,
        bodyTimeout: this.upstreamTimeoutMs,
      });
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
  private choose(route: Route, req: IncomingMessage, view: RequestView): { pool: LivePool | null; setCookie?: string } {
    const pinned = view.pinned;
    if (pinned) {
      if (pinned === 'canary' && route.canary) return { pool: route.canary };
      if (pinned === 'stable' && route.stable) return { pool: route.stable };
      if (route.canary?.version === pinned) return { pool: route.canary };
      if (route.stable?.version === pinned) return { pool: route.stable };
    }
    if (!route.canary || route.weight <= 0) return { pool: route.stable ?? route.canary };
    if (route.weight >= 100 || !route.stable) return { pool: route.canary };
    if (route.stickyHeader === null) return { pool: Math.random() * 100 < route.weight ? route.canary : route.stable };
    let key = route.stickyHeader ? rawHeader(req, route.stickyHeader) : undefined;
    let setCookie: string | undefined;
    if (!key) key = cookieValue(view.cookie, STICKY_COOKIE);
    if (!key) {
      key = randomBytes(9).toString('base64url');
      setCookie = `${STICKY_COOKIE}=${key}; Path=/; HttpOnly; SameSite=Lax`;
    }
    const pool = bucketOf(`${route.stage}${key}`) < route.weight ? route.canary : route.stable;
    return { pool, ...(setCookie ? { setCookie } : {}) };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const view = scanRequest(req);
    const host = view.host;
    const route = this.routes.get(host);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`sluice: no stage answers at ${host || '(no Host header)'}; known: ${[...this.routes.keys()].join(', ') || 'none'}\n`);
      return;
    }
    const { pool, setCookie } = this.choose(route, req, view);
    const retryable = (req.method === 'GET' || req.method === 'HEAD') && !view.hasBody;
    const client = req.socket.remoteAddress ?? '';
    const headers = view.forward;
    headers.push(
      'x-forwarded-for',
      view.forwardedFor ? `${view.forwardedFor}, ${client}` : client,
      'x-forwarded-host',
      view.rawHost,
      'x-forwarded-proto',
      'http',
    );
    this.attempt(host, pool, req, res, headers, retryable, view.hasBody, 0, start, setCookie);
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
    const idx = pool.next++ % pool.backends.length;
    const b = pool.backends[idx]!;
    const inflight = pool.inflight[idx]!;
    inflight.n++;
    let status = 0;
    let settled = false;
    let abortUpstream: ((err: Error) => void) | undefined;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      inflight.n--;
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
    };
    // undici's lowest-level API: the response goes straight into `res`, with backpressure, and no stream in between.
    this.upstream(b.port).dispatch(
      { method: req.method as 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null },
      {
        // A client that went away is noticed when the upstream answers (no listener per request): the rest is dropped.
        onConnect: (abort) => {
          abortUpstream = abort;
        },
        onHeaders: (statusCode, raw, resume) => {
          if (res.destroyed) {
            abortUpstream?.(new Error('client went away'));
            return false;
          }
          status = statusCode;
          res.writeHead(statusCode, forwardResponseHeaders(raw, pool.version, setCookie));
          res.on('drain', resume);
          return true;
        },
        onData: (chunk) => {
          if (res.destroyed) {
            abortUpstream?.(new Error('client went away'));
            return false;
          }
          return res.write(chunk);
        },
        onComplete: () => {
          res.end();
          settle(null);
        },
        onError: (err) => settle(err),
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
    const view = scanRequest(req);
    const route = this.routes.get(view.host);
    const pool = route ? this.choose(route, req, view).pool : null;
    const idx = pool ? pool.next++ % Math.max(1, pool.backends.length) : 0;
    const b = pool?.backends[idx];
    if (!pool || !b) {
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
    const inflight = pool.inflight[idx]!;
    inflight.n++;
    this.tunnels.add(socket);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      this.tunnels.delete(socket);
      inflight.n--;
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
