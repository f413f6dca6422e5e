import { z } from 'zod';
import { FLAG_LIMITS } from '../../../flags/flag-model.js';
import { rampConfigSchema } from '../../../flags/flags-file.js';
import { defineRoute } from './route.js';

const stageParam = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a stage name');
const keyParam = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a flag key (letters, digits, "-", "_", ".")');
const json = z.unknown();
/** Why a change is made, and what it relates to: on every change, in its audit record and history. */
const why = {
  reason: z.string().max(1000).optional().describe('why (kept in the history and the audit trail)'),
  release: z.string().min(1).max(128).optional().describe('the release the change relates to'),
  journey: z.string().min(1).max(128).optional().describe('the journey the change relates to'),
};
const variants = z.record(z.string().min(1).max(FLAG_LIMITS.keyLength), json).describe('values by variant name, all of the flag type');
const flagType = z.enum(['boolean', 'string', 'number', 'object']);
const rampVerdict = z.object({
  at: z.number(),
  step: z.number(),
  percent: z.number(),
  outcome: z.enum(['pass', 'fail', 'inconclusive', 'nodata']),
  score: z.number().nullable(),
  reason: z.string(),
});
const rampRun = z.object({
  status: z.enum(['running', 'paused', 'regressed', 'completed', 'aborted']),
  step: z.number().describe('index into the plan\'s steps'),
  percent: z.number().describe('the treatment percentage served now'),
  startedAt: z.number(),
  stepStartedAt: z.number().describe('the wait counts from here'),
  holds: z.number().describe('judgements of this step without a verdict so far'),
  verdicts: z.array(rampVerdict).describe('the newest judgements'),
  reason: z.string().optional().describe('why it is paused, regressed or aborted'),
  before: z.object({ defaultVariant: z.string(), targeting: json.optional() }),
});
const rampPlan = z.object({
  treatment: z.string(),
  control: z.string(),
  steps: z.array(z.number()),
  waitMs: z.number(),
  compare: z.array(json).describe('the metrics judged, as an analysis\' compare'),
  judge: z.object({
    confidenceLevel: z.number().optional(),
    tolerance: z.number().optional(),
    passThreshold: z.number().optional(),
    marginalThreshold: z.number().optional(),
    groupWeights: z.record(z.string(), z.number()).optional(),
  }),
  bucketBy: z.string(),
  variantKey: z.string().optional(),
  onRegression: z.enum(['zero', 'pause']),
  maxHolds: z.number(),
});
const rampView = z.object({
  stage: z.string(),
  flag: z.string(),
  plan: rampPlan,
  run: rampRun.optional(),
  revision: z.number(),
  measurement: z.string().describe('how the variants are measured: the router by header or cookie, or the provider\'s reports'),
  nextJudgementAt: z.number().nullable(),
});
const rampChanged = z.object({ revisions: z.record(z.string(), z.number()), ramp: rampView });
const stageView = z.object({
  state: z.enum(['ENABLED', 'DISABLED']),
  defaultVariant: z.string(),
  targeting: json.optional(),
  configured: z.boolean(),
  changedAt: z.number(),
  fromFile: z.boolean().describe('as the flags file last set it'),
  lastEvaluatedAt: z.number().nullable().describe('the last evaluation the data plane counted (epoch ms); null: never'),
  evaluations: z.record(z.string(), z.number()).describe('evaluations per variant; errors under (error)'),
  ramp: z.object({ plan: rampPlan, run: rampRun.optional() }).optional().describe('a guarded ramp of the flag in the stage (ADR 23)'),
  rampInfo: z.object({ measurement: z.string(), nextJudgementAt: z.number().nullable() }).optional(),
});
const flagView = z.object({
  key: z.string(),
  type: flagType,
  variants: z.record(z.string(), json),
  description: z.string(),
  owner: z.string(),
  changedAt: z.number(),
  stages: z.record(z.string(), stageView),
});
const revisions = z.object({ revisions: z.record(z.string(), z.number()).describe('the new revision of each stage changed') });
const flagdDocument = z.object({ flags: z.record(z.string(), json) }).passthrough().describe('a flagd flag set');
const event = z.object({
  id: z.number(),
  at: z.number(),
  type: z.string(),
  stage: z.string().optional(),
  flag: z.string().optional(),
  data: json,
  actor: json,
  reason: z.string(),
  links: z.record(z.string(), z.string()),
  revisions: z.record(z.string(), z.number()),
});
const keyView = z.object({ id: z.string(), stage: z.string(), name: z.string(), createdAt: z.number(), revokedAt: z.number().optional() });
/** The largest flag set plus room for the request around it. */
const DOCUMENT_BODY = FLAG_LIMITS.documentBytes + 64 * 1024;
/** Who may change flags at all; the service then asks what deploying to each stage touched needs (ADR 20). */
const CHANGERS = ['deployer', 'approver'] as const;

