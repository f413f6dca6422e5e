import type { TokenRecord } from '../../../auth/ports/token-store.js';
import { tokenState } from '../../../auth/token-service.js';
import { parseDuration } from '../../../kernel/duration.js';
import { authApi } from '../contract/auth.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

/** A token as the API shows it: never its hash. */
const view = (t: TokenRecord, now: number) => ({
  id: t.id,
  name: t.name,
  role: t.role,
  createdAt: t.createdAt,
  ...(t.expiresAt !== undefined ? { expiresAt: t.expiresAt } : {}),
  ...(t.revokedAt !== undefined ? { revokedAt: t.revokedAt } : {}),
  ...(t.lastUsedAt !== undefined ? { lastUsedAt: t.lastUsedAt } : {}),
  status: tokenState(t, now),
});

export function authRoutes(r: Registrar, d: ApiDeps): void {
  // The audit record of a token made or revoked is kept in the same transaction as the change.
  r.route(authApi.createToken, async ({ body }, { audit }) => {
    const life = body.expires === undefined ? {} : { expiresInMs: parseDuration(body.expires) };
    const { token, record } = await d.tokens.create(body.name, body.role, { ...life, audit: audit.take() });
    return { token, ...view(record, record.createdAt) };
  });
  r.route(authApi.listTokens, async () => {
    const now = d.tokens.now();
    return (await d.tokens.list()).map((t) => view(t, now));
  });
  r.route(authApi.revokeToken, async ({ params }, { audit }) => {
    const t = await d.tokens.revoke(params.token, audit.take());
    return view(t, t.revokedAt ?? d.tokens.now());
  });
}
