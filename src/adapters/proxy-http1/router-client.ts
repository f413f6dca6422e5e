import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EvaluationCount, FlagServing, PublishedFlagSet } from '../../flags/ports/flag-serving.js';
import type { Backend, CounterSeries, GuardTrip, RouteActivity, RouteSpec, RouteState, TrafficRouter, WakeCall } from '../../rollout/ports/traffic-router.js';
import type { DataPlaneHealth } from './control-server.js';

/** A call to the data plane that did not succeed; `status` 0 when it could not be reached. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The control plane's side of the data plane: the TrafficRouter and FlagServing ports over the data plane's control
 * socket. Calls that find the data plane away (it restarts on its own) are tried again for a while before they fail.
 */
export class RouterClient implements TrafficRouter, FlagServing {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private readonly listeners = new Set<(t: GuardTrip) => void>();
  private following: AbortController | undefined;
  private readonly wakeListeners = new Set<(w: WakeCall) => void>();
  private followingWakes: AbortController | undefined;
  private closed = false;

  constructor(
    private readonly socketPath: string,
    private readonly retryForMs = 10_000,
  ) {}

  health(): Promise<DataPlaneHealth> {
    return this.call<DataPlaneHealth>('GET', '/v1/health');
  }

  /** Asks the data plane to stop (sluice down): it closes its listener and lets requests under way finish. */
  async shutdownNow(): Promise<void> {
    await this.call('POST', '/v1/shutdown');
  }

  async setRoute(host: string, spec: RouteSpec): Promise<void> {
    await this.call('PUT', `/v1/routes/${encodeURIComponent(host)}`, spec);
  }

  /** Replaces the whole route table: hosts not in `routes` are dropped. */
  async setRoutes(routes: Record<string, RouteSpec>): Promise<void> {
    await this.call('PUT', '/v1/routes', routes);
  }

  async setCanaryWeight(host: string, weight: number): Promise<void> {
    await this.call('POST', `/v1/routes/${encodeURIComponent(host)}/weight`, { weight });
  }

  async removeRoute(host: string): Promise<void> {
    await this.call('DELETE', `/v1/routes/${encodeURIComponent(host)}`);
  }

  async route(host: string): Promise<RouteState | undefined> {
    try {
      return await this.call<RouteState>('GET', `/v1/routes/${encodeURIComponent(host)}`);
    } catch (e) {
      if (e instanceof ControlError && e.status === 404) return undefined;
      throw e;
    }
  }

  async drain(backends: Backend[], timeoutMs: number): Promise<void> {
    await this.call('POST', '/v1/drain', { backends, timeoutMs }, timeoutMs + 5000);
  }

  series(stage: string, version: string, fromSecond: number, toSecond: number): Promise<CounterSeries> {
    const q = new URLSearchParams({ stage, version, from: String(fromSecond), to: String(toSecond) });
    return this.call<CounterSeries>('GET', `/v1/series?${q}`);
  }

  prometheus(): Promise<string> {
    return this.call<string>('GET', '/v1/metrics');
  }

  /**
   * Replaces a stage's flag set; resolves once the data plane has saved it, serves it and has told its stream
   * subscribers. Refused (ControlError 400) when it does not compile, and (409) when the data plane serves a newer
   * revision; the stage keeps what it served.
   */
  async publish(stage: string, set: PublishedFlagSet): Promise<void> {
    await this.call('PUT', `/v1/flags/${encodeURIComponent(stage)}`, set, 30_000);
  }

  async unpublish(stage: string): Promise<void> {
    await this.call('DELETE', `/v1/flags/${encodeURIComponent(stage)}`);
  }

  async revisions(): Promise<Record<string, number>> {
    const all = await this.call<Record<string, { revision: number }>>('GET', '/v1/flags');
    return Object.fromEntries(Object.entries(all).map(([s, v]) => [s, v.revision]));
  }

  takeCounts(): Promise<EvaluationCount[]> {
    return this.call<EvaluationCount[]>('POST', '/v1/flags/counts');
  }

  onTrip(listener: (t: GuardTrip) => void): () => void {
    this.listeners.add(listener);
    if (!this.following) void this.follow();
    return () => this.listeners.delete(listener);
  }

  async activity(host: string): Promise<RouteActivity | undefined> {
    try {
      return await this.call<RouteActivity>('GET', `/v1/activity/${encodeURIComponent(host)}`);
    } catch (e) {
      if (e instanceof ControlError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * Follows the calls to wake asleep stages (docs/adr/0029), reconnecting with backoff while the data plane is away;
   * on each connection the data plane repeats the calls still waiting.
   */
  onWake(listener: (w: WakeCall) => void): () => void {
    this.wakeListeners.add(listener);
    // A listener that comes to a stream already followed hears the calls still waiting, as the first one did.
    if (this.followingWakes)
      void this.call<WakeCall[]>('GET', '/v1/wakes').then(
        (calls) => calls.forEach((w) => this.wakeListeners.has(listener) && listener(w)),
        () => {},
      );
    else
      void this.followLines(
        '/v1/wakes?follow=1',
        () => this.wakeListeners.size > 0,
        (c) => (this.followingWakes = c),
        (line) => {
          for (const l of this.wakeListeners) l(JSON.parse(line) as WakeCall);
        },
      );
    return () => this.wakeListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.following?.abort();
    this.followingWakes?.abort();
    this.agent.destroy();
  }

  /** Follows the trip stream, reconnecting with backoff while the data plane is away. */
  private async follow(): Promise<void> {
    await this.followLines(
      '/v1/trips?follow=1',
      () => this.listeners.size > 0,
      (c) => (this.following = c),
      (line) => {
        for (const l of this.listeners) l(JSON.parse(line) as GuardTrip);
      },
    );
  }

  /** Follows a stream of JSON lines, reconnecting with backoff while the data plane is away, while `wanted()`. */
  private async followLines(
    path: string,
    wanted: () => boolean,
    track: (c: AbortController | undefined) => void,
    onLine: (line: string) => void,
  ): Promise<void> {
    let backoff = 100;
    while (!this.closed && wanted()) {
      const ctrl = new AbortController();
      track(ctrl);
      try {
        await new Promise<void>((resolve, reject) => {
          const req = request({ socketPath: this.socketPath, path, method: 'GET', signal: ctrl.signal }, (res) => {
            backoff = 100;
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              buf += d;
              for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (line) onLine(line);
              }
            });
            res.on('end', resolve);
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end();
        });
      } catch {
        // the data plane is away or restarting
      }
      if (this.closed) break;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 2000);
    }
    track(undefined);
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const until = Date.now() + this.retryForMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return await this.once<T>(method, path, body, timeoutMs);
      } catch (e) {
        if (!(e instanceof ControlError) || e.status !== 0 || Date.now() + wait > until || this.closed) throw e;
        await sleep(wait);
      }
    }
  }

  private once<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              let msg = text;
              try {
                msg = (JSON.parse(text) as { error?: string }).error ?? text;
              } catch {
                // plain text
              }
              reject(new ControlError(`data plane: ${msg}`, status));
              return;
            }
            if (!text) resolve(undefined as T);
            else if ((res.headers['content-type'] ?? '').startsWith('application/json')) resolve(JSON.parse(text) as T);
            else resolve(text as T);
          });
          res.on('error', (e) => reject(new ControlError(`data plane: ${e.message}`, 0)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => reject(new ControlError(`the data plane cannot be reached at ${this.socketPath}: ${e.message}`, 0)));
      req.end(payload);
    });
  }
}
