import { z } from 'zod';
import { ENV_LIMITS, REVIEW_LIMITS, REVIEW_VERDICTS, REVIEWERS } from '../../../environments/environment.js';
import { durationSchema } from '../../../kernel/duration.js';
import { defineRoute } from './route.js';

const nameParam = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'an environment name is a DNS label: lower-case letters, digits and "-", at most 63, not starting or ending with "-"');
const release = z.object({ version: z.string(), digest: z.string() });
/** A delivery lead's verdict (ADR 27). */
const review = z.object({
  verdict: z.enum(REVIEW_VERDICTS),
  version: z.string().describe('the build reviewed'),
  by: z.string(),
  byId: z.string().optional(),
  at: z.number(),
  comment: z.string().optional(),
});
const environment = z.object({
  name: z.string(),
  source: z.string().describe('the stage it clones'),
  release: release.describe('the build it runs, or deploys now'),
  previous: release.nullable().describe('what it served before the deploy under way'),
  env: z.record(z.string(), z.string()).describe("overrides of the source stage's env"),
  status: z.enum(['deploying', 'ready', 'failed', 'destroying']),
  reason: z.string().optional().describe('why the last deploy failed'),
  deploys: z.number(),
  createdAt: z.number(),
  createdBy: z.string(),
  deployedAt: z.number().describe('the last deploy: the TTL counts from here'),
  ttlMs: z.number(),
  maxAgeMs: z.number(),
  pinned: z.boolean(),
  branch: z.string().optional(),
  pr: z.number().optional(),
  review: review.optional().describe("the delivery lead's verdict on the build it runs; a deploy of another build clears it"),
  url: z.string().optional().describe('where it answers'),
  expiresAt: z.number().nullable().describe('null: pinned'),
  asleep: z.boolean().describe('scaled to zero: its instances are stopped, and the next request wakes it (docs/adr/0029)'),
  asleepSince: z.number().optional().describe('when it went to sleep'),
  wokeAt: z.number().optional().describe('when a request last woke it'),
});
/** Those who may make, change and destroy environments: deployers (admins always may). */
const CHANGERS = ['deployer'] as const;
const why = { reason: z.string().max(1000).optional().describe('why (kept in the audit trail)') };

/** On-demand environments (ADR 25): a stage's clone running one build at its own address, for a while. */
export const environmentsApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/environments',
    summary: 'Every environment: what it runs, where it answers, and when it expires',
    tag: 'environments',
    auth: 'none',
    response: z.array(environment),
  }),
  show: defineRoute({
    method: 'GET',
    path: '/api/v1/environments/:name',
    summary: 'One environment',
    tag: 'environments',
    auth: 'none',
    params: z.strictObject({ name: nameParam }),
    response: environment,
  }),
  create: defineRoute({
    method: 'POST',
    path: '/api/v1/environments',
    summary: 'Make an environment from a stage (its config, target settings, secrets and flags) and deploy a release to it; answers once it serves, or failed to',
    tag: 'environments',
    auth: 'token',
    roles: CHANGERS,
    body: z.strictObject({
      name: nameParam.optional().describe('default: pr-<pr>, or from the branch'),
      branch: z.string().min(1).max(255).optional(),
      pr: z.number().int().min(1).max(1e9).optional(),
      from: z.string().min(1).max(63).describe('the stage to clone, e.g. staging'),
      ref: z.string().min(1).max(64).describe("a release's version"),
      env: z.record(z.string().max(128), z.string().max(ENV_LIMITS.envValueLength)).optional().describe("overrides of the stage's env"),
      ttl: durationSchema.optional().describe('the sliding TTL, reset by each deploy (default 3d)'),
      ...why,
    }),
    response: environment,
    status: 201,
    audit: { action: 'environment.create', links: { environment: 'body.name', release: 'body.ref', stage: 'body.from' }, reason: 'body.reason' },
  }),
  redeploy: defineRoute({
    method: 'POST',
    path: '/api/v1/environments/:name/redeploy',
    summary: 'Deploy a release (the same one, by default) to an environment again; its TTL starts again',
    tag: 'environments',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ name: nameParam }),
    body: z.strictObject({ ref: z.string().min(1).max(64).optional(), ...why }),
    response: environment,
    audit: { action: 'environment.redeploy', links: { environment: 'params.name', release: 'body.ref' }, reason: 'body.reason' },
  }),
  pin: defineRoute({
    method: 'POST',
    path: '/api/v1/environments/:name/pin',
    summary: 'Pin an environment (it never expires), or unpin it with pinned: false',
    tag: 'environments',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ name: nameParam }),
    body: z.strictObject({ pinned: z.boolean(), ...why }),
    response: environment,
    audit: { action: 'environment.pin', links: { environment: 'params.name' }, reason: 'body.reason' },
  }),
  destroy: defineRoute({
    method: 'POST',
    path: '/api/v1/environments/:name/destroy',
    summary: 'Take an environment down and remove everything it made: instances, route, folders, record',
    tag: 'environments',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ name: nameParam }),
    body: z.strictObject({ ...why }),
    response: z.object({ name: z.string(), destroyed: z.literal(true) }),
    audit: { action: 'environment.destroy', links: { environment: 'params.name' }, reason: 'body.reason' },
  }),
  // Review (ADR 27): the delivery lead's verdict, and an approve's promotion to the source stage.
  review: defineRoute({
    method: 'POST',
    path: '/api/v1/environments/:name/review',
    summary: "Record a delivery lead's verdict on an environment's build; an approve (by default, see the pipeline's environments:) promotes the build to the source stage through its journey, lane included, and destroys the environment",
    tag: 'environments',
    auth: 'token',
    roles: REVIEWERS,
    params: z.strictObject({ name: nameParam }),
    body: z.strictObject({
      verdict: z.enum(REVIEW_VERDICTS),
      comment: z.string().max(REVIEW_LIMITS.commentLength).optional().describe('what was seen; required with changes-requested'),
      promote: z.boolean().optional().describe("with approved: bring the build to the source stage (default: the pipeline's environments.onApprove)"),
      keep: z.boolean().optional().describe('with approved: keep the environment once its build is promoted (default: not environments.destroyOnPromote)'),
    }),
    response: z.object({
      name: z.string(),
      review,
      promotion: z
        .object({
          journeyId: z.string(),
          stage: z.string(),
          outcome: z.enum(['promoted', 'already']),
          status: z.string().describe("the stage's status in the journey now (ready: queued in its lane)"),
        })
        .nullable(),
      destroyed: z.boolean(),
      environment: environment.nullable().describe('null once destroyed'),
    }),
    audit: { action: 'environment.review', links: { environment: 'params.name' }, reason: 'body.comment' },
  }),
  extend: defineRoute({
    method: 'POST',
    path: '/api/v1/environments/:name/extend',
    summary: "Start an environment's sliding TTL again from now, without a deploy",
    tag: 'environments',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ name: nameParam }),
    body: z.strictObject({ ...why }),
    response: environment,
    audit: { action: 'environment.extend', links: { environment: 'params.name' }, reason: 'body.reason' },
  }),
  logs: defineRoute({
    method: 'GET',
    path: '/api/v1/environments/:name/logs',
    summary: "The log of an environment's last deploy",
    tag: 'environments',
    auth: 'none',
    params: z.strictObject({ name: nameParam }),
    response: z.object({ name: z.string(), deploy: z.number(), log: z.string() }),
  }),
};