/** Feature flags: declarations, per-stage config, segments, history, the flags file, read keys and the stale report. */

/** A ramp's pause, resume or abort: the same route but for its verb. */
function rampCommand(verb: 'pause' | 'resume' | 'abort', summary: string) {
  return defineRoute({
    method: 'POST',
    path: `/api/v1/stages/:stage/flags/:key/ramp/${verb}`,
    summary,
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam, key: keyParam }),
    body: z.strictObject({ ...why }),
    response: rampChanged,
    audit: { action: `flag.ramp.${verb}`, links: { stage: 'params.stage', flag: 'params.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  });
}
export const flagsApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/flags',
    summary: 'Every flag with its state in each stage, and when it was last evaluated there',
    tag: 'flags',
    auth: 'none',
    response: z.array(flagView),
  }),
  show: defineRoute({
    method: 'GET',
    path: '/api/v1/flags/:key',
    summary: 'One flag with its state in each stage, and when it was last evaluated there',
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ key: keyParam }),
    response: flagView,
  }),
  create: defineRoute({
    method: 'POST',
    path: '/api/v1/flags',
    summary: 'Declare a flag (off in every stage until set)',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    body: z.strictObject({ key: keyParam, type: flagType, variants, description: z.string().max(1000).default(''), owner: z.string().max(1000).default(''), ...why }),
    response: revisions,
    audit: { action: 'flag.define', links: { flag: 'body.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  update: defineRoute({
    method: 'POST',
    path: '/api/v1/flags/:key/update',
    summary: "Change a flag's declaration (type, variants, description, owner); refused if a stage's flags would be invalid",
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ key: keyParam }),
    body: z.strictObject({
      type: flagType.optional(),
      variants: variants.optional(),
      description: z.string().max(1000).optional(),
      owner: z.string().max(1000).optional(),
      ...why,
    }),
    response: revisions,
    audit: { action: 'flag.update', links: { flag: 'params.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  remove: defineRoute({
    method: 'POST',
    path: '/api/v1/flags/:key/remove',
    summary: 'Remove a flag from every stage',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ key: keyParam }),
    body: z.strictObject({ ...why }),
    response: revisions,
    audit: { action: 'flag.remove', links: { flag: 'params.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  set: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flags/:key',
    summary: 'Change a flag in one stage: on/off, default variant, targeting (flagd JSONLogic; null removes it)',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam, key: keyParam }),
    body: z.strictObject({ state: z.enum(['ENABLED', 'DISABLED']).optional(), defaultVariant: z.string().min(1).max(FLAG_LIMITS.keyLength).optional(), targeting: json.optional(), ...why }),
    response: revisions,
    audit: { action: 'flag.set', links: { stage: 'params.stage', flag: 'params.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  segments: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/flag-segments',
    summary: "A stage's segments: named rules its flags use as {\"$ref\": name}",
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ stage: stageParam }),
    response: z.record(z.string(), json),
  }),
  setSegment: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flag-segments/:name',
    summary: "Set a stage's segment (rule null: remove it); refused if the stage's flags would be invalid",
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam, name: keyParam }),
    body: z.strictObject({ rule: json.describe('flagd JSONLogic; null removes the segment'), ...why }),
    response: revisions,
    audit: { action: 'segment.set', links: { stage: 'params.stage', segment: 'params.name', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  copy: defineRoute({
    method: 'POST',
    path: '/api/v1/flags/copy',
    summary: "Copy a stage's flag rules (all, or those named) and segments to another stage",
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    body: z.strictObject({ from: stageParam, to: stageParam, flags: z.array(keyParam).max(FLAG_LIMITS.flags).optional(), ...why }),
    response: revisions,
    audit: { action: 'stage.copy', links: { stage: 'body.to', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  history: defineRoute({
    method: 'GET',
    path: '/api/v1/flag-history',
    summary: 'Changes of flags, newest last: who, when, why, and the release or journey',
    tag: 'flags',
    auth: 'none',
    query: z.strictObject({
      flag: keyParam.optional(),
      stage: stageParam.optional(),
      limit: z.string().regex(/^\d{1,4}$/, 'a number').optional().describe('at most 1000 (default 100)'),
    }),
    response: z.array(event),
  }),
  importFlagd: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flags/import',
    summary: "Read a flagd flag set into a stage (its flags declared and configured, $evaluators as the stage's segments)",
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam }),
    body: z.strictObject({ document: flagdDocument, ...why }),
    bodyLimit: DOCUMENT_BODY,
    response: revisions,
    audit: { action: 'flags.import', links: { stage: 'params.stage', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  exportFlagd: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/flags/export',
    summary: "A stage's flag set as flagd JSON (what the data plane serves)",
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ stage: stageParam }),
    response: flagdDocument,
  }),
  apply: defineRoute({
    method: 'POST',
    path: '/api/v1/flags/apply',
    summary: 'Apply the flags file (sluice.flags.yaml): entries changed since it was last applied override run-time changes (ADR 20)',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    body: z.strictObject({ text: z.string().max(FLAG_LIMITS.documentBytes), file: z.string().min(1).max(256).default('sluice.flags.yaml'), ...why }),
    bodyLimit: DOCUMENT_BODY,
    response: z.object({ changed: z.array(z.string()), unchanged: z.number(), revisions: z.record(z.string(), z.number()) }),
    audit: { action: 'flags.apply', links: { release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  stale: defineRoute({
    method: 'GET',
    path: '/api/v1/flag-stale',
    summary: 'Flags fully on, or untouched, in every stage for N days, and flags never evaluated',
    tag: 'flags',
    auth: 'none',
    query: z.strictObject({ days: z.string().regex(/^\d{1,4}$/, 'a number of days').optional().describe('default 30') }),
    response: z.array(
      z.object({
        key: z.string(),
        owner: z.string(),
        reasons: z.array(z.enum(['fully-on', 'untouched', 'never-evaluated'])),
        lastChangedAt: z.number(),
        lastEvaluatedAt: z.record(z.string(), z.number().nullable()),
      }),
    ),
  }),
  createKey: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flag-keys',
    summary: "Make a key apps read the stage's flags with (OFREP); shown once, kept as a hash",
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam }),
    body: z.strictObject({ name: z.string().min(1).max(64), ...why }),
    response: keyView.extend({ key: z.string() }),
    audit: { action: 'flag-key.create', links: { stage: 'params.stage', 'flag-key': 'body.name' }, reason: 'body.reason' },
  }),
  listKeys: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/flag-keys',
    summary: "A stage's read keys (never the keys themselves)",
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ stage: stageParam }),
    response: z.array(keyView),
  }),
  revokeKey: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flag-keys/:id/revoke',
    summary: 'Revoke a read key: the data plane refuses it from then on',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam, id: z.string().uuid() }),
    body: z.strictObject({ ...why }),
    response: z.object({ stage: z.string(), id: z.string() }),
    audit: { action: 'flag-key.revoke', links: { stage: 'params.stage' }, reason: 'body.reason' },
  }),
  rampStatus: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/flags/:key/ramp',
    summary: "A flag's guarded ramp in a stage: its plan, step, percentage, next judgement and last verdicts",
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ stage: stageParam, key: keyParam }),
    response: rampView,
  }),
  rampSeries: defineRoute({
    method: 'GET',
    path: '/api/v1/stages/:stage/flags/:key/ramp/series',
    summary:
      "A guarded ramp's metrics, one value a second with traffic, for the treatment's users (canary) and the control's (baseline): over the current step while it runs or is paused, else over the last 600 s",
    tag: 'flags',
    auth: 'none',
    params: z.strictObject({ stage: stageParam, key: keyParam }),
    response: z.object({
      fromMs: z.number(),
      toMs: z.number(),
      metrics: z.array(
        z.object({
          name: z.string(),
          metric: z.enum(['error-rate', 'latency-mean']),
          direction: z.enum(['increase', 'decrease', 'either']).optional(),
          critical: z.boolean().optional(),
          canary: z.array(z.number()),
          baseline: z.array(z.number()),
        }),
      ),
    }),
  }),
  rampStart: defineRoute({
    method: 'POST',
    path: '/api/v1/stages/:stage/flags/:key/ramp/start',
    summary: 'Start a guarded ramp: the plan given, or the one the flags file declares for the stage; the flag must be on, with no targeting or a plain split',
    tag: 'flags',
    auth: 'token',
    roles: CHANGERS,
    params: z.strictObject({ stage: stageParam, key: keyParam }),
    body: z.strictObject({ plan: rampConfigSchema.optional().describe('as under stages.<stage>.ramp in sluice.flags.yaml'), ...why }),
    response: rampChanged,
    audit: { action: 'flag.ramp.start', links: { stage: 'params.stage', flag: 'params.key', release: 'body.release', journey: 'body.journey' }, reason: 'body.reason' },
  }),
  rampPause: rampCommand('pause', 'Pause a running ramp: it keeps its percentage and is not judged until resumed'),
  rampResume: rampCommand('resume', "Resume a paused ramp: its step's wait starts again"),
  rampAbort: rampCommand('abort', 'Abort a ramp: the flag gets back the default variant and targeting it had before'),
};
