import { z } from 'zod';
import { ROLES } from '../../../kernel/actor.js';
import { defineRoute } from './route.js';

const role = z.enum(ROLES);
const tokenView = z.object({
  id: z.string(),
  name: z.string(),
  role,
  createdAt: z.number(),
  expiresAt: z.number().optional().describe('absent: it never expires'),
  revokedAt: z.number().optional(),
  lastUsedAt: z.number().optional().describe('when it last authenticated a call, to the minute'),
  status: z.enum(['valid', 'expired', 'revoked']),
});

/** Tokens: only admin tokens make, list and revoke them (`roles: []`). */
export const authApi = {
  createToken: defineRoute({
    method: 'POST',
    path: '/api/v1/tokens',
    summary: 'Create an API token with a role (shown once); its name must not be in use by a token not revoked',
    tag: 'auth',
    auth: 'token',
    roles: [],
    body: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ -, at most 64'),
      role: role.describe('viewer reads; deployer creates releases and steers them; approver approves and rejects; admin does all and manages tokens'),
      expires: z.string().max(40).optional().describe('lifetime from now, as durations are written (90d, 12h, 1h30m), from 1m to 3650d; absent: never expires'),
    }),
    response: z.object({ token: z.string() }).extend(tokenView.shape),
    status: 201,
    audit: { action: 'token.create', links: { token: 'body.name' } },
  }),
  listTokens: defineRoute({
    method: 'GET',
    path: '/api/v1/tokens',
    summary: 'Every API token, revoked and expired ones included, oldest first (never the tokens themselves)',
    tag: 'auth',
    auth: 'token',
    roles: [],
    response: z.array(tokenView),
  }),
  revokeToken: defineRoute({
    method: 'POST',
    path: '/api/v1/tokens/:token/revoke',
    summary: 'Revoke a token, by its id or by the name of a token not revoked; it stops working at once, on every replica',
    tag: 'auth',
    auth: 'token',
    roles: [],
    params: z.object({ token: z.string().min(1).max(100) }),
    body: z.strictObject({}),
    response: tokenView,
    audit: { action: 'token.revoke', links: { token: 'params.token' } },
  }),
};
