import { z } from 'zod';
import type { Board, JourneySummary, StageJourneyView } from '../../../journeys/board.js';
import type { StoredEvent } from '../../../journeys/journey-events.js';
import type { Role } from '../../../kernel/actor.js';
import { defineRoute, type RequestPath } from './route.js';

const releaseRef = z.object({ version: z.string(), digest: z.string() });
const stepStatus = z.enum(['running', 'passed', 'failed', 'inconclusive', 'cancelled']);
const stageStatus = z.enum([
  'waiting', 'awaiting-promotion', 'ready', 'deploying', 'rolling-out', 'paused', 'verifying', 'baking',
  'awaiting-approval', 'passed', 'rolling-back', 'rolled-back', 'failed', 'skipped',
]);
const journeyStatus = z.enum(['running', 'succeeded', 'failed', 'superseded']);

export const stageJourneyView = z.object({
  version: z.string(),
  status: stageStatus,
  failure: z.string().optional(),
  warnings: z.array(z.string()),
  steps: z.array(
    z.object({
      name: z.string(),
      status: stepStatus,
      durationMs: z.number().optional(),
      reason: z.string().optional(),
      detail: z.unknown().optional().describe('what the step found: for an analysis, the judge request it built, the verdict, and any gaps in the data'),
    }),
  ),
  bakeUntil: z.number().optional(),
  approvals: z
    .object({ gate: z.enum(['before-deploy', 'after-verify']), received: z.number(), required: z.number(), by: z.array(z.string()) })
    .optional()
    .describe('awaiting approval: which approval (before the deploy, or after verify), how many distinct tokens approved, how many must, and who'),
  hold: z
    .object({ kind: z.enum(['freeze', 'window']), until: z.number(), message: z.string(), reason: z.string().optional() })
    .optional()
    .describe("ready to deploy, but held by the stage's deploy windows or a freeze: why, and until when (epoch ms)"),
}) satisfies z.ZodType<StageJourneyView>;

export const journeySummary = z.object({
  id: z.string().describe("the journey's own id"),
  version: z.string(),
  digest: z.string(),
  status: journeyStatus,
  createdAt: z.number(),
  updatedAt: z.number(),
  failure: z.object({ stage: z.string(), reason: z.string() }).optional(),
  commit: stageJourneyView,
  stages: z.record(z.string(), stageStatus),
  lane: z
    .object({ stage: z.string(), ahead: z.array(z.string()), before: z.array(z.string()) })
    .optional()
    .describe('waiting for a stage with a lane: the releases in it that have not reached the last stages (ahead), and those queued before it'),
}) satisfies z.ZodType<JourneySummary>;

/** A journey with every stage's steps, as `GET /releases/:version` and the decisions answer. */
export const journeyView = journeySummary.extend({
  stageDetails: z.array(stageJourneyView.extend({ name: z.string(), url: z.string().nullable() })),
});

export const boardView = z.object({
  app: z.string(),
  stages: z.array(
    z.object({
      name: z.string(),
      after: z.array(z.string()),
      target: z.string(),
      live: releaseRef.nullable(),
      latest: stageJourneyView.nullable(),
      url: z.string().nullable(),
    }),
  ),
  journeys: z.array(journeySummary),
}) satisfies z.ZodType<Board>;

const desiredView = z.object({
  stage: z.string(),
  stable: z.object({ release: releaseRef, journeyId: z.string() }).nullable(),
  canary: z.object({ release: releaseRef, journeyId: z.string(), weight: z.number() }).nullable(),
  instances: z.number().nullable().describe('instances of the stable version (local target)'),
});

const storedEvent = z.custom<StoredEvent>().describe('a journey event: { id, journeyId, seq, at, actor (a token { kind, id, name, role } or { kind: system, reason }), type, ... }');

const version = z.string().min(1).max(64);
const stageName = z.string().min(1).max(63);
const versionParams = z.object({ version });
const stage = z.string().min(1).max(63).optional();
const comment = z.string().max(2000);
/** Who steers a release (promote, pause, resume, abort, retry, roll back) and who decides on it (approve, reject); admin does both. */
const DEPLOY: readonly Role[] = ['deployer'];
/** Promoting into a stage and approving or rejecting there: the stage's protection says which role (by default a deployer promotes, an approver decides). */
const DECIDE: readonly Role[] = ['deployer', 'approver'];

