import type { Role } from '../../kernel/actor.js';

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** sha256 of the token; the token itself is never stored. */
  hash: string;
  createdAt: number;
}

/** Where API tokens are kept. */
export interface TokenStore {
  createToken(t: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  countTokens(): Promise<number>;
}
