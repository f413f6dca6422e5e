import type { TokenActor } from '../../../kernel/actor.js';
import { sessionApi } from '../contract/session.js';
import type { ApiDeps } from '../deps.js';
import { type CallerSession, type Registrar, tokenOf } from '../registrar.js';
import { cameOverHttps, clearedSessionCookie, sessionCookie } from '../session-cookie.js';

const shown = (t: TokenActor, s: CallerSession) => ({ actor: { id: t.id, name: t.name, role: t.role }, csrf: s.csrf, expiresAt: s.expiresAt });

export function sessionRoutes(r: Registrar, d: ApiDeps): void {
  r.route(sessionApi.login, async ({ body }, { req, reply }) => {
    // The registrar checked the token already (and records the login as it); this makes the session.
    const { session, token, secret } = await d.sessions.login(body.token);
    void reply.header('set-cookie', sessionCookie(secret, cameOverHttps(req))).header('cache-control', 'no-store');
    return shown({ kind: 'token', id: token.id, name: token.name, role: token.role }, session);
  });
  r.route(sessionApi.current, async (_input, { reply, caller }) => {
    void reply.header('cache-control', 'no-store');
    return shown(tokenOf(caller), caller.session!);
  });
  r.route(sessionApi.logout, async (_input, { req, reply, caller }) => {
    const ended = await d.sessions.logout(caller.session!);
    void reply.header('set-cookie', clearedSessionCookie(cameOverHttps(req)));
    return { ended };
  });
}
