import type { GuardPlan } from '../rollout-plan.js';

export type { GuardPlan } from '../rollout-plan.js';

/** Pins a request to `canary`, `stable` or a version: for testers and synthetic traffic. */
export const VERSION_HEADER = 'x-sluice-version';
/** Set on the first response when no sticky header is configured; its value is the user's bucketing key. */
export const STICKY_COOKIE = 'sluice_key';

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
  /** The canary's hard limits, enforced by the router on every answer with no round trip (never on a stage's only version). */
  guard?: GuardPlan;
  /**
   * The stage is asleep (scaled to zero, docs/adr/0029): its instances are stopped, and the router holds each request
   * for it, asks the control plane to wake it, and forwards the held requests once the route is set awake again.
   */
  asleep?: boolean;
}

/** Asks the control plane to wake an asleep stage: a request for it is being held. */
export interface WakeCall {
  host: string;
  stage: string;
  /** When the first request now held arrived (ms since the epoch). */
  at: number;
}

/** A route's traffic as the router saw it: for scaling an idle stage to zero. */
export interface RouteActivity {
  /** The last request for the host (ms since the epoch); the route's creation in this router process when none came since. */
  lastRequestAt: number;
  asleep: boolean;
  /** Requests held now, waiting for the stage to wake. */
  held: number;
}

/**
 * The guard moved a canary's users back to stable. It stays tripped (the canary gets no users) until the route of its
 * host drops that canary or names another one.
 */
export interface GuardTrip {
  host: string;
  stage: string;
  /** The canary's version. */
  version: string;
  at: number;
  reason: string;
}

/** What the router serves for a host now, as it reports it (VerifyWeight reads this). */
export interface RouteState {
  stage: string;
  stable: string | null;
  canary: string | null;
  weight: number;
  trip?: GuardTrip;
  /** Present (true) only while the route is asleep. */
  asleep?: true;
}

/** One second of traffic for one stage and version, as the router counted it. */
export interface SecondSample {
  /** Epoch second. */
  second: number;
  requests: number;
  /** 5xx answers plus requests the router could not complete. */
  errors: number;
  latencySumMs: number;
}

/** A stretch of counters: the samples, and from when the router has been counting (earlier seconds are a gap). */
export interface CounterSeries {
  samples: SecondSample[];
  /** Epoch ms since which the router process has counted; seconds before it are unknown. */
  countingSince: number;
}

/**
 * The data plane's traffic router, as the control plane drives it: SetWeight, then VerifyWeight (Argo Rollouts'
 * traffic-router contract). The router keeps serving the last routes it was given when the control plane is away.
 */
export interface TrafficRouter {
  /** Sets a host's route. A tripped guard stays tripped while the route keeps the same canary. */
  setRoute(host: string, spec: RouteSpec): Promise<void>;
  /** Moves the split without touching the pools. */
  setCanaryWeight(host: string, weight: number): Promise<void>;
  removeRoute(host: string): Promise<void>;
  /** What the router serves for a host now, or undefined. */
  route(host: string): Promise<RouteState | undefined>;
  /** Resolves once no request is in flight to any of these backends (or after `timeoutMs`), and their idle connections are closed. */
  drain(backends: Backend[], timeoutMs: number): Promise<void>;
  /** The router's per-second counters of one stage and version, for seconds in [fromSecond, toSecond). */
  series(stage: string, version: string, fromSecond: number, toSecond: number): Promise<CounterSeries>;
  /** Every counter in the Prometheus text format. */
  prometheus(): Promise<string>;
  /** Guard trips not yet dropped from a route, and each new one as it happens; returns an unsubscribe function. */
  onTrip(listener: (t: GuardTrip) => void): () => void;
  /** When the host last got a request, whether it is asleep, and how many requests wait for it; undefined: no route. */
  activity(host: string): Promise<RouteActivity | undefined>;
  /** Every call to wake an asleep stage that holds requests now, and each new one as it comes; returns an unsubscribe function. */
  onWake(listener: (w: WakeCall) => void): () => void;
}

/** Checks that the router serves what it was told (VerifyWeight); throws saying what differs. */
export async function verifyRoute(
  router: TrafficRouter,
  host: string,
  want: { stable: string | null; canary: string | null; weight: number },
): Promise<RouteState> {
  const got = await router.route(host);
  if (got?.trip && got.canary === want.canary) throw new Error(`the router's guard sent ${got.trip.version}'s users back to stable: ${got.trip.reason}`);
  const same = got && got.stable === want.stable && got.canary === want.canary && got.weight === want.weight;
  if (!same)
    throw new Error(
      `the router does not serve what it was told for ${host}: want ${JSON.stringify(want)}, it serves ${got ? JSON.stringify({ stable: got.stable, canary: got.canary, weight: got.weight }) : 'nothing'}`,
    );
  return got;
}
