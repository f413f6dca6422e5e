import type { z } from 'zod';
import type { Role } from '../../../kernel/actor.js';

/**
 * One route of the API, described once: the server registers its handler from it, the OpenAPI document is generated
 * from the routes registered, and the CLI calls it with typed input and output.
 */
export interface RouteDef {
  method: 'GET' | 'POST';
  /** Fastify-style path: `/api/v1/releases/:version`. */
  path: string;
  summary: string;
  /** The context whose routes file registers it (the OpenAPI tag). */
  tag: string;
  /**
   * Who may call it:
   * - `token`: a change; always needs a token of a role in `roles`: `Authorization: Bearer <token>`, or the
   *   dashboard's session cookie with its CSRF token (header X-Sluice-CSRF) on a POST;
   * - `none`: a read; needs no token while the API listens on loopback only, and a token (Bearer or session cookie)
   *   of any role (of a role in `roles`, when given) once it listens beyond;
   * - `public`: needs no token anywhere, as it shows nothing of the app and changes nothing (health, this API's
   *   description, the pipeline file's JSON Schema, judging a request's own series);
   * - `login`: the body's `token` field is the credential, checked as a Bearer token is (a browser's login);
   * - `session`: needs the session cookie itself (reading or ending a browser's session); a POST its CSRF token too.
   */
  auth: 'none' | 'token' | 'public' | 'login' | 'session';
  /** The roles that may call it, when it needs a token (admin always may); absent: every role; `[]`: admin only. */
  roles?: readonly Role[];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The JSON answer; absent for streams. */
  response?: z.ZodType;
  /** A streamed answer instead of JSON. */
  stream?: 'text/plain' | 'text/event-stream' | 'text/plain; version=0.0.4';
  /** The largest body it reads, when smaller than the server's (1 MiB). */
  bodyLimit?: number;
  /** The status of a successful answer (default 200). */
  status?: number;
  /** What the audit trail records of a call; every POST route says it (a check at registration and a test hold it). */
  audit?: RouteAudit;
}

/**
 * A place in a request: `params.<name>`, `query.<name>` or `body.<name>` (a string there, or nothing).
 */
export type RequestPath = `${'params' | 'query' | 'body'}.${string}`;

/**
 * The audit record a mutating route writes, declared: its `action`, its links (kind -> where in the request the value
 * is; a release, a stage, a token, …) and where its reason is. The code that changes state completes the links it
 * knows better (a journey's id, the stage a command picked) and writes the record with its events. A call refused
 * for its authority or for the state of things (403, 409) is recorded too, with outcome `refused`.
 * `{ none: why }`: the route changes nothing that needs recording, and says why.
 */
export type RouteAudit = { action: string; links?: Readonly<Record<string, RequestPath>>; reason?: RequestPath } | { none: string };

/** Keeps the route's exact schema types, for typed handlers and calls. */
export const defineRoute = <const D extends RouteDef>(d: D): D => d;

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type In<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What a handler receives. */
export interface Input<D extends RouteDef> {
  params: Out<D['params']>;
  query: Out<D['query']>;
  body: Out<D['body']>;
}
/** What a caller sends. */
export interface CallInput<D extends RouteDef> {
  params: In<D['params']>;
  query: In<D['query']>;
  body: In<D['body']>;
}
/** What a handler returns and a caller gets. */
export type Output<D extends RouteDef> = D['response'] extends z.ZodType ? z.input<D['response']> : never;
