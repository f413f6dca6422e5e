/**
 * A browser's session: a server-side record that names the token the browser logged in with. The cookie carries a
 * random secret whose hash is kept here (never the secret itself), so a copy of the database opens no session.
 */
export interface SessionRecord {
  id: string;
  /** sha256 of the cookie's secret. */
  hash: string;
  /** The token the session acts as: every call checks it again, so revoking it ends the session at once. */
  tokenId: string;
  /** The CSRF token the dashboard sends back on every change (header X-Sluice-CSRF). */
  csrf: string;
  createdAt: number;
  /** When it ends unless used before: each use moves it on (a sliding lifetime), never past its cap. */
  expiresAt: number;
}

/** Where sessions are kept: in the database, so they survive a restart and every replica knows them. */
export interface SessionStore {
  createSession(s: SessionRecord): Promise<void>;
  findSessionByHash(hash: string): Promise<SessionRecord | undefined>;
  /** Moves a session's end; nothing happens when there is no such session. */
  extendSession(id: string, expiresAt: number): Promise<void>;
  /** Ends a session; false when there was none. */
  deleteSession(id: string): Promise<boolean>;
  /** Forgets sessions that ended before `now`; answers how many. */
  deleteExpiredSessions(now: number): Promise<number>;
}
