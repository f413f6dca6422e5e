import type { CallInput, Output, RouteDef } from '../../interfaces/http/contract/route.js';
import type { api } from '../../interfaces/http/contract/index.js';
import type { Role } from '../../kernel/actor.js';

/**
 * The API routes the dashboard calls, as the contract defines them. Only the method, path, auth and roles travel to
 * the browser (the zod schemas stay on the server, so the bundle carries no validator); the type parameter ties each
 * entry to its definition, so a path or method that drifts from the contract fails the typecheck, and a unit test
 * compares the roles with the contract's.
 */
export interface WebRoute<D extends RouteDef = RouteDef> {
  method: D['method'];
  path: D['path'];
  auth: D['auth'];
  /** Who may call it (admin always may); absent: every role; `[]`: admin only. */
  roles?: readonly Role[];
  /** Never set: carries the definition's type for typed input and output. */
  readonly def?: D;
}

/** What a caller sends to a route, typed by its definition. */
export type WebInput<R> = R extends WebRoute<infer D> ? Partial<CallInput<D>> : never;
/** What a route answers, typed by its definition. */
export type WebOutput<R> = R extends WebRoute<infer D> ? Output<D> : never;

type Api = typeof api;
const route = <D extends RouteDef>(method: D['method'], path: D['path'], auth: D['auth'], roles?: readonly Role[]): WebRoute<D> =>
  roles === undefined ? { method, path, auth } : { method, path, auth, roles };

const DEPLOY: readonly Role[] = ['deployer'];
const DECIDE: readonly Role[] = ['deployer', 'approver'];
/** Who may call the flag routes that change things; the server then asks what deploying to the stage needs (ADR 20). */
const CHANGE_FLAGS: readonly Role[] = ['deployer', 'approver'];

/** Who makes, pins, extends and destroys environments. */
const CHANGE_ENVS: readonly Role[] = ['deployer'];
/** Who reviews an environment's build: the delivery lead, an approver (ADR 27). */
const REVIEW_ENVS: readonly Role[] = ['approver'];

