import { z } from 'zod';
import { defineRoute } from './route.js';

export const systemApi = {
  health: defineRoute({
    method: 'GET',
    path: '/api/v1/health',
    summary: 'Liveness of the control plane, its database, and the data plane it drives; 503 (same body) while the database is gone',
    tag: 'system',
    auth: 'public',
    response: z.object({
      ok: z.boolean(),
      version: z.string(),
      /** Not ok: the database is gone or does not answer; `ok` is false then. */
      database: z.object({ ok: z.boolean(), error: z.string().optional() }),
      dataPlane: z.object({
        ok: z.boolean(),
        pid: z.number().optional(),
        port: z.number().optional(),
        build: z.string().optional(),
        error: z.string().optional(),
      }),
    }),
  }),
  openapi: defineRoute({ method: 'GET', path: '/api/openapi.json', summary: 'This document, generated from the routes the server registered', tag: 'system', auth: 'public', response: z.record(z.string(), z.unknown()) }),
  pipeline: defineRoute({ method: 'GET', path: '/api/v1/pipeline', summary: 'The pipeline file as resolved now (webhook paths cut)', tag: 'system', auth: 'none', response: z.record(z.string(), z.unknown()) }),
  schema: defineRoute({ method: 'GET', path: '/api/v1/pipeline/schema', summary: 'JSON Schema of sluice.yaml', tag: 'system', auth: 'public', response: z.record(z.string(), z.unknown()) }),
};
