import { judgeValid } from '../../../rollout/judge-request.js';
import { rolloutApi } from '../contract/rollout.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

export function rolloutRoutes(r: Registrar, d: ApiDeps): void {
  r.route(rolloutApi.judge, async ({ body }) => judgeValid(body, 'request body'));
  r.route(rolloutApi.metrics, async (_input, { reply }) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await d.metricsText());
  });
}
