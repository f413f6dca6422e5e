import { authApi } from '../contract/auth.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

export function authRoutes(r: Registrar, d: ApiDeps): void {
  r.route(authApi.createToken, async ({ body }) => {
    const { token, record } = await d.tokens.create(body.name, 'admin');
    return { token, id: record.id, name: record.name, createdAt: record.createdAt };
  });
}
