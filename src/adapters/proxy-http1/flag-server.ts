import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { EvaluationContext, FlagValue, Resolution } from '../../flags/ports/flag-serving.js';
import { ZERO_OF } from '../../flags/ports/flag-serving.js';
import { VARIANT_KEY_METADATA } from '../../flags/ports/variant-metrics.js';
import { type FlagChange, type FlagSets, keyHash, type ServedStage } from './flag-sets.js';

/** What the flag listener allows by default; each is a setting of the data plane (`--flags-…`). */
export const FLAG_SERVER_LIMITS = {
  /** Client connections at once; past it a connection gets 503 and is closed. */
  maxConnections: 10_000,
  /** Stream subscribers at once; past it, 503 with Retry-After before the stream starts. */
  maxStreams: 5_000,
  /** Bytes of an evaluation request's body; past it, 400 INVALID_CONTEXT and the connection is closed. */
  maxBodyBytes: 64 * 1024,
  /** Nesting of the evaluation context's values. */
  maxContextDepth: 16,
  /** Values (attributes, list items, nested members) in one evaluation context. */
  maxContextValues: 2_000,
  /** Requests per second one API key may make (its bucket holds one second's worth); past it, 429 with Retry-After. */
  ratePerSecond: 10_000,
  /** How often a quiet stream gets a comment line, so proxies and clients know it is alive. */
  heartbeatMs: 15_000,
  /** Bytes a stream's client may leave unread before it is dropped (it reconnects and is told the current revision). */
  streamBufferBytes: 256 * 1024,
  /** Bytes of a report's body (`POST /flags/v1/report`); past it, 413. */
  maxReportBytes: 256 * 1024,
  /** Entries of one report; past it, 413. */
  maxReportEntries: 2_000,
} as const;

/** The most evaluations (or errors) one report entry may carry: far more than a second of any app, far less than float precision. */
export const MAX_REPORTED_COUNT = 1_000_000_000;

/** Where reported evaluations are counted: the data plane's per-variant counters (RouterMetrics). */
export interface VariantReports {
  report(stage: string, flag: string, variant: string, evaluations: number, errors: number): void;
}

export interface FlagServerOptions {
  sets: FlagSets;
  maxConnections?: number;
  maxStreams?: number;
  maxBodyBytes?: number;
  maxContextDepth?: number;
  maxContextValues?: number;
  ratePerSecond?: number;
  heartbeatMs?: number;
  streamBufferBytes?: number;
  maxReportBytes?: number;
  maxReportEntries?: number;
  /** Where `POST /flags/v1/report` counts; without it the route answers 404. */
  variants?: VariantReports;
  notice?: (line: string) => void;
}

interface Subscriber {
  res: ServerResponse;
  stage: string;
  hash: string;
}

/** An OFREP error of one evaluation (400/404), or of the whole request. */
class OfrepError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const NOT_MODIFIED_HEADERS = { 'cache-control': 'no-cache' };
const OVER_CAPACITY_BODY = 'sluice: the flag listener serves as many connections as it may (--flags-max-connections); try again\n';
const OVER_CAPACITY = `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(OVER_CAPACITY_BODY)}\r\nConnection: close\r\n\r\n${OVER_CAPACITY_BODY}`;

/**
 * The data plane's flag listener: HTTP on a port of its own (the router's hot path is not touched). It serves
 * - OFREP: `POST /ofrep/v1/evaluate/flags/{key}` and bulk `POST /ofrep/v1/evaluate/flags` (ETag, If-None-Match -> 304),
 *   with the protocol's error bodies, and `GET /ofrep/v1/configuration`;
 * - `GET /flags/v1/stream`: server-sent events (`event: revision`, `id: <revision>`, data `{stage, revision, etag}` with
 *   the set's ETag value unquoted) at connect and on every change;
 * - `GET /flags/v1/sync`: the stage's whole flagd JSON with its ETag, for in-process providers;
 * - `POST /flags/v1/report`: a provider's evaluations and errors per flag variant, counted as they arrive.
 * An API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`) selects the stage; 401 without one, 403 with one
 * no stage lists.
 */
export class FlagServer {
  private server: Server | undefined;
  private readonly limits: Required<Omit<FlagServerOptions, 'sets' | 'notice' | 'variants'>>;
  private readonly streams = new Map<string, Set<Subscriber>>();
  private streamCount = 0;
  private connections = 0;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private heartbeat: NodeJS.Timeout | undefined;
  private unfollow: (() => void) | undefined;

