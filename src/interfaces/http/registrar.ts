import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditDraft } from '../../audit/audit-record.js';
import { authorize, rolesAllowed } from '../../auth/roles.js';
import type { TokenActor } from '../../kernel/actor.js';
import { isSluiceError, SluiceError } from '../../kernel/errors.js';
import { badText, badTextMessage } from '../../kernel/text.js';
import type { Input, Output, RequestPath, RouteDef } from './contract/route.js';
import { refuseCrossOrigin, refuseWithoutCsrf } from './session-cookie.js';
import { HTTP_STATUS } from './errors.js';

/** Who made a request: on routes that need a token, the token (`actor` is its name); elsewhere `anonymous`. */
export interface Caller {
  actor: string;
  token?: TokenActor;
  /** The browser session the call came with (its cookie), when it came with one rather than a Bearer token. */
  session?: CallerSession;
}

/** A browser session, as a call sees it. */
export interface CallerSession {
  id: string;
  csrf: string;
  expiresAt: number;
}

/**
 * The audit record of a call to a route that declares one (`audit.action`), made from the request. A handler whose
 * change writes it in its own transaction `take`s it (its events and the record are then written together, or
 * neither); a record not taken is written by the registrar once the handler succeeded.
 */
export interface AuditSlip {
  take(): AuditDraft;
}

export type Handler<D extends RouteDef> = (
  input: Input<D>,
  ctx: { req: FastifyRequest; reply: FastifyReply; caller: Caller; audit: AuditSlip },
) => Promise<D['response'] extends z.ZodType ? Output<D> : void>;

/** The token of a caller on a token route (the registrar authenticated it before the handler ran). */
export function tokenOf(caller: Caller): TokenActor {
  if (!caller.token) throw new SluiceError('UNAUTHORIZED', 'this call needs a token');
  return caller.token;
}

/** Who a request is, by the credential each kind of route takes; each throws UNAUTHORIZED saying why. */
export interface Authenticator {
  /**
   * A request's Bearer token, or else its session cookie, where one is needed (`change`: a route with `auth: token`;
   * `read`: a read while the API listens beyond loopback).
   */
  request(req: FastifyRequest, need: 'change' | 'read'): Promise<Caller & { token: TokenActor }>;
  /** A request's session cookie only (`auth: session`). */
  session(req: FastifyRequest): Promise<Caller & { token: TokenActor; session: CallerSession }>;
  /** A token presented in a login's body (`auth: login`), checked as a Bearer token is. */
  presented(token: string): Promise<Caller & { token: TokenActor }>;
  /** Whether `given` is the CSRF token of the session. */
  csrfMatches(session: CallerSession, given: string | undefined): boolean;
}

/** How open the API is. */
export interface Access {
  /** Reads (`auth: none`) need a token too: the API listens beyond loopback. */
  readsNeedToken: boolean;
}

/** Where the registrar writes the audit records that no handler took, and those of refused calls. */
export type RecordAudit = (drafts: AuditDraft[]) => Promise<unknown>;

/** The kinds of route whose caller is always a token: only they can be audited. */
const KNOWS_CALLER: readonly RouteDef['auth'][] = ['token', 'login', 'session'];

/** Statuses of refusals worth a record: the caller was not allowed (403), or the state did not allow it (409). */
const RECORDED_REFUSALS = new Set([403, 409]);

