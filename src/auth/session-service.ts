import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import type { SessionRecord, SessionStore } from './ports/session-store.js';
import type { TokenRecord } from './ports/token-store.js';
import { sessionRefused, type TokenService } from './token-service.js';

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

/** A session cookie's secret as this server makes it (32 random bytes, base64url); anything else opens nothing. */
export const SESSION_SECRET = /^[A-Za-z0-9_-]{43}$/;

/** How long a session lives. */
export interface SessionLifetime {
  /** It ends this long after its last use (sliding); 12 h by default. */
  idleMs: number;
  /** And at the latest this long after the login, however busy; 7 days by default. */
  maxMs: number;
}
export const SESSION_LIFETIME: SessionLifetime = { idleMs: 12 * 3_600_000, maxMs: 7 * 86_400_000 };
/** A session's end is written at most this often, so that a busy dashboard does not write on every call. */
const SLIDE_EVERY_MS = 60_000;

/** A session that works now, with the token it acts as (checked on this call). */
export interface LiveSession {
  session: SessionRecord;
  token: TokenRecord;
}

/**
 * Browser sessions: a login exchanges a token for a session (a cookie's secret and a CSRF token). Nothing is cached:
 * every call reads the session and its token, so a logout, a revoked or an expired token ends it at once, on every
 * replica that shares the database.
 */
export class SessionService {
  constructor(
    private readonly store: SessionStore,
    private readonly tokens: TokenService,
    private readonly clock: Clock,
    private readonly life: SessionLifetime = SESSION_LIFETIME,
  ) {}

  /** A new session for a token, checked exactly as a Bearer token is (UNAUTHORIZED when it does not work). */
  async login(presented: string): Promise<LiveSession & { secret: string }> {
    const token = await this.tokens.authenticate(presented);
    const now = this.clock.now();
    // Forgetting ended sessions here keeps the table as small as the logins of the last day or so.
    await this.store.deleteExpiredSessions(now).catch(() => 0);
    const s = secret();
    const session: SessionRecord = { id: randomUUID(), hash: hash(s), tokenId: token.id, csrf: secret(), createdAt: now, expiresAt: 0 };
    session.expiresAt = this.endAt(now, now, token);
    await this.store.createSession(session);
    return { session, token, secret: s };
  }

  /** The session a cookie's secret opens, and its token, if both work now; otherwise UNAUTHORIZED saying so. */
  async resolve(cookieSecret: string): Promise<LiveSession> {
    if (!SESSION_SECRET.test(cookieSecret)) throw sessionRefused('the session cookie is not one this server made; log in again');
    const session = await this.store.findSessionByHash(hash(cookieSecret));
    const now = this.clock.now();
    if (!session || now >= session.expiresAt) throw sessionRefused('the session has ended; log in again');
    let token: TokenRecord;
    try {
      token = await this.tokens.authenticateById(session.tokenId);
    } catch (e) {
      await this.store.deleteSession(session.id).catch(() => false);
      throw e;
    }
    const end = this.endAt(session.createdAt, now, token);
    if (end - session.expiresAt >= SLIDE_EVERY_MS) {
      // A failure to slide it must not refuse a session that works: it ends a little sooner.
      await this.store.extendSession(session.id, end).catch(() => {});
      session.expiresAt = end;
    }
    return { session, token };
  }

  /** Ends a session; false when it had ended already. */
  logout(session: Pick<SessionRecord, 'id'>): Promise<boolean> {
    return this.store.deleteSession(session.id);
  }

  /** Whether `given` is the session's CSRF token (compared in constant time). */
  csrfMatches(session: Pick<SessionRecord, 'csrf'>, given: string | undefined): boolean {
    if (given === undefined) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** When a session used at `now` ends: idle time on, never past its cap nor its token's expiry. */
  private endAt(createdAt: number, now: number, token: TokenRecord): number {
    return Math.min(now + this.life.idleMs, createdAt + this.life.maxMs, token.expiresAt ?? Infinity);
  }
}
