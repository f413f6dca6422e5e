import type { Backend, GuardPlan, GuardTrip, Pool, RouteSpec } from '../../rollout/ports/traffic-router.js';

/** A route spec from outside the process (the control socket, the routes file), checked field by field. */
export function parseRouteSpec(x: unknown, where: string): RouteSpec {
  const o = obj(x, where);
  const spec: RouteSpec = { stage: str(o.stage, `${where}.stage`), stable: o.stable == null ? null : pool(o.stable, `${where}.stable`) };
  if (o.canary != null) spec.canary = pool(o.canary, `${where}.canary`);
  if (o.canaryWeight !== undefined) spec.canaryWeight = num(o.canaryWeight, `${where}.canaryWeight`, 0, 100);
  if (o.sticky !== undefined) {
    if (o.sticky === 'cookie' || o.sticky === 'none') spec.sticky = o.sticky;
    else spec.sticky = { header: str(obj(o.sticky, `${where}.sticky`).header, `${where}.sticky.header`) };
  }
  if (o.guard != null) spec.guard = guard(o.guard, `${where}.guard`);
  if (o.asleep !== undefined && o.asleep !== false) {
    if (o.asleep !== true) throw new Error(`${where}.asleep: expected true or false`);
    spec.asleep = true;
  }
  return spec;
}

export function parseTrip(x: unknown, where: string): GuardTrip {
  const o = obj(x, where);
  return {
    host: str(o.host, `${where}.host`),
    stage: str(o.stage, `${where}.stage`),
    version: str(o.version, `${where}.version`),
    at: num(o.at, `${where}.at`, 0, Number.MAX_SAFE_INTEGER),
    reason: str(o.reason, `${where}.reason`),
  };
}

export function parseBackends(x: unknown, where: string): Backend[] {
  if (!Array.isArray(x) || x.length > 1000) throw new Error(`${where}: expected a list of at most 1000 backends`);
  return x.map((b, i) => backend(b, `${where}[${i}]`));
}

function guard(x: unknown, where: string): GuardPlan {
  const o = obj(x, where);
  return {
    errorRate: num(o.errorRate, `${where}.errorRate`, 0, 1),
    requests: int(o.requests, `${where}.requests`, 1, 10_000),
    minRequests: int(o.minRequests, `${where}.minRequests`, 1, 10_000),
  };
}

function pool(x: unknown, where: string): Pool {
  const o = obj(x, where);
  return { version: str(o.version, `${where}.version`), backends: parseBackends(o.backends, `${where}.backends`) };
}

function backend(x: unknown, where: string): Backend {
  const o = obj(x, where);
  return { id: str(o.id, `${where}.id`), port: int(o.port, `${where}.port`, 1, 65535) };
}

function obj(x: unknown, where: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error(`${where}: expected an object`);
  return x as Record<string, unknown>;
}

function str(x: unknown, where: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > 500) throw new Error(`${where}: expected a string of 1-500 characters`);
  return x;
}

function num(x: unknown, where: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) throw new Error(`${where}: expected a number from ${min} to ${max}`);
  return x;
}

function int(x: unknown, where: string, min: number, max: number): number {
  const n = num(x, where, min, max);
  if (!Number.isInteger(n)) throw new Error(`${where}: expected a whole number`);
  return n;
}
