import { z } from 'zod';
import { defineRoute } from './route.js';

const stageParam = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a stage name');
const nameParam = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name (letters, digits, _)');
const listing = z.object({ name: z.string(), declared: z.boolean(), setAt: z.number().optional(), keptBySluice: z.string().optional() });

/** Stages' secrets: admin tokens only (`roles: []`). Values go in, never come out. */
export const secretsApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/secrets',
    summary: "A stage's secrets: names, whether the pipeline declares them, and when they were set (never values)",
    tag: 'secrets',
    auth: 'token',
    roles: [],
    params: z.strictObject({ stage: stageParam }),
    response: z.object({ stage: z.string(), secrets: z.array(listing) }),
  }),
  set: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/secrets/:name',
    summary: 'Set a secret the stage declares (encrypted at rest; its value is never shown again)',
    tag: 'secrets',
    auth: 'token',
    roles: [],
    params: z.strictObject({ stage: stageParam, name: nameParam }),
    body: z.strictObject({ value: z.string().min(1).max(64 * 1024) }),
    response: z.object({ stage: z.string(), name: z.string(), setAt: z.number(), replaced: z.boolean() }),
    audit: { action: 'secret.set', links: { stage: 'params.stage', secret: 'params.name' } },
  }),
  unset: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/secrets/:name/unset',
    summary: "Remove a stage's secret",
    tag: 'secrets',
    auth: 'token',
    roles: [],
    params: z.strictObject({ stage: stageParam, name: nameParam }),
    response: z.object({ stage: z.string(), name: z.string() }),
    audit: { action: 'secret.unset', links: { stage: 'params.stage', secret: 'params.name' } },
  }),
  rotateKey: defineRoute({
    method: 'POST',
    path: '/api/v1/secrets/rotate-key',
    summary: 'Encrypt every secret under a new key, in one transaction (the key file keeps only the new key)',
    tag: 'secrets',
    auth: 'token',
    roles: [],
    response: z.object({ keyId: z.string(), reencrypted: z.number() }),
    audit: { action: 'secret.rotate-key' },
  }),
};
