import type { AuditDraft } from '../../audit/audit-record.js';
import type { Role } from '../../kernel/actor.js';

export type { Role } from '../../kernel/actor.js';

export interface TokenRecord {
  id: string;
  /** Unique among the tokens not revoked: a revoked token's name may be given to a new one. */
  name: string;
  role: Role;
  /** sha256 of the token; the token itself is never stored. */
  hash: string;
  createdAt: number;
  /** When it stops working; absent: never. */
  expiresAt?: number;
  /** When an admin revoked it; a revoked token never works again. */
  revokedAt?: number;
  /** When it last authenticated a call, to the minute. */
  lastUsedAt?: number;
}

/** Where API tokens are kept. */
export interface TokenStore {
  /**
   * Keeps a new token, and its audit records with it (both or neither); `name-taken` (and nothing kept) when a token
   * not revoked has its name.
   */
  createToken(t: TokenRecord, audit?: readonly AuditDraft[]): Promise<'created' | 'name-taken'>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  /** A token by its id (a session names the token it acts as). */
  findTokenById(id: string): Promise<TokenRecord | undefined>;
  /** Every token, revoked ones included, oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /**
   * Marks a token revoked at `at`, and keeps its audit records with it; false when there is no such token or it was
   * already revoked (then nothing changes).
   */
  revokeToken(id: string, at: number, audit?: readonly AuditDraft[]): Promise<boolean>;
  /** Records that a token authenticated a call at `at`. */
  touchToken(id: string, at: number): Promise<void>;
  countTokens(): Promise<number>;
}
