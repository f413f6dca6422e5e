import type { FastifyRequest } from 'fastify';
import { SluiceError } from '../../kernel/errors.js';

/** The dashboard's session cookie. */
export const SESSION_COOKIE = 'sluice_session';
/** The header a cookie-authenticated change carries: the session's CSRF token. */
export const CSRF_HEADER = 'x-sluice-csrf';
/** The longest CSRF header read: ours are 43 characters. */
const MAX_CSRF = 128;

/**
 * The value of the session cookie in a Cookie header, if there is one. Browsers send every cookie of the host (other
 * apps on localhost too), so the header is searched, never refused for its other cookies; its size is held by the
 * HTTP parser's 16 KB limit on a request's head.
 */
export function sessionCookieOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** Whether a request came over https (to this server, or to a proxy in front of it that says so). */
export function cameOverHttps(req: FastifyRequest): boolean {
  // A forged X-Forwarded-Proto only makes the sender's own cookie Secure: it harms nobody else.
  return req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https';
}

/**
 * The Set-Cookie of a session: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Path=/,
 * and Secure over https. No Max-Age: the server ends the session; the browser forgets the cookie when it closes.
 */
export function sessionCookie(secret: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${secret}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie that makes a browser forget the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${secure ? '; Secure' : ''}`;
}

/** The origin a request's Host names, as a browser would send it in Origin (`http://127.0.0.1:7070`). */
function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  // URL drops a default port (:80, :443); a Host header may carry it.
  const h = host.trim().toLowerCase();
  return u.host === h || (u.port === '' && (h === `${u.hostname}:80` || h === `${u.hostname}:443`));
}

/**
 * Refuses a request a browser sent on another site's behalf: an Origin header that is not this API's own (the Host it
 * was sent to), or Sec-Fetch-Site saying another site made it. Both are set by browsers and not by pages, so a
 * forged form or fetch from another origin is refused before anything runs. Requests without them (curl, the CLI)
 * pass: they carry no cookie a browser added.
 */
export function refuseCrossOrigin(req: FastifyRequest): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !(typeof origin === 'string' && sameHost(origin, req.headers.host)))
    throw new SluiceError('FORBIDDEN', `this call came from another origin (${JSON.stringify(String(origin)).slice(0, 100)}): the dashboard calls only from its own origin`);
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    throw new SluiceError('FORBIDDEN', `this call came from another site (Sec-Fetch-Site: ${site}): the dashboard calls only from its own origin`);
}

/**
 * Refuses a change made with the session cookie that does not carry the session's CSRF token (header
 * X-Sluice-CSRF), or that comes from another origin: the cookie alone never changes anything.
 */
export function refuseWithoutCsrf(req: FastifyRequest, matches: (given: string | undefined) => boolean): void {
  refuseCrossOrigin(req);
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== 'string' || given.length > MAX_CSRF || !matches(given))
    throw new SluiceError(
      'FORBIDDEN',
      `a change made with the session cookie needs the session's CSRF token in the X-Sluice-CSRF header (GET /api/v1/session gives it); ${given === undefined ? 'none was sent' : 'the one sent is not this session’s'}`,
    );
}
