import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { sessionRefused, tokenMissing } from '../../auth/token-service.js';
import type { Role } from '../../kernel/actor.js';
import { isSluiceError, SluiceError } from '../../kernel/errors.js';
import type { ApiDeps } from './deps.js';
import { type ErrorBody, HTTP_STATUS } from './errors.js';
import { hostAllowed, LOOPBACK_HOSTS } from './host-check.js';
import { Registrar } from './registrar.js';
import { cameOverHttps, clearedSessionCookie, sessionCookieOf } from './session-cookie.js';
import { SECURITY_HEADERS, webAppRoutes } from './web-app.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { journeysRoutes } from './routes/journeys.js';
import { notificationsRoutes } from './routes/notifications.js';
import { releasesRoutes } from './routes/releases.js';
import { rolloutRoutes } from './routes/rollout.js';
import { environmentsRoutes } from './routes/environments.js';
import { flagsRoutes } from './routes/flags.js';
import { githubRoutes } from './routes/github.js';
import { secretsRoutes } from './routes/secrets.js';
import { sessionRoutes } from './routes/session.js';
import { systemRoutes } from './routes/system.js';

export type { ApiAccess, ApiDeps } from './deps.js';

/** The HTTP API: one routes file per context, each route registered from its definition in ./contract. */
export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  // Closing ends every connection, streams included (events, followed logs): a stopping control plane waits for none.
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    // What Fastify refuses before any route (a URL that is not valid UTF-8, say) is answered like every other error.
    frameworkErrors: (err, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      void (reply as FastifyReply).status(status).send({ code: 'BAD_REQUEST', message: err.message } satisfies ErrorBody);
    },
    // And what Node's HTTP parser refuses before Fastify sees a request (a head past 16 KB, a malformed one).
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify({
        code: tooLarge ? 'TOO_LARGE' : 'BAD_REQUEST',
        message: tooLarge ? 'the request line and headers are larger than 16 KB' : `the request is not valid HTTP/1.1 (${err.code ?? err.message})`,
      } satisfies ErrorBody);
      const status = tooLarge ? 431 : 400;
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    },
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (isSluiceError(err)) {
      // A session cookie that opens nothing is forgotten by the browser, so that the dashboard shows its login page.
      if (err.code === 'UNAUTHORIZED' && !req.headers.authorization && sessionCookieOf(req.headers.cookie) !== undefined)
        void reply.header('set-cookie', clearedSessionCookie(cameOverHttps(req)));
      const body: ErrorBody = { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
      return reply.status(HTTP_STATUS[err.code]).send(body);
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return reply.status(e.statusCode).send({ code: e.statusCode === 413 ? 'TOO_LARGE' : 'BAD_REQUEST', message: e.message ?? 'bad request' } satisfies ErrorBody);
    return reply.status(500).send({ code: 'INTERNAL', message: e.message ?? 'internal error' } satisfies ErrorBody);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } satisfies ErrorBody),
  );

  // Every answer, JSON and the dashboard's files alike: no sniffing a type, no referrer, never framed.
  app.addHook('onRequest', async (_req, reply) => {
    void reply.headers(SECURITY_HEADERS);
  });

  // No DNS rebinding: a Host that names neither loopback nor an allowed host is refused before any handler or stream.
  const allowedHosts = new Set(d.access?.allowedHosts ?? []);
  app.addHook('onRequest', async (req) => {
    if (!hostAllowed(req.headers.host, allowedHosts))
      throw new SluiceError(
        'HOST_NOT_ALLOWED',
        `this API does not answer to the host ${JSON.stringify(req.headers.host ?? '')}: it answers to ${[...LOOPBACK_HOSTS, ...allowedHosts].join(', ')}; an operator allows another name with sluice up --api-allowed-host`,
      );
  });

  const bearerOf = (req: FastifyRequest) => /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const asCaller = (rec: { id: string; name: string; role: Role }) => ({ actor: rec.name, token: { kind: 'token' as const, id: rec.id, name: rec.name, role: rec.role } });
  const fromCookie = async (req: FastifyRequest) => {
    const cookie = sessionCookieOf(req.headers.cookie);
    if (cookie === undefined) return undefined;
    const { session, token } = await d.sessions.resolve(cookie);
    return { ...asCaller(token), session: { id: session.id, csrf: session.csrf, expiresAt: session.expiresAt } };
  };
  const r = new Registrar(
    app,
    {
      async request(req, need) {
        // A Bearer token wins: the CLI and scripts send it, and no browser adds one to a forged request.
        const bearer = bearerOf(req);
        if (bearer !== undefined) return asCaller(await d.tokens.authenticate(bearer));
        const viaCookie = await fromCookie(req);
        if (viaCookie) return viaCookie;
        throw tokenMissing(
          need === 'change'
            ? 'this call changes state and needs an Authorization: Bearer <token> header'
            : 'this API listens beyond loopback, so reads too need an Authorization: Bearer <token> header (a token of any role)',
        );
      },
      async session(req) {
        const viaCookie = await fromCookie(req);
        if (!viaCookie) throw sessionRefused('this call needs the dashboard\'s session cookie (POST /api/v1/session logs in)');
        return viaCookie;
      },
      async presented(token) {
        try {
          return asCaller(await d.tokens.authenticate(token));
        } catch (e) {
          // A login page says no more than that: which tokens exist, expired or were revoked is not its to tell.
          if (isSluiceError(e) && e.code === 'UNAUTHORIZED') throw new SluiceError('UNAUTHORIZED', 'that token does not log in: it is not a token of this server, or it expired or was revoked');
          throw e;
        }
      },
      csrfMatches: (session, given) => d.sessions.csrfMatches(session, given),
    },
    (drafts) => d.audit.appendAudit(drafts, d.clock.now()),
    { readsNeedToken: d.access?.readsNeedToken ?? false },
  );
  systemRoutes(r, d);
  journeysRoutes(r, d);
  releasesRoutes(r, d);
  rolloutRoutes(r, d);
  notificationsRoutes(r, d);
  authRoutes(r, d);
  auditRoutes(r, d);
  secretsRoutes(r, d);
  flagsRoutes(r, d);
  environmentsRoutes(r, d);
  githubRoutes(r, d);
  sessionRoutes(r, d);
  webAppRoutes(app, d.webDir);
  return app;
}
