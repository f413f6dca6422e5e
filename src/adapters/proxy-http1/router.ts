import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { bucketOf } from '../../kernel/murmur3.js';
import {
  type Backend,
  type GuardPlan,
  type GuardTrip,
  type Pool,
  type RouteActivity,
  type RouteSpec,
  type RouteState,
  STICKY_COOKIE,
  VERSION_HEADER,
  type WakeCall,
} from '../../rollout/ports/traffic-router.js';
import { type BodyKind, BodyScanner, type Head, HttpError, MAX_HEAD_BYTES, parseHead, requestBody, responseBody } from './http1.js';
import type { CompiledFlagSet, FlagType } from '../../flags/ports/flag-serving.js';
import { ZERO_OF } from '../../flags/ports/flag-serving.js';
import type { CountedFlag } from './flag-sets.js';
import { type Recorder, RouterMetrics } from './router-metrics.js';

export { STICKY_COOKIE, VERSION_HEADER };

// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded as they came.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

interface LivePool extends Pool {
  next: number;
  record: (status: number, ms: number) => void;
  /** In-flight counters, one per backend (shared by id across route changes). */
  inflight: { n: number }[];
}

/** A flag whose variants the router counts, ready for the hot path. */
interface CountedRuntime {
  flag: string;
  type: FlagType;
  /** Lower-cased header that carries the targeting key, or null when a cookie does. */
  header: string | null;
  cookie: string;
  /** Each variant's counters. */
  recorders: Map<string, Recorder>;
}

/**
 * One stage's flags whose variants the router counts. Every route of the stage holds the same object, changed in
 * place when the stage's flags are published: a request to a stage with none checks one length and does nothing else.
 */
interface StageVariants {
  set: CompiledFlagSet | null;
  counted: CountedRuntime[];
}

interface Route {
  /** The spec as given (with the weight as last set), kept for the routes file and for reports. */
  spec: RouteSpec;
  stage: string;
  stable: LivePool | null;
  canary: LivePool | null;
  weight: number;
  /** Lower-cased sticky header; '' for the cookie; null for no stickiness. */
  stickyHeader: string | null;
  /** Set when the guard cut the canary off: it gets no users while the route keeps it. */
  trip?: GuardTrip;
  variants: StageVariants;
  /** Scaled to zero: requests are held until the route is set awake (docs/adr/0029). */
  asleep: boolean;
  /** The last request (ms since the epoch), or when the route first came to this router. */
  lastAt: number;
  /** Requests waiting for the stage to wake, oldest first; the same list across route changes of the host. */
  held: Held[];
}

/** What a request needs to go on once its stage is awake: what `begin` read from its head. */
interface Pending {
  head: Head;
  out: string;
  reqBody: BodyScanner;
  firstBody: Buffer | null;
  upgrade: boolean;
  pinned: string | undefined;
  cookie: string | undefined;
  start: number;
}

/** A request held while its stage wakes. */
interface Held {
  c: Client;
  /** The route key of its host. */
  key: string;
  p: Pending;
  /** When it came (ms since the epoch). */
  at: number;
  timer: NodeJS.Timeout;
}

/** The canary's last answers, as a ring of error flags, for the guard. */
class GuardWindow {
  private readonly ring: Uint8Array;
  private next = 0;
  private seen = 0;
  private errors = 0;
  constructor(readonly plan: GuardPlan) {
    this.ring = new Uint8Array(plan.requests);
  }
  /** Records an answer; true when the guard trips with it. */
  record(error: boolean): boolean {
    const i = this.next;
    if (this.seen === this.ring.length) this.errors -= this.ring[i]!;
    else this.seen++;
    this.ring[i] = error ? 1 : 0;
    this.errors += this.ring[i]!;
    this.next = i + 1 === this.ring.length ? 0 : i + 1;
    return this.seen >= this.plan.minRequests && this.errors >= this.plan.errorRate * this.seen;
  }
  describe(): string {
    return `${this.errors} of the canary's last ${this.seen} answers were errors (the guard trips at ${Math.round(this.plan.errorRate * 100)}%)`;
  }
}

/** A route as the routes file keeps it. */
export interface SavedRoute {
  spec: RouteSpec;
  trip?: GuardTrip;
}

