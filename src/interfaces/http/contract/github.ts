import { z } from 'zod';
import { WEBHOOK_BODY_LIMIT } from '../../../github/github-event.js';
import { defineRoute } from './route.js';

export const githubApi = {
  webhook: defineRoute({
    method: 'POST',
    path: '/api/v1/github/webhook',
    summary:
      'GitHub webhook (ADR 28): push and pull_request events, authenticated by X-Hub-Signature-256 (401 when it is missing or wrong, and nothing changes); other events are answered and ignored; a delivery taken before (X-GitHub-Delivery) is not acted on again',
    tag: 'github',
    // The signature is the credential: GitHub sends no token.
    auth: 'public',
    bodyLimit: WEBHOOK_BODY_LIMIT,
    status: 202,
    response: z.object({
      status: z.enum(['accepted', 'ignored', 'duplicate']),
      delivery: z.string(),
      message: z.string(),
    }),
    audit: { none: 'a delivery acted on is audited by the GitHub service as the system actor github, once its signature is verified' },
  }),
};
