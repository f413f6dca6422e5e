import { z } from 'zod';
import { type JudgeResponse, judgeRequestSchema } from '../../../rollout/judge-request.js';
import { defineRoute } from './route.js';

export const rolloutApi = {
  judge: defineRoute({
    method: 'POST',
    path: '/api/v1/judge',
    summary: 'Judge recorded canary and baseline series (the input `sluice judge` reads); changes nothing, so needs no token',
    tag: 'rollout',
    auth: 'public',
    body: judgeRequestSchema,
    response: z.custom<JudgeResponse>().describe('{ outcome: pass | inconclusive | fail, reason, comparison, thresholds }'),
    audit: { none: 'it judges the series it is sent and stores nothing' },
  }),
  metrics: defineRoute({
    method: 'GET',
    path: '/metrics',
    summary: "The data plane's counters per stage and version, in the Prometheus text format",
    tag: 'rollout',
    auth: 'none',
    stream: 'text/plain; version=0.0.4',
  }),
};
