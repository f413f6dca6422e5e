import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AuditDraft } from '../audit/audit-record.js';
import { ROLES, type Role } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import { SluiceError } from '../kernel/errors.js';
import type { TokenRecord, TokenStore } from './ports/token-store.js';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

/** Letters, digits and `. _ @ -`, at most 64. */
export const TOKEN_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The shortest and longest lifetimes a token may be given. */
export const TOKEN_LIFETIME = { minMs: 60_000, maxMs: 3650 * 86_400_000 } as const;
/** `lastUsedAt` is written at most this often per token, so that a busy token does not write on every call. */
const TOUCH_EVERY_MS = 60_000;

/** Why a token is not accepted. */
type TokenRefusal = 'missing' | 'unknown' | 'expired' | 'revoked' | 'session';

/** Whether a token record works at `now`. */
export function tokenState(t: Pick<TokenRecord, 'expiresAt' | 'revokedAt'>, now: number): 'valid' | 'expired' | 'revoked' {
  if (t.revokedAt !== undefined) return 'revoked';
  if (t.expiresAt !== undefined && now >= t.expiresAt) return 'expired';
  return 'valid';
}

/**
 * API tokens: only their hashes are stored; the token itself is shown once. Nothing is cached: every call reads the
 * token's record, so a token revoked or expired, by this server or by another replica on the same database, stops
 * working at once.
 */
export class TokenService {
  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
  ) {}

  /**
   * A new token; `expiresInMs` absent: it never expires. `audit`: the record of its making, kept with it (both or
   * neither). TOKEN_NAME_TAKEN when a token not revoked has the name.
   */
  async create(name: string, role: Role, opts: { expiresInMs?: number; audit?: AuditDraft } = {}): Promise<{ token: string; record: TokenRecord }> {
    if (!TOKEN_NAME.test(name)) throw new SluiceError('BAD_REQUEST', `token name ${JSON.stringify(name)}: letters, digits and . _ @ -, at most 64`);
    if (ID_SHAPE.test(name)) throw new SluiceError('BAD_REQUEST', `token name ${JSON.stringify(name)} looks like a token id; revoking by name or id must not be ambiguous`);
    if (!ROLES.includes(role)) throw new SluiceError('BAD_REQUEST', `role ${JSON.stringify(role)}: one of ${ROLES.join(', ')}`);
    const life = opts.expiresInMs;
    if (life !== undefined && !(life >= TOKEN_LIFETIME.minMs && life <= TOKEN_LIFETIME.maxMs))
      throw new SluiceError('BAD_REQUEST', `a token's expiry must be from 1m to 3650d from now`);
    const token = `slc_${randomBytes(24).toString('base64url')}`;
    const now = this.clock.now();
    const record: TokenRecord = { id: randomUUID(), name, role, hash: hash(token), createdAt: now };
    if (life !== undefined) record.expiresAt = now + life;
    if ((await this.store.createToken(record, opts.audit ? [opts.audit] : [])) === 'name-taken') {
      const other = (await this.store.listTokens()).find((t) => t.name === name && t.revokedAt === undefined);
      const why = other && tokenState(other, now) === 'expired' ? ` (it expired at ${iso(other.expiresAt!)}; revoke it to free the name)` : '';
      throw new SluiceError('TOKEN_NAME_TAKEN', `a token named "${name}" exists${why}; choose another name, or revoke it first (sluice token revoke ${name})`, {
        name,
        ...(other ? { id: other.id } : {}),
      });
    }
    return { token, record };
  }

  /** The record of a token that works now; otherwise UNAUTHORIZED saying why (unknown, expired or revoked). */
  async authenticate(token: string): Promise<TokenRecord> {
    const rec = await this.store.findTokenByHash(hash(token));
    if (!rec) throw refused('unknown', 'the bearer token is not valid (not a token of this server)');
    return this.accept(rec);
  }

  /**
   * The record of the token with `id` if it works now, checked as `authenticate` checks a presented token: a session
   * acts as its token only while the token works.
   */
  async authenticateById(id: string): Promise<TokenRecord> {
    const rec = await this.store.findTokenById(id);
    if (!rec) throw refused('unknown', 'the token of this session no longer exists; log in again');
    return this.accept(rec);
  }

  private async accept(rec: TokenRecord): Promise<TokenRecord> {
    const now = this.clock.now();
    const state = tokenState(rec, now);
    if (state === 'revoked') throw refused('revoked', `the token "${rec.name}" was revoked at ${iso(rec.revokedAt!)}; ask an admin for a new one`, rec);
    if (state === 'expired') throw refused('expired', `the token "${rec.name}" expired at ${iso(rec.expiresAt!)}; ask an admin for a new one`, rec);
    if (rec.lastUsedAt === undefined || now - rec.lastUsedAt >= TOUCH_EVERY_MS) {
      // Bookkeeping for `token list`: a failure to write it must not refuse a valid token.
      await this.store.touchToken(rec.id, now).catch(() => {});
    }
    return rec;
  }

  /** Every token, revoked and expired ones included, oldest first. */
  list(): Promise<TokenRecord[]> {
    return this.store.listTokens();
  }

  /**
   * Revokes a token by id, or by the name of a token not revoked. The last admin token that works is kept: without it
   * nobody could make tokens again.
   */
  async revoke(ref: string, audit?: AuditDraft): Promise<TokenRecord> {
    const all = await this.store.listTokens();
    const now = this.clock.now();
    const t = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref && x.revokedAt === undefined) ?? all.findLast((x) => x.name === ref);
    if (!t) throw new SluiceError('NOT_FOUND', `no token named or with id "${ref}" (sluice token list shows them)`);
    if (t.revokedAt !== undefined) throw new SluiceError('INVALID_STATE', `the token "${t.name}" (${t.id}) was already revoked at ${iso(t.revokedAt)}`);
    const admins = all.filter((x) => x.id !== t.id && x.role === 'admin' && tokenState(x, now) === 'valid');
    if (t.role === 'admin' && tokenState(t, now) === 'valid' && admins.length === 0)
      throw new SluiceError('INVALID_STATE', `the token "${t.name}" is the last admin token that works; create another admin token first (sluice token create <name> --role admin)`);
    if (!(await this.store.revokeToken(t.id, now, audit ? [audit] : []))) throw new SluiceError('INVALID_STATE', `the token "${t.name}" (${t.id}) was already revoked`);
    return { ...t, revokedAt: now };
  }

  /** Every token's state now, by id: one read for whoever watches many tokens at once (open streams). */
  async states(): Promise<Map<string, 'valid' | 'expired' | 'revoked'>> {
    const now = this.clock.now();
    return new Map((await this.store.listTokens()).map((t) => [t.id, tokenState(t, now)]));
  }

  /** The time tokens are judged at. */
  now(): number {
    return this.clock.now();
  }

  count(): Promise<number> {
    return this.store.countTokens();
  }
}

function refused(reason: TokenRefusal, message: string, rec?: TokenRecord): SluiceError {
  return new SluiceError('UNAUTHORIZED', message, { reason, ...(rec ? { token: rec.name } : {}) });
}

/** UNAUTHORIZED for a session cookie that opens no session (unknown, ended or malformed). */
export function sessionRefused(message: string): SluiceError {
  return refused('session', message);
}

/** UNAUTHORIZED for a call that came without a token. */
export function tokenMissing(message: string): SluiceError {
  return refused('missing', message);
}
