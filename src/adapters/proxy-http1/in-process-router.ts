import type { Backend, CounterSeries, GuardTrip, RouteActivity, RouteSpec, RouteState, TrafficRouter, WakeCall } from '../../rollout/ports/traffic-router.js';
import { Router, type RouterOptions } from './router.js';

/**
 * The TrafficRouter port on a router in this very process: for tests of what drives the router, and for tools that
 * need no data plane of their own. `sluice up` uses the data plane process instead (RouterClient).
 */
export class InProcessRouter implements TrafficRouter {
  readonly router: Router;
  private readonly listeners = new Set<(t: GuardTrip) => void>();
  private readonly wakeListeners = new Set<(w: WakeCall) => void>();

  constructor(o: Omit<RouterOptions, 'onTrip' | 'onWake'> = {}) {
    this.router = new Router({ ...o, onTrip: (t) => this.listeners.forEach((l) => l(t)), onWake: (w) => this.wakeListeners.forEach((l) => l(w)) });
  }

  async activity(host: string): Promise<RouteActivity | undefined> {
    return this.router.activity(host);
  }

  onWake(listener: (w: WakeCall) => void): () => void {
    this.wakeListeners.add(listener);
    for (const w of this.router.wakeCalls()) listener(w);
    return () => this.wakeListeners.delete(listener);
  }

  listen(port: number, host?: string): Promise<number> {
    return this.router.listen(port, host);
  }

  close(): Promise<void> {
    return this.router.close();
  }

  async setRoute(host: string, spec: RouteSpec): Promise<void> {
    this.router.setRoute(host, spec);
  }

  async setCanaryWeight(host: string, weight: number): Promise<void> {
    this.router.setCanaryWeight(host, weight);
  }

  async removeRoute(host: string): Promise<void> {
    this.router.removeRoute(host);
  }

  async route(host: string): Promise<RouteState | undefined> {
    return this.router.routeState(host);
  }

  drain(backends: Backend[], timeoutMs: number): Promise<void> {
    return this.router.drain(backends, timeoutMs);
  }

  async series(stage: string, version: string, fromSecond: number, toSecond: number): Promise<CounterSeries> {
    return { samples: this.router.metrics.series(stage, version, fromSecond, toSecond), countingSince: this.router.metrics.countingSince() };
  }

  async prometheus(): Promise<string> {
    return this.router.metrics.prometheus();
  }

  onTrip(listener: (t: GuardTrip) => void): () => void {
    this.listeners.add(listener);
    for (const t of this.router.trips()) listener(t);
    return () => this.listeners.delete(listener);
  }
}