function valueAt(input: { params: unknown; query: unknown; body: unknown }, path: RequestPath): string | undefined {
  const [part, key] = path.split('.', 2) as ['params' | 'query' | 'body', string];
  const v = (input[part] as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The record a declared route writes for a call, from its request. */
export function auditDraftOf(def: RouteDef, input: { params: unknown; query: unknown; body: unknown }, actor: TokenActor): AuditDraft | undefined {
  const a = def.audit;
  if (!a || 'none' in a) return undefined;
  const links: Record<string, string> = {};
  for (const [kind, path] of Object.entries(a.links ?? {})) {
    const v = valueAt(input, path);
    if (v !== undefined) links[kind] = v;
  }
  return { actor, action: a.action, reason: (a.reason && valueAt(input, a.reason)) ?? '', links, outcome: 'done' };
}

/** Parses one part of a request with its schema; a failure is a BAD_REQUEST naming each field. */
function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, part: 'body' | 'query' | 'path'): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: i.path.join('.') || `(${part})`,
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  throw new SluiceError('BAD_REQUEST', `invalid request ${part}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** The headers a handler reads: their text is checked with the rest of the request. */
const HEADERS_USED = ['authorization', 'last-event-id', 'host', 'x-sluice-operator', 'cookie', 'x-sluice-csrf', 'origin'] as const;

/**
 * Refuses a request with a NUL or invalid UTF-16 anywhere a handler may read it (path parameters, query, body, the
 * headers used), naming where, before anything else happens: such text is never stored, logged or matched.
 */
function refuseBadText(req: FastifyRequest, body: boolean): void {
  const header = (name: string) => {
    const v = req.headers[name];
    return v === undefined ? undefined : badText(v, `header ${name}`);
  };
  const bad =
    badText(req.params, 'path') ?? badText(req.query, 'query') ?? (body ? badText(req.body, 'body') : undefined) ?? HEADERS_USED.map(header).find((x) => x !== undefined);
  if (bad) throw new SluiceError('BAD_REQUEST', badTextMessage(bad), { where: bad.where });
}

/**
 * Registers routes from their definitions, and remembers each one for the OpenAPI document: a route exists only by
 * being registered here, so none can be missing from the document.
 */
export class Registrar {
  readonly defs: RouteDef[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly auth: Authenticator,
    private readonly recordAudit: RecordAudit,
    private readonly access: Access = { readsNeedToken: false },
  ) {}

  /**
   * Who calls `def`: 401 without a valid token where one is needed, 403 for a role the route does not take, and 403
   * for a change made with the session cookie without its CSRF token or from another origin.
   */
  private async callerOf(def: RouteDef, req: FastifyRequest, body: unknown): Promise<Caller> {
    let caller: Caller & { token: TokenActor };
    if (def.auth === 'login') {
      // A login form posted from another site would log the browser in as someone else: only the dashboard's own page may.
      refuseCrossOrigin(req);
      caller = await this.auth.presented((body as { token: string }).token);
    } else if (def.auth === 'session') {
      caller = await this.auth.session(req);
    } else {
      const need = def.auth === 'token' ? 'change' : def.auth === 'none' && this.access.readsNeedToken ? 'read' : undefined;
      if (!need) return { actor: 'anonymous' };
      caller = await this.auth.request(req, need);
    }
    // The cookie rides along with any request the browser makes, a forged one included; the CSRF token does not.
    const session = caller.session;
    if (session && def.method === 'POST') refuseWithoutCsrf(req, (given) => this.auth.csrfMatches(session, given));
    authorize(caller.token, def.roles, `${def.method} ${def.path}`);
    return caller;
  }

  /**
   * `rawBody`: the handler gets the JSON body as text (`req.body`), unparsed and unchecked, to parse and validate
   * away from the event loop itself (the judge); `input.body` is then undefined.
   */
  route<D extends RouteDef>(def: D, handler: Handler<D>, opts: { rawBody?: boolean } = {}): void {
    // A mutation nobody would know of is a bug: a POST route records what it does, or says why it records nothing.
    if (def.method === 'POST' && !def.audit)
      throw new Error(`route ${def.method} ${def.path} declares no audit: name its action, or say why it changes nothing ({ none })`);
    if (def.audit && !('none' in def.audit) && !KNOWS_CALLER.includes(def.auth))
      throw new Error(`route ${def.method} ${def.path} is audited but needs no token: an audit record names who acted`);
    this.defs.push(def);
    const route = (app: FastifyInstance) =>
      app.route({
        method: def.method,
        url: def.path,
        ...(def.bodyLimit !== undefined ? { bodyLimit: def.bodyLimit } : {}),
        handler: async (req, reply) => {
          refuseBadText(req, !opts.rawBody);
          const parse = () =>
            ({
              params: parsePart(def.params, req.params, 'path'),
              query: parsePart(def.query, req.query, 'query'),
              body: opts.rawBody ? undefined : parsePart(def.body, req.body, 'body'),
            }) as Input<D>;
          // Who calls is known before the request is read, except at a login, whose body is the credential.
          let input = def.auth === 'login' ? parse() : undefined;
          const caller = await this.callerOf(def, req, input?.body);
          input ??= parse();
          const draft = caller.token ? auditDraftOf(def, input, caller.token) : undefined;
          let taken = false;
          const audit: AuditSlip = {
            take() {
              if (!draft) throw new Error(`route ${def.method} ${def.path} declares no audit action`);
              taken = true;
              return draft;
            },
          };
          let out;
          try {
            out = await handler(input, { req, reply, caller, audit });
          } catch (e) {
            // The caller hears of the refusal even if recording it failed: it changed nothing.
            if (draft && isSluiceError(e) && RECORDED_REFUSALS.has(HTTP_STATUS[e.code]))
              await this.recordAudit([{ ...draft, outcome: 'refused', detail: { code: e.code, message: e.message } }]).catch(() => undefined);
            throw e;
          }
          if (draft && !taken) await this.recordAudit([draft]);
          if (def.stream || reply.sent) return reply;
          return reply.status(def.status ?? 200).send(out);
        },
      });
    if (!opts.rawBody) {
      route(this.app);
      return;
    }
    void this.app.register(async (scope) => {
      scope.removeContentTypeParser('application/json');
      scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => done(null, text));
      route(scope);
    });
  }
}

/** How the OpenAPI document describes who may call a route, by its kind. */
const AUTH_TEXT: Record<RouteDef['auth'], (roles: string) => string> = {
  public: () => 'Needs no token.',
  token: (roles) => `Needs a token (Bearer, or the session cookie with X-Sluice-CSRF), of the role ${roles}.`,
  none: (roles) => `Needs a token (Bearer, or the session cookie) when the API listens beyond loopback, of the role ${roles}.`,
  login: () => 'The body carries the token, checked as a Bearer token is; answers a session cookie and its CSRF token.',
  session: (roles) => `Needs the session cookie (a POST also X-Sluice-CSRF), of the role ${roles}.`,
};

const schemaOf = (s: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(s, { io, unrepresentable: 'any' });

/** The OpenAPI 3.1 document of the routes registered. */
export function openApiDocument(defs: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of defs) {
    const url = r.path.replace(/:(\w+)/g, '{$1}');
    const params: unknown[] = [];
    const props = (s: z.ZodType | undefined) => ((s ? schemaOf(s, 'input') : {}) as { properties?: Record<string, unknown>; required?: string[] });
    const path = props(r.params);
    for (const [name, schema] of Object.entries(path.properties ?? {})) params.push({ name, in: 'path', required: true, schema });
    const query = props(r.query);
    for (const [name, schema] of Object.entries(query.properties ?? {})) params.push({ name, in: 'query', required: (query.required ?? []).includes(name), schema });
    const ok = r.stream
      ? { description: 'OK (streamed)', content: { [r.stream]: { schema: { type: 'string' } } } }
      : { description: 'OK', content: { 'application/json': { schema: r.response ? schemaOf(r.response, 'input') : {} } } };
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${url.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      responses: {
        [String(r.status ?? 200)]: ok,
        '4XX': { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    // Who may call it, as the route says: what the role matrix test and API users read.
    op['x-sluice-auth'] = r.auth;
    op.description = AUTH_TEXT[r.auth](rolesAllowed(r.roles).join(', '));
    if (r.roles) op['x-sluice-roles'] = [...r.roles];
    if (r.auth === 'token') op.security = [{ bearer: [] }, { session: [] }];
    else if (r.auth === 'none') op.security = [{}, { bearer: [] }, { session: [] }];
    else if (r.auth === 'session') op.security = [{ session: [] }];
    if (r.audit) op['x-sluice-audit'] = 'none' in r.audit ? { none: r.audit.none } : { action: r.audit.action };
    if (params.length) op.parameters = params;
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    paths[url] = { ...(paths[url] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice API', version },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'sluice_session',
          description: 'The dashboard\'s session (POST /api/v1/session); a POST with it also needs the header X-Sluice-CSRF: <csrf>.',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', enum: Object.keys(HTTP_STATUS) }, message: { type: 'string' }, details: {} },
        },
      },
    },
  };
}
