import { z } from 'zod';
import { journeyView } from './journeys.js';
import { defineRoute } from './route.js';

const release = z.object({
  version: z.string(),
  digest: z.string(),
  sourceRef: z.string().optional(),
  createdAt: z.number(),
  journeyId: z.string(),
  createdBy: z.object({ id: z.string(), name: z.string() }).optional().describe('the token that created the release (absent for releases made before it was recorded)'),
});

export const releasesApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/releases',
    summary: 'Releases with the status of their journey',
    tag: 'releases',
    auth: 'none',
    response: z.array(release.extend({ status: z.string(), failure: z.object({ stage: z.string(), reason: z.string() }).optional() })),
  }),
  create: defineRoute({
    method: 'POST',
    path: '/api/v1/releases',
    summary: 'Build (or register) the artifact once and start its journey; the same version and digest again changes nothing',
    tag: 'releases',
    auth: 'token',
    roles: ['deployer'],
    body: z.strictObject({
      version: z.string().min(1).max(64),
      artifact: z.string().min(1).max(4096).optional().describe("a pre-built directory or .tar/.tgz inside the app directory, relative to it (an absolute path only from the CLI on the server's machine)"),
      sourceRef: z.string().max(200).optional(),
    }),
    response: z.object({ release, created: z.boolean(), journey: journeyView.nullable() }),
    status: 201,
    audit: { action: 'release.create', links: { release: 'body.version' } },
  }),
  get: defineRoute({
    method: 'GET',
    path: '/api/v1/releases/:version',
    summary: 'A release and its journey, with every step',
    tag: 'releases',
    auth: 'none',
    params: z.object({ version: z.string().min(1).max(64) }),
    response: z.object({ release, journey: journeyView }),
  }),
};
