import { redactUrl } from '../../../kernel/redact.js';
import type { Plan } from '../../../pipeline/pipeline.js';
import { pipelineJsonSchema } from '../../../pipeline/pipeline-schema.js';
import { systemApi } from '../contract/system.js';
import type { ApiDeps } from '../deps.js';
import { openApiDocument, type Registrar } from '../registrar.js';

/** A plan as the API shows it: webhook addresses without their path (an incoming webhook's path is its secret). */
export function shownPlan(p: Plan): Plan {
  return p.notify?.length ? { ...p, notify: p.notify.map((n) => ({ ...n, url: redactUrl(n.url) })) } : p;
}

export function systemRoutes(r: Registrar, d: ApiDeps): void {
  r.route(systemApi.health, async (_input, { reply }) => {
    const database = await d.database();
    const body = { ok: database.ok, version: d.version, database, dataPlane: await d.dataPlane() };
    // A control plane without its database can do nothing: a load balancer or monitor reads the status, not the body.
    if (!database.ok) reply.status(503).send(body);
    return body;
  });
  r.route(systemApi.openapi, async () => openApiDocument(r.defs, d.version));
  r.route(systemApi.pipeline, async () => shownPlan(d.releases.currentPlan()) as unknown as Record<string, unknown>);
  r.route(systemApi.schema, async () => pipelineJsonSchema());
}