export interface RouterOptions {
  /** How long an instance may stay silent, before its answer (504) or during it (cut). */
  upstreamTimeoutMs?: number;
  /** How long a client may take to send a whole request head (408), however it trickles in. */
  headTimeoutMs?: number;
  /** The most bytes a request head may take, empty lines before it included (431 past it). Default MAX_HEAD_BYTES. */
  maxHeadBytes?: number;
  /** Client connections served at once; past it a new connection gets 503 and is closed (nginx's worker_connections, HAProxy's maxconn). */
  maxConnections?: number;
  /**
   * Connections past the cap being answered 503 at once (each holds a file until its client has read the answer);
   * past it a new one is closed at once, so that refusing never takes the files the clients served need. Default 256.
   */
  maxRefusing?: number;
  /** Called when a guard trips, after the canary's users are back on stable. */
  onTrip?: (t: GuardTrip) => void;
  /** Called for something worth one log line (accept failing for want of file descriptors, say). */
  onNotice?: (line: string) => void;
  /** Called when a request comes for an asleep route that held none: the control plane should wake its stage. */
  onWake?: (w: WakeCall) => void;
  /** How long a request waits for an asleep stage to wake before it gets 503 with Retry-After. Default 30 s. */
  holdTimeoutMs?: number;
  /** Requests one asleep route may hold at once; past it a request gets 503 at once. Default 100. */
  maxHeldPerRoute?: number;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The route key of a Host value: lower-cased, without the port. */
function hostKey(value: string): string {
  const colon = value.lastIndexOf(':');
  const bare = colon > 0 && value.indexOf(']', colon) < 0 && /^\d+$/.test(value.slice(colon + 1)) ? value.slice(0, colon) : value;
  return bare.toLowerCase();
}

/** A client connection. */
interface Client {
  sock: net.Socket;
  addr: string;
  /** Bytes read and not yet used: a head still arriving, or the next request of a pipelining client. */
  buf: Buffer | null;
  ex: Exchange | null;
  /** Close once the response in flight is written (the client said so, or its request could not be read through). */
  closing: boolean;
  /** The client sent its last byte: answer what it asked, then close. */
  ended: boolean;
  /** Inside nextRequest: answers given on the spot leave the loop there to read the next request. */
  reading: boolean;
  /** When the head being read began to arrive (0: none under way). */
  headSince: number;
  /** Bytes of empty lines dropped before the head being read, or of anything sent once closing: both are limited. */
  blank: number;
  /** Where in `buf` the search for the end of the head goes on (what came before holds no end). */
  scanned: number;
  /** Its request is held while its stage wakes: nothing more is read meanwhile. */
  held: Held | null;
}

/** A keep-alive connection to an instance. */
interface Upstream {
  sock: net.Socket;
  port: number;
  ex: Exchange | null;
  err?: Error;
  timedOut: boolean;
  /** When it was last parked idle (ms since the epoch). */
  idleSince: number;
}

/** One request and its response, from the client's head to the last byte of the answer. */
interface Exchange {
  client: Client;
  method: string;
  /** The head sent upstream, kept for a retry. */
  upHead: string;
  reqBody: BodyScanner;
  /** Request body bytes that came with the head. */
  firstBody: Buffer | null;
  upgrade: boolean;
  http10: boolean;
  retryable: boolean;
  host: string;
  pool: LivePool;
  /** The counters of the flag variants this request counts for (null: none). */
  variants: Recorder[] | null;
  inflight: { n: number };
  up: Upstream | null;
  tries: number;
  start: number;
  setCookie: string | undefined;
  respBuf: Buffer | null;
  resp: Head | null;
  respBody: BodyScanner | null;
  /** An HTTP/1.0 client gets a chunked body's data only, and the connection's end marks the body's end. */
  dechunk: boolean;
  /** The upstream connection can serve another request once this one is answered. */
  reuse: boolean;
  done: boolean;
}

const CLIENT_IDLE_MS = 65_000;
const OVER_CAPACITY_BODY = 'sluice: the router serves as many connections as it may (maxConnections); try again\n';
const OVER_CAPACITY = `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${OVER_CAPACITY_BODY.length}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${OVER_CAPACITY_BODY}`;
const UPSTREAM_IDLE_MS = 4_000;
/** An absolute-form request target (RFC 9112 §3.2.2): http or https, an authority without user info, then path and query. */
const ABSOLUTE_FORM = /^https?:\/\/((?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?)([/?][^#]*)?$/i;
const MAX_IDLE_PER_INSTANCE = 256;
/** The most of a held request's body the router keeps while its stage wakes; past it, reading that client pauses. */
const HELD_BODY_BYTES = 1024 * 1024;
const noop = () => {};

class TimeoutError extends Error {}

/**
 * The built-in HTTP data plane: `<stage>.<app>.localhost` goes to that stage's instances, split between a stable
 * and a canary pool by weight. A user keeps their side while the weight only grows: their bucket (MurmurHash3 of
 * the sticky key, as flag rollouts use) is compared with the weight. Switching is one map write, so a request sees
 * the old split or the new one; idempotent requests that hit a connection closing under them are retried.
 *
 * HTTP/1.1 is spoken on plain sockets both ways (framing in ./http1.ts): heads are read and rewritten, bodies pass
 * through as they arrive, and upstream connections are kept alive and reused.
 */
export class Router {
  private readonly upstreamTimeoutMs: number;
  private readonly headTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxHeadBytes: number;
  private readonly maxRefusing: number;
  private readonly holdTimeoutMs: number;
  private readonly maxHeld: number;
  /** Connections past the cap still being answered 503. */
  private refusing = 0;

  constructor(private readonly o: RouterOptions = {}) {
    this.maxRefusing = o.maxRefusing ?? 256;
    this.upstreamTimeoutMs = o.upstreamTimeoutMs ?? 60_000;
    this.headTimeoutMs = o.headTimeoutMs ?? 60_000;
    this.maxConnections = o.maxConnections ?? 10_000;
    this.maxHeadBytes = o.maxHeadBytes ?? MAX_HEAD_BYTES;
    this.holdTimeoutMs = o.holdTimeoutMs ?? 30_000;
    this.maxHeld = o.maxHeldPerRoute ?? 100;
    this.metrics = new RouterMetrics(o.onNotice);
  }

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
  /** Idle keep-alive connections by instance port, most recently used last. */
  private readonly idle = new Map<number, Upstream[]>();
  private readonly upstreams = new Set<Upstream>();
  private readonly clients = new Set<net.Socket>();
  private server: net.Server | undefined;
  private closed = false;
  /** Stopping: each connection closes after the answer it is on. */
  private draining = false;
  readonly metrics: RouterMetrics;
  private readonly stageVariants = new Map<string, StageVariants>();

  private variantsOf(stage: string): StageVariants {
    let v = this.stageVariants.get(stage);
    if (!v) this.stageVariants.set(stage, (v = { set: null, counted: [] }));
    return v;
  }

  /**
   * The stage's flag set as now served, and which of its flags are counted per variant (`undefined`: the stage serves
   * no flags). Each request to the stage that carries a counted flag's header or cookie is counted for the variant that
   * targeting key gets (docs/adr/0021, "Per-variant counters").
   */
  setCountedFlags(stage: string, served: { set: CompiledFlagSet; counted: readonly CountedFlag[] } | undefined): void {
    const v = this.variantsOf(stage);
    if (!served || served.counted.length === 0) {
      v.counted = [];
      v.set = null;
      return;
    }
    const counted = served.counted.map((c) => ({
      flag: c.flag,
      type: c.type,
      header: c.source.kind === 'header' ? c.source.name : null,
      cookie: c.source.name,
      recorders: new Map(c.variants.map((x) => [x, this.metrics.variantRecorder(stage, c.flag, x)] as const)),
    }));
    v.set = served.set;
    v.counted = counted;
  }

  /** The counters of the variants this request's targeting keys get; a flag whose evaluation errs or defers to the default counts nothing. */
  private variantRecorders(v: StageVariants, h: string[], cookie: string | undefined): Recorder[] | null {
    let out: Recorder[] | null = null;
    const set = v.set!;
    const now = Date.now();
    for (const c of v.counted) {
      let key: string | undefined;
      if (c.header !== null) {
        for (let i = 0; i < h.length; i += 2)
          if (h[i]!.length === c.header.length && h[i]!.toLowerCase() === c.header) {
            key = h[i + 1];
            break;
          }
      } else key = cookieValue(cookie, c.cookie);
      if (!key) continue;
      const r = set.evaluate(c.flag, c.type, ZERO_OF[c.type], { targetingKey: key }, now);
      if (r.errorCode !== undefined || r.variant === undefined) continue;
      const rec = c.recorders.get(r.variant);
      if (rec) (out ??= []).push(rec);
    }
    return out;
  }

  /** Counts an answered request, started at `start`, for its pool and the flag variants it counts for. */
  private record(pool: LivePool | null, variants: Recorder[] | null, start: number, status: number): void {
    const ms = performance.now() - start;
    pool?.record(status, ms);
    if (variants !== null) for (const r of variants) r(status, ms);
  }

  /** Sets a host's route. A tripped guard stays tripped while the route keeps the same canary. */
  setRoute(host: string, spec: RouteSpec, trip?: GuardTrip): void {
    const key = host.toLowerCase();
    const before = this.routes.get(key);
    const kept = trip ?? before?.trip;
    const stillTripped = kept !== undefined && spec.canary?.version === kept.version && spec.stage === kept.stage ? kept : undefined;
    const live = (p: Pool | null | undefined, canary: boolean): LivePool | null => {
      if (!p) return null;
      const count = this.metrics.recorder(spec.stage, p.version);
      // The guard watches a canary only: a stage's only version has nothing to fall back to.
      const guard = canary && spec.stable && spec.guard ? new GuardWindow(spec.guard) : undefined;
      return {
        version: p.version,
        backends: [...p.backends],
        next: 0,
        record: guard
          ? (status, ms) => {
            count(status, ms);
            if (guard.record(status === 0 || status >= 500)) this.trip(key, p.version, guard.describe());
          }
          : count,
        inflight: p.backends.map((b) => this.counter(b.id)),
      };
    };
    const route: Route = {
      spec: { ...spec },
      stage: spec.stage,
      stable: live(spec.stable, false),
      canary: live(spec.canary, true),
      weight: stillTripped ? 0 : clampWeight(spec.canaryWeight ?? 0),
      stickyHeader: spec.sticky === 'none' ? null : typeof spec.sticky === 'object' ? spec.sticky.header.toLowerCase() : '',
      variants: this.variantsOf(spec.stage),
      ...(stillTripped ? { trip: stillTripped } : {}),
      asleep: spec.asleep === true,
      lastAt: before?.lastAt ?? Date.now(),
      held: before?.held ?? [],
    };
    this.routes.set(key, route);
    // Awake again: what waited goes on, in the order it came.
    if (!route.asleep && route.held.length > 0) this.releaseHeld(route.held);
  }

  /** Moves the split; a tripped guard keeps the canary at 0. */
  setCanaryWeight(host: string, weight: number): void {
    const r = this.routes.get(host.toLowerCase());
    if (!r) return;
    r.spec.canaryWeight = clampWeight(weight);
    if (!r.trip) r.weight = r.spec.canaryWeight;
  }

  removeRoute(host: string): void {
    const key = host.toLowerCase();
    const r = this.routes.get(key);
    this.routes.delete(key);
    // Requests waiting for a stage that is gone get what any request for it gets now (404).
    if (r && r.held.length > 0) this.releaseHeld(r.held);
  }

  /** When the host last got a request, whether it sleeps and how many requests wait for it; undefined: no route. */
  activity(host: string): RouteActivity | undefined {
    const r = this.routes.get(host.toLowerCase());
    return r && { lastRequestAt: r.lastAt, asleep: r.asleep, held: r.held.length };
  }

  /** The asleep routes that hold requests now: each is a call to wake its stage not yet answered. */
  wakeCalls(): WakeCall[] {
    return [...this.routes].flatMap(([host, r]) => (r.asleep && r.held.length > 0 ? [{ host, stage: r.stage, at: r.held[0]!.at }] : []));
  }

  /** What the router serves for a host now. */
  routeState(host: string): RouteState | undefined {
    const r = this.routes.get(host.toLowerCase());
    if (!r) return undefined;
    const state: RouteState = { stage: r.stage, stable: r.stable?.version ?? null, canary: r.canary?.version ?? null, weight: r.weight };
    if (r.asleep) state.asleep = true;
    return r.trip ? { ...state, trip: r.trip } : state;
  }

  /** Every route as the routes file keeps it. */
  savedRoutes(): Record<string, SavedRoute> {
    return Object.fromEntries([...this.routes].map(([host, r]) => [host, { spec: r.spec, ...(r.trip ? { trip: r.trip } : {}) }]));
  }

  /** Guard trips of the routes as they are now. */
  trips(): GuardTrip[] {
    return [...this.routes.values()].flatMap((r) => (r.trip ? [r.trip] : []));
  }

  private lastNotice = 0;
  /** One line for people, at most once a second (a flood of failures is one story). */
  private notice(line: string): void {
    if (Date.now() - this.lastNotice < 1000) return;
    this.lastNotice = Date.now();
    this.o.onNotice?.(line);
  }

  /** The guard tripped: the canary's users go back to stable now; the route remembers why. */
  private trip(host: string, version: string, reason: string): void {
    const r = this.routes.get(host);
    if (!r || r.trip || r.canary?.version !== version) return;
    r.trip = { host, stage: r.stage, version, at: Date.now(), reason };
    r.weight = 0;
    this.o.onTrip?.(r.trip);
  }

  async drain(backends: Backend[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (backends.some((b) => (this.inflight.get(b.id)?.n ?? 0) > 0) && Date.now() < until) await sleep(10);
    for (const b of backends) if ((this.inflight.get(b.id)?.n ?? 0) === 0) this.inflight.delete(b.id);
    // The instances are about to stop: close their idle connections first, so no request picks one as it closes.
    for (const b of backends) {
      for (const up of this.idle.get(b.port) ?? []) up.sock.destroy();
      this.idle.delete(b.port);
    }
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    // Half-open allowed: a client that shuts down its sending side after a request still gets the answer.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) => this.accept(sock));
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => {
        server.off('error', rej);
        res();
      });
    });
    // Accepting can fail (out of file descriptors) while serving: say so, and go on.
    server.on('error', (e: NodeJS.ErrnoException) => this.notice(`router: cannot accept a connection (${e.code ?? e.message}); serving the ones it has`));
    return (server.address() as AddressInfo).port;
  }

  /** Stops listening; answers under way get up to `graceMs` to finish, then every connection closes. */
  async close(graceMs = 0): Promise<void> {
    const s = this.server;
    this.server = undefined;
    const stopped = s ? new Promise((res) => s.close(res)) : Promise.resolve();
    this.draining = true;
    const busy = () => [...this.upstreams].some((u) => u.ex);
    for (const until = Date.now() + graceMs; busy() && Date.now() < until; ) await sleep(20);
    this.closed = true;
    for (const r of this.routes.values()) for (const h of r.held.splice(0)) clearTimeout(h.timer);
    for (const c of this.clients) c.destroy();
    for (const up of this.upstreams) up.sock.destroy();
    this.idle.clear();
    await stopped;
  }

  // ---- client side -------------------------------------------------------------------------------------------

  private accept(sock: net.Socket): void {
    if (this.clients.size >= this.maxConnections) {
      if (this.refusing >= this.maxRefusing) {
        sock.destroy();
        return;
      }
      // Past the cap: a short answer, then the connection closes (a client that sent nothing yet still reads it).
      this.refusing++;
      sock.once('close', () => this.refusing--);
      sock.on('error', noop);
      sock.on('data', noop); // read what it sends, so that closing does not reset the connection under the answer
      sock.setTimeout(1000, () => sock.destroy());
      sock.end(OVER_CAPACITY);
      return;
    }
    const c: Client = { sock, addr: sock.remoteAddress ?? '', buf: null, ex: null, closing: false, ended: false, reading: false, headSince: 0, blank: 0, scanned: 0, held: null };
    this.clients.add(sock);
    // Armed once: activity re-arms it, and it closes only a connection with no exchange in flight.
    sock.setTimeout(CLIENT_IDLE_MS);
    sock.on('data', (d: Buffer) => this.clientData(c, d));
    sock.on('end', () => {
      c.ended = true;
      const ex = c.ex;
      if (!ex) {
        // A held request is answered once its stage wakes, unless its body can never be complete now.
        const held = c.held;
        if (!held) sock.end();
        else if (!held.p.reqBody.done && this.unhold(held)) this.refuse(c, new HttpError(400, 'bad request: the request body ended before its declared length'));
      } else if (!ex.reqBody.done && !ex.resp) {
        // The client stopped sending in the middle of its request's body: it can never be complete. Nothing has been
        // answered yet, so say why, and drop the instance's side (not counted: the instance did nothing wrong).
        this.abandon(ex);
        c.ex = null;
        this.refuse(c, new HttpError(400, 'bad request: the request body ended before its declared length'));
      }
    });
    sock.on('drain', () => c.ex?.up?.sock.resume());
    sock.on('timeout', () => {
      if (!c.ex && !c.held) sock.destroy();
    });
    sock.on('error', noop);
    sock.on('close', () => {
      this.clients.delete(sock);
      if (c.ex) this.abandon(c.ex);
      if (c.held) this.unhold(c.held);
    });
  }

  private clientData(c: Client, d: Buffer): void {
    const ex = c.ex;
    if (!ex && c.held) {
      this.heldData(c, c.held.p, d);
      return;
    }
    if (!ex && c.closing) {
      // Answered and closing: what else it sends is read (so that closing does not reset the connection under the
      // answer) and dropped, but only up to a head's worth; a client that goes on sending is cut off.
      c.blank += d.length;
      if (c.blank > this.maxHeadBytes) c.sock.destroy();
      return;
    }
    if (ex && !ex.reqBody.done) {
      let n: number;
      try {
        n = ex.reqBody.feed(d);
      } catch (e) {
        c.sock.destroy(e as Error);
        return;
      }
      if (ex.up && !ex.up.sock.write(n === d.length ? d : d.subarray(0, n))) c.sock.pause();
      if (n === d.length) return;
      d = d.subarray(n);
    }
    c.buf = c.buf ? Buffer.concat([c.buf, d]) : d;
    // One request at a time: what a pipelining client sends next waits here, and reading stops until it is its turn.
    if (c.ex || c.held) c.sock.pause();
    else this.nextRequest(c);
  }

  private nextRequest(c: Client): void {
    if (c.reading) return;
    c.reading = true;
    try {
      this.readRequests(c);
    } finally {
      c.reading = false;
    }
    if (!c.ex && c.ended && !c.closing) c.sock.end();
  }

  private readRequests(c: Client): void {
    while (!c.ex && !c.held && c.buf && !c.sock.destroyed) {
      let buf = c.buf;
      let skip = 0;
      while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
      if (skip > 0) {
        // Empty lines before a request (RFC 9112 §2.2) are dropped as they come, so that they are never scanned
        // again, and counted against the head's limit: a client sending only them is closed once past it.
        c.blank += skip;
        buf = buf.subarray(skip);
        c.buf = buf.length ? buf : null;
        c.scanned = 0;
        if (c.blank > this.maxHeadBytes) {
          this.refuse(c, new HttpError(431, `request header fields too large: more than ${this.maxHeadBytes} bytes, empty lines before the request included`));
          return;
        }
        if (!c.buf) {
          if (!c.headSince) c.headSince = Date.now();
          return;
        }
      }
      const end = buf.indexOf('\r\n\r\n', c.scanned);
      if (end < 0 || end + c.blank > this.maxHeadBytes) {
        if (buf.length + c.blank > this.maxHeadBytes) this.refuse(c, new HttpError(431, `request header fields too large: more than ${this.maxHeadBytes} bytes${c.blank ? ', empty lines before the request included' : ''}`));
        else if (!c.headSince) c.headSince = Date.now();
        else if (Date.now() - c.headSince > this.headTimeoutMs) this.refuse(c, new HttpError(408, `request head not complete within ${this.headTimeoutMs} ms`));
        // The end may straddle what came and what comes next: search again from its earliest possible start.
        if (end < 0) c.scanned = Math.max(0, buf.length - 3);
        return;
      }
      c.headSince = 0;
      c.blank = 0;
      c.scanned = 0;
      let head: Head;
      try {
        head = parseHead(buf.toString('latin1', 0, end), 'request');
      } catch (e) {
        this.refuse(c, e as HttpError);
        return;
      }
      buf = buf.subarray(end + 4);
      c.buf = buf.length ? buf : null;
      this.begin(c, head);
    }
  }

  /** Answers a request the router could not read, and closes the connection (what follows cannot be trusted). */
  private refuse(c: Client, e: HttpError): void {
    c.buf = null;
    c.closing = true;
    c.blank = 0;
    this.answer(c, e.status, `sluice: ${e.message}\n`, '', false);
    c.sock.end();
  }

  /** A complete answer from the router itself. */
  private answer(c: Client, status: number, text: string, extra: string, headOnly: boolean): void {
    const body = Buffer.from(text);
    const close = c.closing ? 'connection: close\r\n' : '';
    const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n${extra}${close}\r\n`;
    c.sock.cork();
    c.sock.write(head, 'latin1');
    if (!headOnly) c.sock.write(body);
    c.sock.uncork();
  }

  private begin(c: Client, head: Head): void {
    const start = performance.now();
    if (head.minor === 0 || head.connection.includes('close') || this.draining) c.closing = true;
    const reqBody = new BodyScanner(requestBody(head), 'request');
    let firstBody: Buffer | null = null;
    if (c.buf && !reqBody.done) {
      let n: number;
      try {
        n = reqBody.feed(c.buf);
      } catch (e) {
        this.refuse(c, e as HttpError);
        return;
      }
      firstBody = c.buf.subarray(0, n);
      c.buf = n < c.buf.length ? c.buf.subarray(n) : null;
    }
    let target = head.target;
    let host: string | undefined;
    /** The target was in absolute form: its authority is the Host, whatever Host header came with it. */
    let absolute = false;
    if (target.charCodeAt(0) !== 47 && target !== '*') {
      if (head.method === 'CONNECT') {
        this.refuse(c, new HttpError(405, 'CONNECT is not supported'));
        return;
      }
      // Absolute form (as sent to a proxy): RFC 9112 §3.2.2 says its authority replaces Host, and the instance gets
      // the origin form, as if the client had asked it directly.
      const m = ABSOLUTE_FORM.exec(target);
      if (!m) {
        this.refuse(c, new HttpError(400, 'bad request: invalid request target (an absolute one is http://host[:port]/path, with no user name)'));
        return;
      }
      absolute = true;
      host = m[1]!;
      const rest = m[2] ?? '';
      target = rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest;
    }
    const conn = head.connection;
    let out = `${head.method} ${target} HTTP/1.1\r\n${absolute ? `host: ${host}\r\n` : ''}`;
    let forwardedFor: string | undefined;
    let pinned: string | undefined;
    let cookie: string | undefined;
    let upgradeTo: string | undefined;
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      const value = h[i + 1]!;
      const lower = name.toLowerCase();
      switch (lower) {
        case 'host':
          // Only one can have come (parseHead refuses a second); an absolute target has replaced it.
          if (absolute) continue;
          host = value;
          break;
        case 'x-forwarded-for':
          forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
          continue;
        case 'x-forwarded-host':
        case 'x-forwarded-proto':
          continue;
        case VERSION_HEADER:
          pinned = value;
          break;
        case 'cookie':
          cookie = cookie ? `${cookie}; ${value}` : value;
          break;
        case 'upgrade':
          upgradeTo = value;
          continue;
      }
      if (HOP_BY_HOP.has(lower) || (conn.length > 0 && conn.includes(lower))) continue;
      out += `${name}: ${value}\r\n`;
    }
    if (host === undefined && head.minor === 1) {
      this.refuse(c, new HttpError(400, 'bad request: no Host header'));
      return;
    }
    if (head.method === 'CONNECT') {
      this.refuse(c, new HttpError(405, 'CONNECT is not supported'));
      return;
    }
    const key = hostKey(host ?? '');
    const route = this.routes.get(key);
    const headOnly = head.method === 'HEAD';
    if (!route) {
      if (!reqBody.done) c.closing = true;
      this.answer(c, 404, `sluice: no stage answers at ${key || '(no Host header)'}; known: ${[...this.routes.keys()].join(', ') || 'none'}\n`, '', headOnly);
      this.settled(c);
      return;
    }
    route.lastAt = Date.now();
    if (head.chunked) out += 'transfer-encoding: chunked\r\n';
    const upgrade = upgradeTo !== undefined && conn.includes('upgrade');
    if (upgrade) out += `connection: upgrade\r\nupgrade: ${upgradeTo}\r\n`;
    out += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${c.addr}` : c.addr}\r\nx-forwarded-host: ${host ?? ''}\r\nx-forwarded-proto: http\r\n\r\n`;
    const p: Pending = { head, out, reqBody, firstBody, upgrade, pinned, cookie, start };
    if (route.asleep) this.hold(c, key, route, p);
    else this.dispatch(c, key, route, p);
  }

  /** Sends a request whose head is read to the route's instances (or answers 503 when it has none). */
  private dispatch(c: Client, key: string, route: Route, p: Pending): void {
    const { head, reqBody, start } = p;
    const headOnly = head.method === 'HEAD';
    const { pool, setCookie } = this.choose(route, head, p.pinned, p.cookie);
    const variants = route.variants.counted.length === 0 ? null : this.variantRecorders(route.variants, head.headers, p.cookie);
    if (!pool || pool.backends.length === 0) {
      if (!reqBody.done) c.closing = true;
      this.answer(c, 503, 'sluice: no healthy instance for this stage\n', 'retry-after: 1\r\n', headOnly);
      this.record(pool, variants, start, 503);
      this.settled(c);
      return;
    }
    const ex: Exchange = {
      client: c,
      method: head.method,
      upHead: p.out,
      reqBody,
      firstBody: p.firstBody,
      upgrade: p.upgrade,
      http10: head.minor === 0,
      retryable: (head.method === 'GET' || head.method === 'HEAD') && reqBody.done,
      host: key,
      pool,
      variants,
      inflight: pool.inflight[0]!,
      up: null,
      tries: 0,
      start,
      setCookie,
      respBuf: null,
      resp: null,
      respBody: null,
      dechunk: false,
      reuse: true,
      done: false,
    };
    c.ex = ex;
    // A pipelined next request waits its turn; the rest of this one's body (a held request's too) flows on.
    if (c.buf) c.sock.pause();
    else c.sock.resume();
    this.send(ex);
  }

  // ---- asleep routes: hold, wake, time out (docs/adr/0029) -----------------------------------------------------

  /** Holds a request for an asleep route; the first one held asks the control plane to wake the stage. */
  private hold(c: Client, key: string, route: Route, p: Pending): void {
    const headOnly = p.head.method === 'HEAD';
    if (route.held.length >= this.maxHeld) {
      if (!p.reqBody.done) c.closing = true;
      this.answer(c, 503, `sluice: ${route.stage} is asleep and waking; ${this.maxHeld} requests wait for it already, the most it holds; try again\n`, 'retry-after: 5\r\n', headOnly);
      this.settled(c);
      return;
    }
    const list = route.held;
    const held: Held = {
      c,
      key,
      p,
      at: Date.now(),
      timer: setTimeout(() => {
        if (!this.unhold(held)) return;
        if (!p.reqBody.done) c.closing = true;
        this.answer(c, 503, `sluice: ${route.stage} is asleep (scaled to zero) and did not wake within ${Math.round(this.holdTimeoutMs / 1000)} s; try again shortly\n`, 'retry-after: 5\r\n', headOnly);
        this.settled(c);
      }, this.holdTimeoutMs),
    };
    c.held = held;
    list.push(held);
    if (list.length === 1) this.o.onWake?.({ host: key, stage: route.stage, at: held.at });
  }

  /**
   * Bytes from a client whose request is held. Its body is kept (up to HELD_BODY_BYTES, then reading pauses until the
   * stage wakes); reading goes on so that a client hanging up is seen and its request let go. What comes after the
   * body (a pipelined request) waits, and reading pauses.
   */
  private heldData(c: Client, p: Pending, d: Buffer): void {
    if (!p.reqBody.done) {
      let n: number;
      try {
        n = p.reqBody.feed(d);
      } catch (e) {
        c.sock.destroy(e as Error);
        return;
      }
      const part = n === d.length ? d : d.subarray(0, n);
      p.firstBody = p.firstBody ? Buffer.concat([p.firstBody, part]) : part;
      if (p.firstBody.length >= HELD_BODY_BYTES) c.sock.pause();
      if (n === d.length) return;
      d = d.subarray(n);
    }
    c.buf = c.buf ? Buffer.concat([c.buf, d]) : d;
    c.sock.pause();
  }

  /** Takes a held request off its route's list; false when it was not held any more. */
  private unhold(h: Held): boolean {
    if (h.c.held !== h) return false;
    h.c.held = null;
    clearTimeout(h.timer);
    for (const r of this.routes.values()) {
      const at = r.held.indexOf(h);
      if (at >= 0) {
        r.held.splice(at, 1);
        break;
      }
    }
    return true;
  }

  /** The held requests of a route that woke or went: each goes on with the route as it is now. */
  private releaseHeld(list: Held[]): void {
    for (const h of list.splice(0)) {
      const c = h.c;
      if (c.held !== h) continue;
      c.held = null;
      clearTimeout(h.timer);
      if (c.sock.destroyed) continue;
      const key = h.key;
      const route = this.routes.get(key);
      if (route && !route.asleep) this.dispatch(c, key, route, h.p);
      else {
        if (!h.p.reqBody.done) c.closing = true;
        this.answer(c, 404, `sluice: no stage answers at ${key} any more\n`, '', h.p.head.method === 'HEAD');
        this.settled(c);
      }
    }
  }

  /** Picks the pool for a request, and the cookie to set when the user had no key yet. */
  private choose(route: Route, head: Head, pinned: string | undefined, cookie: string | undefined): { pool: LivePool | null; setCookie?: string } {
    if (pinned) {
      if (pinned === 'canary' && route.canary) return { pool: route.canary };
      if (pinned === 'stable' && route.stable) return { pool: route.stable };
      if (route.canary?.version === pinned) return { pool: route.canary };
      if (route.stable?.version === pinned) return { pool: route.stable };
    }
    if (!route.canary || route.weight <= 0) return { pool: route.stable ?? route.canary };
    if (route.weight >= 100 || !route.stable) return { pool: route.canary };
    if (route.stickyHeader === null) return { pool: Math.random() * 100 < route.weight ? route.canary : route.stable };
    const h = head.headers;
    let key: string | undefined;
    if (route.stickyHeader) for (let i = 0; i < h.length && !key; i += 2) if (h[i]!.toLowerCase() === route.stickyHeader) key = h[i + 1];
    let setCookie: string | undefined;
    if (!key) key = cookieValue(cookie, STICKY_COOKIE);
    if (!key) {
      key = randomBytes(9).toString('base64url');
      setCookie = `${STICKY_COOKIE}=${key}; Path=/; HttpOnly; SameSite=Lax`;
    }
    const pool = bucketOf(`${route.stage}${key}`) < route.weight ? route.canary : route.stable;
    return { pool, ...(setCookie ? { setCookie } : {}) };
  }

  /** The exchange is over on the client's side: read the next request, or close. */
  private settled(c: Client): void {
    c.ex = null;
    if (c.closing) {
      c.sock.end();
      return;
    }
    c.sock.resume();
    this.nextRequest(c);
  }

  // ---- upstream side -----------------------------------------------------------------------------------------

  private send(ex: Exchange): void {
    const pool = ex.pool;
    const idx = pool.next++ % pool.backends.length;
    const port = pool.backends[idx]!.port;
    ex.inflight = pool.inflight[idx]!;
    ex.inflight.n++;
    const list = this.idle.get(port);
    let up: Upstream | undefined;
    // An instance closes connections it has not used for a while (Node: 5 s); take none that could be closing now.
    while (list && (up = list.pop()) && Date.now() - up.idleSince > UPSTREAM_IDLE_MS) up.sock.destroy();
    up ??= this.connect(port);
    up.ex = ex;
    ex.up = up;
    up.sock.cork();
    up.sock.write(ex.upHead, 'latin1');
    if (ex.firstBody) up.sock.write(ex.firstBody);
    up.sock.uncork();
  }

  private connect(port: number): Upstream {
    const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const up: Upstream = { sock, port, ex: null, timedOut: false, idleSince: 0 };
    sock.setTimeout(this.upstreamTimeoutMs);
    this.upstreams.add(up);
    sock.on('data', (d: Buffer) => this.upstreamData(up, d));
    sock.on('drain', () => {
      const ex = up.ex;
      if (ex && !ex.reqBody.done) ex.client.sock.resume();
    });
    sock.on('timeout', () => {
      up.timedOut = true;
      sock.destroy();
    });
    sock.on('error', (e) => {
      up.err = e;
    });
    sock.on('close', () => this.upstreamClosed(up));
    return up;
  }

  private upstreamData(up: Upstream, d: Buffer): void {
    const ex = up.ex;
    if (!ex) {
      up.sock.destroy(); // bytes nobody asked for: the connection cannot be trusted
      return;
    }
    const c = ex.client;
    if (!ex.resp) {
      ex.respBuf = ex.respBuf ? Buffer.concat([ex.respBuf, d]) : d;
      this.responseHead(ex);
      return;
    }
    const body = ex.respBody!;
    let n: number;
    try {
      n = ex.dechunk ? body.feed(d, 0, (b) => c.sock.write(b)) : body.feed(d);
    } catch {
      this.cut(ex);
      return;
    }
    if (!ex.dechunk && !c.sock.write(n === d.length ? d : d.subarray(0, n))) up.sock.pause();
    if (n < d.length) ex.reuse = false;
    if (body.done) this.finish(ex);
  }

  /** Reads the answer's head (relaying any 1xx first), then sends the client its head and what came with it. */
  private responseHead(ex: Exchange): void {
    const c = ex.client;
    for (;;) {
      const buf = ex.respBuf!;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 4 * MAX_HEAD_BYTES) this.upstreamFailed(ex, new Error('response head too large'));
        return;
      }
      let head: Head;
      try {
        head = parseHead(buf.toString('latin1', 0, end), 'response');
      } catch (e) {
        this.upstreamFailed(ex, e as Error);
        return;
      }
      const rest = buf.subarray(end + 4);
      if (head.status === 101 && ex.upgrade) {
        c.sock.write(buf);
        this.tunnel(ex);
        return;
      }
      if (head.status < 200) {
        if (head.status === 101) {
          this.upstreamFailed(ex, new Error('switched protocols without being asked'));
          return;
        }
        // 100 Continue and other interim answers go to the client as they are (HTTP/1.0 clients know none).
        if (!ex.http10) c.sock.write(buf.subarray(0, end + 4));
        ex.respBuf = rest.length ? rest : null;
        if (!ex.respBuf) return;
        continue;
      }
      ex.respBuf = null;
      ex.resp = head;
      const kind = responseBody(head, ex.method);
      const body = new BodyScanner(kind, 'response');
      ex.respBody = body;
      if (head.minor === 0 || head.connection.includes('close') || kind.kind === 'close') ex.reuse = false;
      // Without a length the end of the body is the end of the connection, for the client too.
      if (kind.kind === 'close') c.closing = true;
      ex.dechunk = kind.kind === 'chunked' && ex.http10;
      c.sock.cork();
      c.sock.write(this.clientHead(ex, head, kind), 'latin1');
      let n: number;
      try {
        n = ex.dechunk ? body.feed(rest, 0, (b) => c.sock.write(b)) : body.feed(rest);
      } catch {
        c.sock.uncork();
        this.cut(ex);
        return;
      }
      if (!ex.dechunk && n > 0) c.sock.write(n === rest.length ? rest : rest.subarray(0, n));
      c.sock.uncork();
      if (n < rest.length) ex.reuse = false;
      if (body.done) this.finish(ex);
      return;
    }
  }

  /** The head the client gets: the instance's, without hop-by-hop fields, plus the router's own. */
  private clientHead(ex: Exchange, head: Head, kind: BodyKind): string {
    let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
    const h = head.headers;
    const conn = head.connection;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (conn.length > 0 && conn.includes(lower))) continue;
      if (kind.kind === 'chunked' && lower === 'content-length') continue;
      out += `${name}: ${h[i + 1]!}\r\n`;
    }
    if (kind.kind === 'chunked' && !ex.dechunk) out += 'transfer-encoding: chunked\r\n';
    out += `${VERSION_HEADER}: ${ex.pool.version}\r\n`;
    if (ex.setCookie) out += `set-cookie: ${ex.setCookie}\r\n`;
    if (ex.client.closing) out += 'connection: close\r\n';
    return `${out}\r\n`;
  }

  /** The answer is complete: count it, keep the upstream connection for the next request, serve the client's next. */
  private finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    ex.inflight.n--;
    this.record(ex.pool, ex.variants, ex.start, ex.resp?.status ?? 0);
    const up = ex.up;
    ex.up = null;
    const c = ex.client;
    // An instance that answered before reading the whole request body leaves the client's stream mid-message.
    if (!ex.reqBody.done) {
      ex.reuse = false;
      c.closing = true;
    }
    if (up) {
      up.ex = null;
      if (ex.reuse && !up.sock.destroyed) this.park(up);
      else up.sock.destroy();
    }
    this.settled(c);
  }

  /** Keeps an upstream connection for reuse (for UPSTREAM_IDLE_MS; an unused one closes after the upstream timeout). */
  private park(up: Upstream): void {
    up.sock.resume();
    up.idleSince = Date.now();
    let list = this.idle.get(up.port);
    if (!list) {
      list = [];
      this.idle.set(up.port, list);
    }
    if (list.length >= MAX_IDLE_PER_INSTANCE) up.sock.destroy();
    else list.push(up);
  }

  private upstreamClosed(up: Upstream): void {
    this.upstreams.delete(up);
    const list = this.idle.get(up.port);
    const at = list ? list.indexOf(up) : -1;
    if (at >= 0) list!.splice(at, 1);
    const ex = up.ex;
    up.ex = null;
    if (!ex || ex.done || ex.up !== up) return;
    ex.up = null;
    // A body that runs until the connection closes has just ended.
    if (ex.respBody && !ex.respBody.done && ex.respBody.untilClose && !up.timedOut && !up.err) {
      this.finish(ex);
      return;
    }
    this.upstreamFailed(ex, up.timedOut ? new TimeoutError(`no answer within ${this.upstreamTimeoutMs} ms`) : (up.err ?? new Error('the instance closed the connection')));
  }

  /** The instance failed the request: retry it elsewhere if nothing was sent yet and it is safe, else answer 502/504. */
  private upstreamFailed(ex: Exchange, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') this.notice(`router: cannot open a connection to an instance (${code}); answering 502 until files are free`);
    this.dropUpstream(ex);
    if (ex.resp) {
      this.cut(ex);
      return;
    }
    ex.inflight.n--;
    const c = ex.client;
    if (ex.retryable && !this.closed && ex.tries + 1 < Math.max(2, ex.pool.backends.length + 1)) {
      // A connection closing under the request: the split may have moved meanwhile, so choose again.
      ex.tries++;
      ex.respBuf = null;
      ex.pool = this.poolNow(ex.host, ex.pool.version) ?? ex.pool;
      if (ex.pool.backends.length > 0) {
        this.send(ex);
        return;
      }
    }
    ex.done = true;
    if (!ex.reqBody.done) c.closing = true;
    this.answer(c, err instanceof TimeoutError ? 504 : 502, `sluice: upstream failed: ${err.message}\n`, '', ex.method === 'HEAD');
    this.record(ex.pool, ex.variants, ex.start, 0);
    this.settled(c);
  }

  /** Part of the answer went out and the rest cannot follow: the client sees its connection end early. */
  private cut(ex: Exchange): void {
    if (ex.done) return;
    this.abandon(ex);
    this.record(ex.pool, ex.variants, ex.start, 0);
    ex.client.sock.destroy();
  }

  /** The client went away mid-exchange: drop the upstream side (not counted: the instance did nothing wrong). */
  private abandon(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    ex.inflight.n--;
    this.dropUpstream(ex);
  }

  /** Closes the exchange's upstream connection: it is mid-message and cannot serve anyone else. */
  private dropUpstream(ex: Exchange): void {
    const up = ex.up;
    ex.up = null;
    if (up) {
      up.ex = null;
      up.sock.destroy();
    }
  }

  /** The pool of `version` in the host's current route, or its stable pool if that version left. */
  private poolNow(host: string, version: string): LivePool | null {
    const r = this.routes.get(host);
    if (!r) return null;
    if (r.canary?.version === version) return r.canary;
    return r.stable ?? r.canary;
  }

  /** After 101 Switching Protocols (WebSocket and other upgrades) bytes flow both ways untouched. */
  private tunnel(ex: Exchange): void {
    const c = ex.client;
    const up = ex.up!;
    ex.done = true;
    this.record(ex.pool, ex.variants, ex.start, 101);
    this.upstreams.delete(up);
    for (const s of [c.sock, up.sock]) {
      s.removeAllListeners('data');
      s.removeAllListeners('drain');
      s.removeAllListeners('timeout');
      s.removeAllListeners('end');
      s.removeAllListeners('close');
      s.setTimeout(0);
    }
    if (c.buf) up.sock.write(c.buf);
    c.buf = null;
    c.sock.resume();
    up.sock.resume();
    up.sock.pipe(c.sock);
    c.sock.pipe(up.sock);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      ex.inflight.n--;
      this.clients.delete(c.sock);
      up.sock.destroy();
      c.sock.destroy();
    };
    // Either side hanging up ends the tunnel (half-open sockets would otherwise linger).
    for (const side of [up.sock, c.sock]) for (const ev of ['end', 'close']) side.on(ev, done);
  }
}

function clampWeight(w: number): number {
  return Math.max(0, Math.min(100, Number.isFinite(w) ? w : 0));
}
