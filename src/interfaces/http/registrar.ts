import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { TokenActor } from '../../kernel/actor.js';
import { SluiceError } from '../../kernel/errors.js';
import type { Input, Output, RouteDef } from './contract/route.js';
import { badText, badTextMessage } from '../../kernel/text.js';
import { HTTP_STATUS } from './errors.js';

/** Who made a request: on routes that need a token, the token (`actor` is its name); elsewhere `anonymous`. */
export interface Caller {
  actor: string;
  token?: TokenActor;
}

export type Handler<D extends RouteDef> = (input: Input<D>, ctx: { req: FastifyRequest; reply: FastifyReply; caller: Caller }) => Promise<D['response'] extends z.ZodType ? Output<D> : void>;

/** Checks a request's token (routes with `auth: token`); answers the caller, or throws UNAUTHORIZED. */
export type Authenticate = (req: FastifyRequest) => Promise<Caller>;

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
const HEADERS_USED = ['authorization', 'last-event-id', 'host', 'x-sluice-operator'] as const;

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
    private readonly authenticate: Authenticate,
  ) {}

  /**
   * `rawBody`: the handler gets the JSON body as text (`req.body`), unparsed and unchecked, to parse and validate
   * away from the event loop itself (the judge); `input.body` is then undefined.
   */
  route<D extends RouteDef>(def: D, handler: Handler<D>, opts: { rawBody?: boolean } = {}): void {
    this.defs.push(def);
    const route = (app: FastifyInstance) =>
      app.route({
        method: def.method,
        url: def.path,
        handler: async (req, reply) => {
          refuseBadText(req, !opts.rawBody);
          const caller: Caller = def.auth === 'token' ? await this.authenticate(req) : { actor: 'anonymous' };
          const input = {
            params: parsePart(def.params, req.params, 'path'),
            query: parsePart(def.query, req.query, 'query'),
            body: opts.rawBody ? undefined : parsePart(def.body, req.body, 'body'),
          } as Input<D>;
          const out = await handler(input, { req, reply, caller });
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
    if (r.auth === 'token') op.security = [{ bearer: [] }];
    if (params.length) op.parameters = params;
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    paths[url] = { ...(paths[url] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice API', version },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
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
