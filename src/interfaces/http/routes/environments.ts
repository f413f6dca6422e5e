import { parseDuration } from '../../../kernel/duration.js';
import { environmentsApi } from '../contract/environments.js';
import type { ApiDeps } from '../deps.js';
import { type Registrar, tokenOf } from '../registrar.js';

export function environmentsRoutes(r: Registrar, d: ApiDeps): void {
  const envs = d.environments;
  r.route(environmentsApi.list, () => envs.list());
  r.route(environmentsApi.show, ({ params }) => envs.show(params.name));
  r.route(environmentsApi.create, ({ body }, { audit }) => {
    const draft = audit.take();
    const { name, branch, pr, from, ref, env, ttl } = body;
    const input = {
      from,
      ref,
      ...(name ? { name } : {}),
      ...(branch ? { branch } : {}),
      ...(pr !== undefined ? { pr } : {}),
      ...(env ? { env } : {}),
      ...(ttl !== undefined ? { ttlMs: parseDuration(ttl) } : {}),
    };
    return envs.create(draft.actor, input, [draft]);
  });
  r.route(environmentsApi.redeploy, ({ params, body }, { audit }) => envs.redeploy(params.name, body.ref, [audit.take()]));
  r.route(environmentsApi.pin, ({ params, body }, { audit }) => envs.pin(params.name, body.pinned, [audit.take()]));
  r.route(environmentsApi.destroy, async ({ params }, { audit }) => {
    await envs.destroy(params.name, [audit.take()]);
    return { name: params.name, destroyed: true as const };
  });
  // Review (ADR 27).
  r.route(environmentsApi.review, ({ params, body }, { caller, audit }) => {
    const { verdict, comment, promote, keep } = body;
    const input = {
      verdict,
      ...(comment !== undefined ? { comment } : {}),
      ...(promote !== undefined ? { promote } : {}),
      ...(keep !== undefined ? { keep } : {}),
    };
    return envs.review(tokenOf(caller), params.name, input, [audit.take()]);
  });
  r.route(environmentsApi.extend, ({ params }, { audit }) => envs.extend(params.name, [audit.take()]));
  r.route(environmentsApi.logs, async ({ params }) => {
    const e = await envs.show(params.name);
    return { name: e.name, deploy: e.deploys, log: await envs.logs(params.name) };
  });
}
