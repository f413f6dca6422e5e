import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FLAG_LIMITS } from '../../flags/ports/flag-serving.js';
import { isSluiceError } from '../../kernel/errors.js';
import type { GuardTrip, WakeCall } from '../../rollout/ports/traffic-router.js';
import type { FlagSets } from './flag-sets.js';
import { parseBackends, parseRouteSpec } from './route-spec.js';
import type { Router } from './router.js';

/**
 * The version of the control protocol; a control plane adopts a data plane only when they speak the same one.
 * 2: flag serving (/v1/flags). A data plane of protocol 1 serves no flags, so it is not adopted silently.
 * 3: asleep routes (scale to zero, docs/adr/0029): `asleep` in a route spec, GET /v1/activity/{host}, and the wake
 *    stream GET /v1/wakes?follow=1. A data plane of protocol 2 would serve an asleep route's dead ports.
 */
export const CONTROL_PROTOCOL = 3;
const MAX_BODY = 1024 * 1024;
/** The control API's answer to an error with this code (400 for any other). */
const STATUS_OF: Partial<Record<string, number>> = { CONFLICT: 409, TOO_LARGE: 413, NOT_FOUND: 404, INTERNAL: 500 };
/** A published flag set may be as large as the flags context allows, plus its revision and key hashes. */
const MAX_FLAGS_BODY = FLAG_LIMITS.documentBytes + 64 * 1024;

/** What the data plane says about itself (GET /v1/health). */
export interface DataPlaneHealth {
  protocol: number;
  pid: number;
  /** The Sluice build that started it. */
  build: string;
  startedAt: number;
  /** The port the router listens on for users. */
  port: number;
  host: string;
  routes: number;
  /** Where the flag listener (OFREP, stream, sync) listens. */
  flagsPort: number;
  flagsHost: string;
  /** Each stage's flag revision served now. */
  flags: Record<string, number>;
}

export interface ControlServerOptions {
  router: Router;
  /** The flag sets the data plane serves (PUT/DELETE /v1/flags/{stage}, GET /v1/flags, POST /v1/flags/counts). */
  flags: FlagSets;
  socketPath: string;
  health: () => DataPlaneHealth;
  /** Called after every change of the routes, before the answer: the routes file is written. */
  saved: () => void;
  /** Asked to stop (sluice down). */
  shutdown: () => void;
}

/**
 * The data plane's control API, HTTP/1.1 on a Unix socket in the data directory (0600): the control plane sets and
 * reads routes (SetWeight, VerifyWeight), drains backends, reads the counters, and follows guard trips; it publishes
 * each stage's flag set and takes the evaluation counts.
 */