/** A person's decision on a journey's release: POST /api/v1/releases/:version/<verb>. */
const decision = <B extends z.ZodType>(verb: string, summary: string, roles: readonly Role[], body: B, action: string, reason?: RequestPath) =>
  ({
    method: 'POST',
    path: `/api/v1/releases/:version/${verb}`,
    summary,
    tag: 'journeys',
    auth: 'token',
    roles,
    params: versionParams,
    body,
    response: journeyView,
    audit: { action, links: { release: 'params.version', stage: 'body.stage' }, ...(reason ? { reason } : {}) },
  }) as const;

export const journeysApi = {
  status: defineRoute({ method: 'GET', path: '/api/v1/status', summary: 'The pipeline board: stages, live versions, journeys and gate results', tag: 'journeys', auth: 'none', response: boardView }),
  stages: defineRoute({
    method: 'GET',
    path: '/api/v1/stages',
    summary: 'What each stage should serve (the desired state, projected from the event log): release, canary and weight',
    tag: 'journeys',
    auth: 'none',
    response: z.array(desiredView),
  }),
  journey: defineRoute({ method: 'GET', path: '/api/v1/journeys/:id', summary: 'A journey by its id, with every step', tag: 'journeys', auth: 'none', params: z.object({ id: z.string().min(1).max(100) }), response: journeyView }),
  releaseEvents: defineRoute({
    method: 'GET',
    path: '/api/v1/releases/:version/events',
    summary: "The event log of a release's journey",
    tag: 'journeys',
    auth: 'none',
    params: versionParams,
    response: z.array(storedEvent),
  }),
  promote: decision('promote', 'Let the journey into a stage whose autoPromote is false; with full, promote a canary to all traffic now', DECIDE, z.strictObject({ stage, full: z.boolean().optional() }), 'stage.promote'),
  approve: decision('approve', 'Approve a stage waiting for approval, as one of the distinct tokens its protection asks for (roles, separate approver)', DECIDE, z.strictObject({ stage, comment: comment.optional() }), 'stage.approve', 'body.comment'),
  reject: decision('reject', 'Reject a stage: it rolls back and the journey fails', DECIDE, z.strictObject({ stage, comment: comment.min(1) }), 'stage.reject', 'body.comment'),
  abort: decision('abort', 'Roll back the stage the release holds, now (a canary loses its users at once)', DEPLOY, z.strictObject({ stage, reason: comment.optional() }), 'stage.abort', 'body.reason'),
  pause: decision('pause', 'Hold a canary rollout where it is', DEPLOY, z.strictObject({ stage }), 'stage.pause'),
  resume: decision('resume', 'Let a paused rollout go on (past a pause, an inconclusive analysis, or sluice pause)', DEPLOY, z.strictObject({ stage }), 'stage.resume'),
  retry: decision('retry', 'Run a failed journey again from the stages that failed', DEPLOY, z.strictObject({}), 'journey.retry'),
  rollback: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/rollback',
    summary: 'Put a stage back on the release it ran before',
    tag: 'journeys',
    auth: 'token',
    roles: DEPLOY,
    params: z.object({ stage: stageName }),
    body: z.strictObject({ reason: comment.optional() }),
    response: journeyView,
    audit: { action: 'stage.rollback', links: { stage: 'params.stage' }, reason: 'body.reason' },
  }),
  logs: defineRoute({
    method: 'GET',
    path: '/api/v1/releases/:version/stages/:stage/logs',
    summary: "A stage's step logs as text: every step, or one (?step=, a verify step by its short name too); ?tail=N only each log's last N bytes; ?follow=1 streams until the step ends",
    tag: 'journeys',
    auth: 'none',
    params: z.object({ version, stage: z.string().min(1).max(63) }),
    query: z.object({
      step: z.string().min(1).max(100).optional(),
      tail: z.string().regex(/^\d{1,9}$/, 'a number of bytes').optional(),
      follow: z.enum(['0', '1', 'true', 'false']).optional(),
    }),
    stream: 'text/plain',
  }),
  events: defineRoute({
    method: 'GET',
    path: '/api/v1/events',
    summary: 'Server-sent events of every journey event (?after=<id> or Last-Event-ID replays from there), a flags.changed frame without an id for each saved flag change ({stages, flags}), and an environments.changed frame without an id for each environment written, made or removed ({names})',
    tag: 'journeys',
    auth: 'none',
    query: z.object({ after: z.string().regex(/^\d{1,15}$/, 'an event id').optional() }),
    stream: 'text/event-stream',
  }),
};
