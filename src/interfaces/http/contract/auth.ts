import { z } from 'zod';
import { defineRoute } from './route.js';

export const authApi = {
  createToken: defineRoute({
    method: 'POST',
    path: '/api/v1/tokens',
    summary: 'Create an API token (shown once)',
    tag: 'auth',
    auth: 'token',
    body: z.strictObject({ name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ -, at most 64') }),
    response: z.object({ token: z.string(), id: z.string(), name: z.string(), createdAt: z.number() }),
    status: 201,
    audit: { action: 'token.create', links: { token: 'body.name' } },
  }),
};