/** The routes of the contract the dashboard uses. */
export const routes = {
  status: route<Api['journeys']['status']>('GET', '/api/v1/status', 'none'),
  stages: route<Api['journeys']['stages']>('GET', '/api/v1/stages', 'none'),
  journey: route<Api['journeys']['journey']>('GET', '/api/v1/journeys/:id', 'none'),
  releaseEvents: route<Api['journeys']['releaseEvents']>('GET', '/api/v1/releases/:version/events', 'none'),
  promote: route<Api['journeys']['promote']>('POST', '/api/v1/releases/:version/promote', 'token', DECIDE),
  approve: route<Api['journeys']['approve']>('POST', '/api/v1/releases/:version/approve', 'token', DECIDE),
  reject: route<Api['journeys']['reject']>('POST', '/api/v1/releases/:version/reject', 'token', DECIDE),
  abort: route<Api['journeys']['abort']>('POST', '/api/v1/releases/:version/abort', 'token', DEPLOY),
  pause: route<Api['journeys']['pause']>('POST', '/api/v1/releases/:version/pause', 'token', DEPLOY),
  resume: route<Api['journeys']['resume']>('POST', '/api/v1/releases/:version/resume', 'token', DEPLOY),
  retry: route<Api['journeys']['retry']>('POST', '/api/v1/releases/:version/retry', 'token', DEPLOY),
  rollback: route<Api['journeys']['rollback']>('POST', '/api/v1/stages/:stage/rollback', 'token', DEPLOY),
  logs: route<Api['journeys']['logs']>('GET', '/api/v1/releases/:version/stages/:stage/logs', 'none'),
  events: route<Api['journeys']['events']>('GET', '/api/v1/events', 'none'),
  releases: route<Api['releases']['list']>('GET', '/api/v1/releases', 'none'),
  release: route<Api['releases']['get']>('GET', '/api/v1/releases/:version', 'none'),
  pipeline: route<Api['system']['pipeline']>('GET', '/api/v1/pipeline', 'none'),
  health: route<Api['system']['health']>('GET', '/api/v1/health', 'public'),
  audit: route<Api['audit']['list']>('GET', '/api/v1/audit', 'token'),
  auditVerify: route<Api['audit']['verify']>('GET', '/api/v1/audit/verify', 'token'),
  listTokens: route<Api['auth']['listTokens']>('GET', '/api/v1/tokens', 'token', []),
  createToken: route<Api['auth']['createToken']>('POST', '/api/v1/tokens', 'token', []),
  revokeToken: route<Api['auth']['revokeToken']>('POST', '/api/v1/tokens/:token/revoke', 'token', []),
  flags: route<Api['flags']['list']>('GET', '/api/v1/flags', 'none'),
  flag: route<Api['flags']['show']>('GET', '/api/v1/flags/:key', 'none'),
  setFlag: route<Api['flags']['set']>('POST', '/api/v1/stages/:stage/flags/:key', 'token', CHANGE_FLAGS),
  flagHistory: route<Api['flags']['history']>('GET', '/api/v1/flag-history', 'none'),
  staleFlags: route<Api['flags']['stale']>('GET', '/api/v1/flag-stale', 'none'),
  rampSeries: route<Api['flags']['rampSeries']>('GET', '/api/v1/stages/:stage/flags/:key/ramp/series', 'none'),
  rampStart: route<Api['flags']['rampStart']>('POST', '/api/v1/stages/:stage/flags/:key/ramp/start', 'token', CHANGE_FLAGS),
  rampPause: route<Api['flags']['rampPause']>('POST', '/api/v1/stages/:stage/flags/:key/ramp/pause', 'token', CHANGE_FLAGS),
  rampResume: route<Api['flags']['rampResume']>('POST', '/api/v1/stages/:stage/flags/:key/ramp/resume', 'token', CHANGE_FLAGS),
  rampAbort: route<Api['flags']['rampAbort']>('POST', '/api/v1/stages/:stage/flags/:key/ramp/abort', 'token', CHANGE_FLAGS),
  // On-demand environments (ADR 25, 27).
  environments: route<Api['environments']['list']>('GET', '/api/v1/environments', 'none'),
  createEnvironment: route<Api['environments']['create']>('POST', '/api/v1/environments', 'token', CHANGE_ENVS),
  pinEnvironment: route<Api['environments']['pin']>('POST', '/api/v1/environments/:name/pin', 'token', CHANGE_ENVS),
  extendEnvironment: route<Api['environments']['extend']>('POST', '/api/v1/environments/:name/extend', 'token', CHANGE_ENVS),
  destroyEnvironment: route<Api['environments']['destroy']>('POST', '/api/v1/environments/:name/destroy', 'token', CHANGE_ENVS),
  reviewEnvironment: route<Api['environments']['review']>('POST', '/api/v1/environments/:name/review', 'token', REVIEW_ENVS),
};

/** The URL of a call: path parameters filled in (encoded) and the query's defined values appended. */
export function urlOf(path: string, params?: Record<string, string | undefined>, query?: Record<string, string | undefined>): string {
  let url = path.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));
  const q = new URLSearchParams(Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  if ([...q].length) url += `?${q}`;
  return url;
}

/**
 * The dashboard's session, as the server answers `GET /api/v1/session` and `POST /api/v1/session`: who is logged in
 * and the CSRF token every mutating call sends as `X-Sluice-CSRF`. The token itself lives only in an HttpOnly cookie.
 */
export interface Session {
  actor: { id: string; name: string; role: Role };
  csrf: string;
}

/** The session routes (outside the typed contract on this branch). */
export const sessionRoutes = {
  get: '/api/v1/session',
  login: '/api/v1/session',
  logout: '/api/v1/session/logout',
} as const;

/** The header that carries the CSRF token on every mutating call. */
export const CSRF_HEADER = 'X-Sluice-CSRF';