  constructor(private readonly o: FlagServerOptions) {
    this.limits = {
      maxConnections: o.maxConnections ?? FLAG_SERVER_LIMITS.maxConnections,
      maxStreams: o.maxStreams ?? FLAG_SERVER_LIMITS.maxStreams,
      maxBodyBytes: o.maxBodyBytes ?? FLAG_SERVER_LIMITS.maxBodyBytes,
      maxContextDepth: o.maxContextDepth ?? FLAG_SERVER_LIMITS.maxContextDepth,
      maxContextValues: o.maxContextValues ?? FLAG_SERVER_LIMITS.maxContextValues,
      ratePerSecond: o.ratePerSecond ?? FLAG_SERVER_LIMITS.ratePerSecond,
      heartbeatMs: o.heartbeatMs ?? FLAG_SERVER_LIMITS.heartbeatMs,
      streamBufferBytes: o.streamBufferBytes ?? FLAG_SERVER_LIMITS.streamBufferBytes,
      maxReportBytes: o.maxReportBytes ?? FLAG_SERVER_LIMITS.maxReportBytes,
      maxReportEntries: o.maxReportEntries ?? FLAG_SERVER_LIMITS.maxReportEntries,
    };
  }

  /** Stream subscribers connected now. */
  get subscribers(): number {
    return this.streamCount;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const server = createServer({ noDelay: true }, (req, res) => {
      try {
        this.handle(req, res);
      } catch (e) {
        // A bug here must not take the data plane (and the router with it) down: this request gets a 500.
        this.o.notice?.(`flag listener: ${(e as Error).stack ?? String(e)}`);
        json(res, 500, { errorDetails: 'the data plane failed to answer; its log says why' });
      }
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    server.keepAliveTimeout = 65_000;
    server.on('connection', (socket: Socket) => {
      if (this.connections >= this.limits.maxConnections) {
        socket.on('error', () => {});
        socket.end(OVER_CAPACITY);
        socket.destroySoon();
        return;
      }
      this.connections++;
      socket.once('close', () => this.connections--);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    server.on('error', (e) => this.o.notice?.(`flag listener: ${e.message}`));
    this.unfollow = this.o.sets.onChange((c) => this.changed(c));
    this.heartbeat = setInterval(() => {
      for (const subs of this.streams.values()) for (const s of subs) this.write(s, ': heartbeat\n\n');
    }, this.limits.heartbeatMs);
    this.heartbeat.unref();
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.unfollow?.();
    for (const subs of this.streams.values()) for (const s of subs) s.res.end();
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route =
      path === '/ofrep/v1/evaluate/flags'
        ? 'bulk'
        : path.startsWith('/ofrep/v1/evaluate/flags/')
          ? 'single'
          : path === '/flags/v1/stream'
            ? 'stream'
            : path === '/flags/v1/sync'
              ? 'sync'
              : path === '/ofrep/v1/configuration'
                ? 'configuration'
                : path === '/flags/v1/report' && this.o.variants
                  ? 'report'
                  : undefined;
    if (!route) return json(res, 404, { errorDetails: `no ${path.slice(0, 200)} here: OFREP is under /ofrep/v1/, the stream at /flags/v1/stream, the sync feed at /flags/v1/sync` });
    const method = route === 'bulk' || route === 'single' || route === 'report' ? 'POST' : 'GET';
    if (req.method !== method) {
      res.setHeader('allow', method);
      return json(res, 405, { errorDetails: `${route === 'bulk' || route === 'single' ? 'OFREP evaluation' : path} takes ${method}` });
    }
    const who = this.authenticate(req, res);
    if (!who) return;
    const served = this.o.sets.get(who.stage);
    if (!served) return json(res, 403, { errorDetails: 'this API key reads no stage\'s flags' });
    if (route === 'stream') return this.subscribe(req, res, served, who.hash);
    if (route === 'sync') return this.sync(req, res, served);
    if (route === 'configuration') return this.configuration(res);
    if (route === 'report') {
      void this.report(req, res, served).catch((e: Error) => {
        this.o.notice?.(`flag listener: ${e.stack ?? e.message}`);
        json(res, 500, { errorDetails: 'the report failed inside the data plane; its log says why' });
      });
      return;
    }
    let key: string | undefined;
    if (route === 'single') {
      try {
        key = decodeURIComponent(path.slice('/ofrep/v1/evaluate/flags/'.length));
      } catch {
        key = path.slice('/ofrep/v1/evaluate/flags/'.length);
      }
    }
    void this.evaluate(req, res, served, key).catch((e: Error) => {
      this.o.notice?.(`flag listener: ${e.stack ?? e.message}`);
      json(res, 500, { errorDetails: 'the evaluation failed inside the data plane; its log says why' });
    });
  }

  /** The stage the request's API key selects, or undefined once 401/403/429 is sent. */
  private authenticate(req: IncomingMessage, res: ServerResponse): { stage: string; hash: string } | undefined {
    const candidates: string[] = [];
    const apiKey = req.headers['x-api-key'];
    if (typeof apiKey === 'string' && apiKey !== '') candidates.push(apiKey.trim());
    const auth = req.headers.authorization;
    if (typeof auth === 'string') {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
      if (m) candidates.push(m[1]!);
    }
    if (candidates.length === 0) {
      res.setHeader('www-authenticate', 'Bearer realm="sluice flags"');
      json(res, 401, { errorDetails: 'an API key is needed: send Authorization: Bearer <key> or X-API-Key: <key>' });
      return undefined;
    }
    for (const key of candidates) {
      if (key.length > 1024) continue;
      const hash = keyHash(key);
      const stage = this.o.sets.stageOfKey(key);
      if (stage === undefined) continue;
      const wait = this.take(hash);
      if (wait > 0) {
        res.setHeader('retry-after', String(wait));
        json(res, 429, { errorDetails: `this API key made more than ${this.limits.ratePerSecond} requests in a second; try again in ${wait} s` });
        return undefined;
      }
      return { stage, hash };
    }
    json(res, 403, { errorDetails: 'this API key reads no stage\'s flags' });
    return undefined;
  }

  /** Takes a token from the key's bucket: 0 when there was one, else the whole seconds to wait for the next. */
  private take(hash: string): number {
    const now = Date.now();
    const rate = this.limits.ratePerSecond;
    let b = this.buckets.get(hash);
    if (!b) this.buckets.set(hash, (b = { tokens: rate, at: now }));
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate));
  }

  private async evaluate(req: IncomingMessage, res: ServerResponse, served: ServedStage, key: string | undefined): Promise<void> {
    let context: EvaluationContext;
    try {
      context = this.context(await readBody(req, this.limits.maxBodyBytes));
    } catch (e) {
      if (!(e instanceof OfrepError)) throw e;
      if (e.status === 413) res.setHeader('connection', 'close');
      return json(res, 400, key === undefined ? { errorCode: e.code, errorDetails: e.message } : { key, errorCode: e.code, errorDetails: e.message });
    }
    const now = Date.now();
    const counts = this.o.sets.counts;
    if (key !== undefined) {
      const flag = Object.hasOwn(served.set.doc.flags, key) ? served.set.doc.flags[key] : undefined;
      if (!flag) return json(res, 404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag ${key.slice(0, 200)} is not in stage ${served.stage}'s flags` });
      const type = served.types.get(key) ?? 'object';
      const r = served.set.evaluate<FlagValue>(key, type, ZERO_OF[type], context, now);
      // Counted: each variant served, and errors (null); a disabled flag or one deferring to the app's default is neither.
      if (r.errorCode) counts.add(served.stage, key, null, now);
      else if (r.variant !== undefined) counts.add(served.stage, key, r.variant, now);
      if (r.errorCode) {
        const status = r.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400;
        return json(res, status, { key, errorCode: ofrepCode(r.errorCode), errorDetails: r.errorMessage ?? r.errorCode });
      }
      return json(res, 200, success(key, r));
    }
    const etag = `"${createHash('sha256').update(served.etag).update('\0').update(JSON.stringify(context)).digest('hex').slice(0, 40)}"`;
    if (matches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { etag, ...NOT_MODIFIED_HEADERS });
      res.end();
      return;
    }
    // Each enabled flag as its own type; an error is an item of the answer (OFREP's evaluationFailure), a flag that
    // defers to the app's default is left out, as a disabled one is.
    const flags: Record<string, unknown>[] = [];
    const doc = served.set.doc.flags;
    for (const key of served.set.keys()) {
      if (doc[key]?.state !== 'ENABLED') continue;
      const type = served.types.get(key) ?? 'object';
      const r = served.set.evaluate<FlagValue>(key, type, ZERO_OF[type], context, now);
      if (r.errorCode) {
        counts.add(served.stage, key, null, now);
        flags.push({ key, errorCode: ofrepCode(r.errorCode), errorDetails: r.errorMessage ?? r.errorCode });
      } else if (r.variant !== undefined) {
        counts.add(served.stage, key, r.variant, now);
        flags.push(success(key, r));
      }
    }
    res.setHeader('etag', etag);
    return json(res, 200, { flags });
  }

  /**
   * A provider's counts: `{ counts: [{ flag, variant, evaluations, errors }] }`. The whole report is checked before
   * any of it is counted: one wrong entry refuses it all (400 saying which), so a retry never counts twice.
   */
  private async report(req: IncomingMessage, res: ServerResponse, served: ServedStage): Promise<void> {
    const refuse = (status: number, errorDetails: string) => {
      if (status === 413) res.setHeader('connection', 'close');
      json(res, status, { errorCode: status === 413 ? 'REPORT_TOO_LARGE' : 'INVALID_REPORT', errorDetails });
    };
    let body: string;
    try {
      body = await readBody(req, this.limits.maxReportBytes);
    } catch (e) {
      if (!(e instanceof OfrepError)) throw e;
      return refuse(413, `a report takes at most ${this.limits.maxReportBytes} bytes; send a large one in parts`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      return refuse(400, `the report is not JSON (${(e as Error).message.slice(0, 200)})`);
    }
    const counts = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as { counts?: unknown }).counts : undefined;
    if (!Array.isArray(counts)) return refuse(400, 'a report is { "counts": [{ "flag": string, "variant": string, "evaluations": int, "errors": int }] }');
    if (counts.length > this.limits.maxReportEntries) return refuse(413, `a report has at most ${this.limits.maxReportEntries} entries (this one has ${counts.length}); send it in parts`);
    const doc = served.set.doc.flags;
    const byRouter = new Set(served.counted.map((c) => c.flag));
    const entries: { flag: string; variant: string; evaluations: number; errors: number }[] = [];
    for (let i = 0; i < counts.length; i++) {
      const c: unknown = counts[i];
      const at = `counts[${i}]`;
      if (typeof c !== 'object' || c === null || Array.isArray(c)) return refuse(400, `${at}: expected { flag, variant, evaluations, errors }`);
      const { flag, variant, evaluations, errors } = c as Record<string, unknown>;
      if (typeof flag !== 'string' || typeof variant !== 'string') return refuse(400, `${at}: flag and variant are strings`);
      const [ev, er] = [reportedCount(evaluations), reportedCount(errors)];
      if (ev === undefined || er === undefined) return refuse(400, `${at}: evaluations and errors are whole numbers from 0 to ${MAX_REPORTED_COUNT}`);
      const f = Object.hasOwn(doc, flag) ? doc[flag] : undefined;
      if (!f) return refuse(400, `${at}: flag ${JSON.stringify(flag.slice(0, 200))} is not in stage ${served.stage}'s flags`);
      if (!Object.hasOwn(f.variants, variant))
        return refuse(400, `${at}: flag ${flag} has no variant ${JSON.stringify(variant.slice(0, 200))} (it has ${Object.keys(f.variants).join(', ')})`);
      // Its requests are counted by the router already; counting evaluations too would mix two measures in one series.
      if (byRouter.has(flag)) return refuse(400, `${at}: flag ${flag} is counted by the router (metadata ${JSON.stringify(doc[flag]!.metadata?.[VARIANT_KEY_METADATA])}); a provider does not report it`);
      entries.push({ flag, variant, evaluations: ev, errors: er });
    }
    for (const e of entries) if (e.evaluations > 0 || e.errors > 0) this.o.variants!.report(served.stage, e.flag, e.variant, e.evaluations, e.errors);
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
  }

  /** The request's evaluation context, checked against the limits; OfrepError saying what is wrong. */
  private context(body: string): EvaluationContext {
    if (body.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw new OfrepError(400, 'PARSE_ERROR', `the request body is not JSON (${(e as Error).message.slice(0, 200)})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new OfrepError(400, 'PARSE_ERROR', 'the request body must be a JSON object: { "context": { ... } }');
    const ctx = (parsed as { context?: unknown }).context;
    if (ctx === undefined || ctx === null) return {};
    if (typeof ctx !== 'object' || Array.isArray(ctx)) throw new OfrepError(400, 'INVALID_CONTEXT', 'context must be an object of attributes');
    const tk = (ctx as { targetingKey?: unknown }).targetingKey;
    if (tk !== undefined && typeof tk !== 'string') throw new OfrepError(400, 'INVALID_CONTEXT', 'context.targetingKey must be a string');
    // Bounded walk: a context is attributes, not a document; its size and nesting are limited.
    let values = 0;
    const stack: [unknown, number][] = [[ctx, 1]];
    while (stack.length > 0) {
      const [v, depth] = stack.pop()!;
      if (++values > this.limits.maxContextValues) throw new OfrepError(400, 'INVALID_CONTEXT', `context has more than ${this.limits.maxContextValues} values`);
      if (typeof v !== 'object' || v === null) continue;
      if (depth > this.limits.maxContextDepth) throw new OfrepError(400, 'INVALID_CONTEXT', `context is nested deeper than ${this.limits.maxContextDepth} levels`);
      for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push([c, depth + 1]);
    }
    return ctx as EvaluationContext;
  }

  private sync(req: IncomingMessage, res: ServerResponse, served: ServedStage): void {
    const headers = { etag: served.etag, 'x-sluice-revision': String(served.published.revision), 'cache-control': 'no-cache' };
    if (matches(req.headers['if-none-match'], served.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(served.docJson) });
    res.end(served.docJson);
  }

  private configuration(res: ServerResponse): void {
    json(res, 200, {
      name: 'sluice',
      capabilities: {
        cacheInvalidation: { polling: { enabled: true, minPollingIntervalMs: 1000 } },
        flagEvaluation: { supportedTypes: ['int', 'float', 'string', 'boolean', 'object'] },
      },
    });
  }

  private subscribe(req: IncomingMessage, res: ServerResponse, served: ServedStage, hash: string): void {
    if (this.streamCount >= this.limits.maxStreams) {
      res.setHeader('retry-after', '5');
      return json(res, 503, { errorDetails: `the data plane serves as many flag streams as it may (${this.limits.maxStreams}); try again later` });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const sub: Subscriber = { res, stage: served.stage, hash };
    let subs = this.streams.get(served.stage);
    if (!subs) this.streams.set(served.stage, (subs = new Set()));
    subs.add(sub);
    this.streamCount++;
    res.once('close', () => {
      if (this.streams.get(sub.stage)?.delete(sub)) this.streamCount--;
    });
    req.socket.setTimeout(0);
    // At connect, the revision served now: a client that reconnects can tell whether it missed a change.
    this.write(sub, `retry: 1000\n${revisionEvent(served.stage, served.published.revision, served.set.etag)}`);
  }

  private changed(c: FlagChange): void {
    const subs = this.streams.get(c.stage);
    if (!subs || subs.size === 0) return;
    if (c.removed) {
      const msg = `event: removed\ndata: ${JSON.stringify({ stage: c.stage, revision: c.revision })}\n\n`;
      for (const s of [...subs]) {
        s.res.end(msg);
      }
      return;
    }
    const msg = revisionEvent(c.stage, c.revision, c.etag);
    for (const s of [...subs]) {
      // A stream opened with a key the stage no longer lists ends: it must not hear of changes it may not read.
      if (!this.o.sets.stageHasKeyHash(c.stage, s.hash)) s.res.end(`event: revoked\ndata: ${JSON.stringify({ stage: c.stage })}\n\n`);
      else this.write(s, msg);
    }
  }

  private write(s: Subscriber, text: string): void {
    if (s.res.destroyed) return;
    s.res.write(text);
    if (s.res.writableLength > this.limits.streamBufferBytes) s.res.destroy();
  }
}

/** A report entry's count (absent: 0), or undefined when it is not a whole number from 0 to MAX_REPORTED_COUNT. */
function reportedCount(v: unknown): number | undefined {
  if (v === undefined) return 0;
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_REPORTED_COUNT ? (v as number) : undefined;
}

function revisionEvent(stage: string, revision: number, etag: string): string {
  return `id: ${revision}\nevent: revision\ndata: ${JSON.stringify({ stage, revision, etag })}\n\n`;
}

/** OFREP's error codes for an evaluation; a type the flag set says nothing of is GENERAL. */
function ofrepCode(code: string): string {
  return code === 'PARSE_ERROR' || code === 'TARGETING_KEY_MISSING' || code === 'INVALID_CONTEXT' || code === 'FLAG_NOT_FOUND' ? code : 'GENERAL';
}

/** OFREP's success body; with no variant (a flag that defers to the caller's default) the value is left out. */
function success(key: string, r: Resolution): Record<string, unknown> {
  if (r.variant === undefined) return { key, reason: r.reason, metadata: r.flagMetadata };
  return { key, value: r.value, reason: r.reason, variant: r.variant, metadata: r.flagMetadata };
}

/** If-None-Match against a strong ETag: `*`, or a list with it (a weak W/ form compares equal, as RFC 9110 says for GET). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The request body as text, at most `max` bytes: past it, OfrepError at once (the rest is read and dropped). */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  const tooLarge = () => new OfrepError(413, 'INVALID_CONTEXT', `the request body is larger than ${max} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > max) return;
      size += c.length;
      if (size > max) reject(tooLarge());
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
