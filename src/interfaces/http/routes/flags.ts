import type { ChangeMeta } from '../../../flags/flag-service.js';
import type { FlagdDocument } from '../../../flags/flag-model.js';
import { rampInputOf } from '../../../flags/flags-file.js';
import { flagsApi } from '../contract/flags.js';
import type { ApiDeps } from '../deps.js';
import type { AuditSlip, Registrar } from '../registrar.js';

/** Who changes, why, and what it relates to: the route's audit record is taken, and the service writes it with the change. */
function metaOf(audit: AuditSlip, body: { reason?: string | undefined; release?: string | undefined; journey?: string | undefined }): ChangeMeta {
  const d = audit.take();
  return { actor: d.actor, reason: body.reason ?? '', ...(body.release ? { release: body.release } : {}), ...(body.journey ? { journey: body.journey } : {}) };
}

export function flagsRoutes(r: Registrar, d: ApiDeps): void {
  const f = d.flags;
  r.route(flagsApi.list, () => f.list());
  r.route(flagsApi.show, ({ params }) => f.show(params.key));
  r.route(flagsApi.create, ({ body }, { audit }) => {
    const { key, type, variants, description, owner } = body;
    return f.define(metaOf(audit, body), { key, type, variants: variants as never, description, owner });
  });
  r.route(flagsApi.update, ({ params, body }, { audit }) => {
    const { type, variants, description, owner } = body;
    const patch = {
      ...(type ? { type } : {}),
      ...(variants ? { variants: variants as never } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(owner !== undefined ? { owner } : {}),
    };
    return f.update(metaOf(audit, body), params.key, patch);
  });
  r.route(flagsApi.remove, ({ params, body }, { audit }) => f.remove(metaOf(audit, body), params.key));
  r.route(flagsApi.set, ({ params, body }, { audit }) => {
    const { state, defaultVariant, targeting } = body;
    const patch = { ...(state ? { state } : {}), ...(defaultVariant ? { defaultVariant } : {}), ...('targeting' in body ? { targeting } : {}) };
    return f.set(metaOf(audit, body), params.stage, params.key, patch);
  });
  r.route(flagsApi.segments, ({ params }) => f.segments(params.stage));
  r.route(flagsApi.setSegment, ({ params, body }, { audit }) => f.setSegment(metaOf(audit, body), params.stage, params.name, body.rule ?? null));
  r.route(flagsApi.copy, ({ body }, { audit }) => f.copy(metaOf(audit, body), body.from, body.to, body.flags));
  r.route(flagsApi.history, async ({ query }) =>
    f.history({ ...(query.flag ? { flag: query.flag } : {}), ...(query.stage ? { stage: query.stage } : {}), limit: Number(query.limit ?? 100) }),
  );
  r.route(flagsApi.importFlagd, ({ params, body }, { audit }) => f.importFlagd(metaOf(audit, body), params.stage, body.document as FlagdDocument));
  r.route(flagsApi.exportFlagd, async ({ params }) => (await f.exportFlagd(params.stage)) as FlagdDocument & Record<string, unknown>);
  r.route(flagsApi.apply, ({ body }, { audit }) => f.applyText(metaOf(audit, body), body.text, body.file));
  r.route(flagsApi.stale, ({ query }) => f.stale(Number(query.days ?? 30)));
  r.route(flagsApi.createKey, ({ params, body }, { audit }) => f.createKey(metaOf(audit, body), params.stage, body.name));
  r.route(flagsApi.listKeys, ({ params }) => f.listKeys(params.stage));
  r.route(flagsApi.revokeKey, async ({ params, body }, { audit }) => {
    await f.revokeKey(metaOf(audit, body), params.stage, params.id);
    return { stage: params.stage, id: params.id };
  });
  r.route(flagsApi.rampStatus, ({ params }) => f.ramp(params.stage, params.key));
  r.route(flagsApi.rampSeries, async ({ params }) => d.rampSeries(await f.ramp(params.stage, params.key)));
  const changed = async (p: Promise<{ revisions: Record<string, number>; ramp: Awaited<ReturnType<typeof f.ramp>> }>) => {
    const { revisions, ramp } = await p;
    return { revisions, ramp };
  };
  r.route(flagsApi.rampStart, ({ params, body }, { audit }) =>
    changed(f.rampStart(metaOf(audit, body), params.stage, params.key, body.plan ? rampInputOf(body.plan) : undefined)),
  );
  r.route(flagsApi.rampPause, ({ params, body }, { audit }) => changed(f.rampPause(metaOf(audit, body), params.stage, params.key)));
  r.route(flagsApi.rampResume, ({ params, body }, { audit }) => changed(f.rampResume(metaOf(audit, body), params.stage, params.key)));
  r.route(flagsApi.rampAbort, ({ params, body }, { audit }) => changed(f.rampAbort(metaOf(audit, body), params.stage, params.key)));
}
