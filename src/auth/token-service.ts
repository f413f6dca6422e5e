import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import type { TokenRecord, TokenStore } from './ports/token-store.js';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/** API tokens: only their hashes are stored; the token itself is shown once. */
export class TokenService {
  private readonly cache = new Map<string, TokenRecord>();
  constructor(
    private readonly store: TokenStore,
    private readonly clock: Clock,
  ) {}

  async create(name: string, role: Role): Promise<{ token: string; record: TokenRecord }> {
    const token = `slc_${randomBytes(24).toString('base64url')}`;
    const record: TokenRecord = { id: randomUUID(), name, role, hash: hash(token), createdAt: this.clock.now() };
    await this.store.createToken(record);
    return { token, record };
  }

  /** The token's record, or undefined if it is not a token this server issued. */
  async verify(token: string): Promise<TokenRecord | undefined> {
    const h = hash(token);
    const hit = this.cache.get(h);
    if (hit) return hit;
    const rec = await this.store.findTokenByHash(h);
    if (rec) this.cache.set(h, rec);
    return rec;
  }

  count(): Promise<number> {
    return this.store.countTokens();
  }
}
