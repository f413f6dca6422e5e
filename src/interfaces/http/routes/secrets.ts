import { secretsApi } from '../contract/secrets.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

export function secretsRoutes(r: Registrar, d: ApiDeps): void {
  r.route(secretsApi.list, async ({ params }) => ({ stage: params.stage, secrets: await d.secrets.list(params.stage) }));
  r.route(secretsApi.set, async ({ params, body }) => {
    const done = await d.secrets.set(params.stage, params.name, body.value);
    return { stage: params.stage, name: params.name, ...done };
  });
  r.route(secretsApi.unset, async ({ params }) => {
    await d.secrets.unset(params.stage, params.name);
    return { stage: params.stage, name: params.name };
  });
  r.route(secretsApi.rotateKey, () => d.secrets.rotateKey());
}