export class ControlServer {
  private server: Server | undefined;
  private readonly followers = new Set<ServerResponse>();
  private readonly wakeFollowers = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly o: ControlServerOptions) {}

  /** Tells every follower of the wake stream: a request waits for an asleep stage. */
  wake(w: WakeCall): void {
    for (const res of this.wakeFollowers) res.write(`${JSON.stringify(w)}\n`);
  }

  /** Tells every follower of the trip stream. */
  tripped(t: GuardTrip): void {
    for (const res of this.followers) res.write(`${JSON.stringify(t)}\n`);
  }

  async listen(): Promise<void> {
    rmSync(this.o.socketPath, { force: true });
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => send(res, 500, { error: e.message }));
    });
    server.keepAliveTimeout = 60_000;
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.o.socketPath, () => res());
    });
    server.on('error', () => {});
    chmodSync(this.o.socketPath, 0o600);
    this.heartbeat = setInterval(() => {
      for (const res of this.followers) res.write('\n');
      for (const res of this.wakeFollowers) res.write('\n');
    }, 10_000);
    this.heartbeat.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const res of this.followers) res.end();
    this.followers.clear();
    for (const res of this.wakeFollowers) res.end();
    this.wakeFollowers.clear();
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise((res) => s.close(res));
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control');
    const r = this.o.router;
    const routeHost = /^\/v1\/routes\/([^/]+)(\/weight)?$/.exec(url.pathname);
    const host = routeHost ? decodeURIComponent(routeHost[1]!) : undefined;
    try {
      if (req.method === 'GET' && url.pathname === '/v1/health') return send(res, 200, this.o.health());
      if (req.method === 'GET' && url.pathname === '/v1/routes')
        return send(res, 200, Object.fromEntries(Object.keys(r.savedRoutes()).map((h) => [h, r.routeState(h)])));
      if (req.method === 'PUT' && url.pathname === '/v1/routes') {
        // The whole table at once: what the control plane serves from the log replaces what is here.
        const body = obj(await readJson(req));
        const specs = Object.entries(body).map(([h, spec]) => [h, parseRouteSpec(spec, `routes.${h}`)] as const);
        for (const h of Object.keys(r.savedRoutes())) if (!(h in body)) r.removeRoute(h);
        for (const [h, spec] of specs) r.setRoute(h, spec);
        this.o.saved();
        return send(res, 200, Object.fromEntries(specs.map(([h]) => [h, r.routeState(h)])));
      }
      if (host !== undefined && !routeHost![2]) {
        if (req.method === 'GET') {
          const st = r.routeState(host);
          return st ? send(res, 200, st) : send(res, 404, { error: `no route for ${host}` });
        }
        if (req.method === 'PUT') {
          r.setRoute(host, parseRouteSpec(await readJson(req), 'route'));
          this.o.saved();
          return send(res, 200, r.routeState(host));
        }
        if (req.method === 'DELETE') {
          r.removeRoute(host);
          this.o.saved();
          return send(res, 204);
        }
      }
      if (host !== undefined && routeHost![2] && req.method === 'POST') {
        const { weight } = obj(await readJson(req));
        if (typeof weight !== 'number' || !(weight >= 0 && weight <= 100)) return send(res, 400, { error: 'weight: expected a number from 0 to 100' });
        if (!r.routeState(host)) return send(res, 404, { error: `no route for ${host}` });
        r.setCanaryWeight(host, weight);
        this.o.saved();
        return send(res, 200, r.routeState(host));
      }
      if (req.method === 'POST' && url.pathname === '/v1/drain') {
        const { backends, timeoutMs } = obj(await readJson(req));
        const t = typeof timeoutMs === 'number' && timeoutMs >= 0 ? Math.min(timeoutMs, 600_000) : 30_000;
        await r.drain(parseBackends(backends, 'backends'), t);
        return send(res, 204);
      }
      if (req.method === 'GET' && url.pathname === '/v1/series') {
        const [stage, version] = [url.searchParams.get('stage'), url.searchParams.get('version')];
        const [from, to] = [Number(url.searchParams.get('from')), Number(url.searchParams.get('to'))];
        if (!stage || !version || !Number.isSafeInteger(from) || !Number.isSafeInteger(to)) return send(res, 400, { error: 'series needs stage, version, from and to (epoch seconds)' });
        return send(res, 200, { samples: r.metrics.series(stage, version, from, to), countingSince: r.metrics.countingSince() });
      }
      if (req.method === 'GET' && url.pathname === '/v1/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(r.metrics.prometheus());
        return;
      }
      if (req.method === 'GET' && url.pathname === '/v1/trips') {
        if (url.searchParams.get('follow') !== '1') return send(res, 200, r.trips());
        // Every trip the routes hold now, then each new one as it happens, one JSON per line.
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
        for (const t of r.trips()) res.write(`${JSON.stringify(t)}\n`);
        this.followers.add(res);
        res.on('close', () => this.followers.delete(res));
        return;
      }
      // Scale to zero (docs/adr/0029): the control plane reads each route's last request, and follows the calls to wake.
      const activityHost = /^\/v1\/activity\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && activityHost) {
        const a = r.activity(decodeURIComponent(activityHost[1]!));
        return a ? send(res, 200, a) : send(res, 404, { error: `no route for ${activityHost[1]!}` });
      }
      if (req.method === 'GET' && url.pathname === '/v1/wakes') {
        if (url.searchParams.get('follow') !== '1') return send(res, 200, r.wakeCalls());
        // Every asleep route holding requests now (a call made while the control plane was away), then each new call.
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
        for (const w of r.wakeCalls()) res.write(`${JSON.stringify(w)}\n`);
        this.wakeFollowers.add(res);
        res.on('close', () => this.wakeFollowers.delete(res));
        return;
      }
      const flagStage = /^\/v1\/flags\/([^/]+)$/.exec(url.pathname);
      if (flagStage && flagStage[1] !== 'counts') {
        const stage = decodeURIComponent(flagStage[1]!);
        // Answered once the set is saved and its stream subscribers have been told.
        if (req.method === 'PUT') return send(res, 200, this.o.flags.publish(stage, await readJson(req, MAX_FLAGS_BODY)));
        if (req.method === 'DELETE') {
          this.o.flags.unpublish(stage);
          return send(res, 204);
        }
      }
      if (req.method === 'GET' && url.pathname === '/v1/flags') return send(res, 200, this.o.flags.summary());
      if (req.method === 'POST' && url.pathname === '/v1/flags/counts') return send(res, 200, this.o.flags.counts.take());
      if (req.method === 'POST' && url.pathname === '/v1/shutdown') {
        send(res, 202, { stopping: true });
        this.o.shutdown();
        return;
      }
      return send(res, 404, { error: `no ${req.method} ${url.pathname}` });
    } catch (e) {
      const status = isSluiceError(e) ? (STATUS_OF[e.code] ?? 400) : 400;
      return send(res, status, { error: (e as Error).message, ...(isSluiceError(e) ? { code: e.code } : {}) });
    }
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function obj(x: unknown): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('expected a JSON object');
  return x as Record<string, unknown>;
}

async function readJson(req: IncomingMessage, max = MAX_BODY): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new Error(`body larger than ${max} bytes`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Error('body is not JSON');
  }
}
