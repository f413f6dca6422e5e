import { CSRF_HEADER, type Session, sessionRoutes, urlOf, type WebInput, type WebOutput, type WebRoute } from '../model/routes.js';

/** An answer that is not a success: the API's `{ code, message, details }`, with the status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** What the API says in detail (a refused flag change lists its `problems`, each at its JSON pointer). */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

let csrf: string | undefined;
let onUnauthorized: () => void = () => {};

/** Remembers the session's CSRF token (in memory only) for mutating calls. */
export function setCsrf(token: string | undefined): void {
  csrf = token;
}

/** What to do when a call answers 401: the session ended (logged out, token revoked, expired). */
export function setOnUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

async function send(method: 'GET' | 'POST', url: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers[CSRF_HEADER] = csrf;
  return fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
  });
}

async function parse(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const e = parsed as { code?: string; message?: string; details?: unknown } | undefined;
    throw new ApiError(res.status, e?.code ?? 'HTTP', e?.message ?? `${what} answered ${res.status}`, e?.details);
  }
  return parsed;
}

/** Calls a JSON route of the contract with typed input and output; the session cookie goes along, and the CSRF token on a change. */
export async function call<R extends WebRoute>(route: R, input: WebInput<R> = {} as WebInput<R>, signal?: AbortSignal): Promise<WebOutput<R>> {
  const { params, query, body } = input as { params?: Record<string, string>; query?: Record<string, string | undefined>; body?: unknown };
  const res = await send(route.method, urlOf(route.path, params, query), route.method === 'POST' ? (body ?? {}) : undefined, signal);
  if (res.status === 401) onUnauthorized();
  return (await parse(res, `${route.method} ${route.path}`)) as WebOutput<R>;
}

/** A streamed route (logs): the raw response. */
export async function open<R extends WebRoute>(route: R, input: WebInput<R>, signal?: AbortSignal): Promise<Response> {
  const { params, query } = input as { params?: Record<string, string>; query?: Record<string, string | undefined> };
  const res = await send('GET', urlOf(route.path, params, query), undefined, signal);
  if (!res.ok) await parse(res, route.path);
  return res;
}

/** The current session, or null when not logged in. */
export async function getSession(): Promise<Session | null> {
  const res = await send('GET', sessionRoutes.get);
  if (res.status === 401) return null;
  return (await parse(res, 'the session')) as Session;
}

/** Logs in with a token: the server answers with a cookie the page cannot read, and the session. */
export async function login(token: string): Promise<Session> {
  return (await parse(await send('POST', sessionRoutes.login, { token }), 'logging in')) as Session;
}

export async function logout(): Promise<void> {
  await send('POST', sessionRoutes.logout, {});
}
