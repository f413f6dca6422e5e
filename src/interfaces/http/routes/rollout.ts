import { rolloutApi } from '../contract/rollout.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

export function rolloutRoutes(r: Registrar, d: ApiDeps): void {
  // Parsed, validated and judged on the judge's thread: a large request holds up no other request.
  r.route(rolloutApi.judge, async (_input, { req }) => d.judge.judge(typeof req.body === 'string' ? req.body : '', 'request body'), { rawBody: true });
  r.route(rolloutApi.metrics, async (_input, { reply }) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await d.metricsText());
  });
}
