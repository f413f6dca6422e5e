import { SluiceError } from '../../../kernel/errors.js';
import { releasesApi } from '../contract/releases.js';
import type { ApiDeps } from '../deps.js';
import { type Registrar, tokenOf } from '../registrar.js';
import { journeyView } from './views.js';

export function releasesRoutes(r: Registrar, d: ApiDeps): void {
  r.route(releasesApi.list, async () => {
    const releases = await d.store.listReleases();
    return releases.map((rel) => {
      const j = d.executor.get(rel.journeyId);
      return { ...rel, status: j?.status ?? 'unknown', ...(j?.failure ? { failure: j.failure } : {}) };
    });
  });
  r.route(releasesApi.create, async ({ body }, { req, reply, caller, audit }) => {
    const key = req.headers['x-sluice-operator'];
    const out = await d.releases.create({
      by: tokenOf(caller),
      audit: audit.take(),
      version: body.version,
      ...(body.artifact ? { artifactPath: body.artifact, operator: d.isOperator(typeof key === 'string' ? key : undefined) } : {}),
      ...(body.sourceRef ? { sourceRef: body.sourceRef } : {}),
    });
    reply.status(out.created ? 201 : 200);
    return { release: out.release, created: out.created, journey: out.journey ? journeyView(d, out.journey) : null };
  });
  r.route(releasesApi.get, async ({ params }) => {
    const release = await d.store.getRelease(params.version);
    const j = release && d.executor.get(release.journeyId);
    if (!release || !j) throw new SluiceError('NOT_FOUND', `no release ${params.version}`);
    return { release, journey: journeyView(d, j) };
  });
}
