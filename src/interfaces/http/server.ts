import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { TokenService } from '../../auth/token-service.js';
import { buildBoard, journeySummary, stageView } from '../../journeys/board.js';
import { isSluiceError, SluiceError } from '../../kernel/errors.js';
import {
  abortCommand,
  approveCommand,
  type CommandResult,
  pauseCommand,
  promoteCommand,
  rejectCommand,
  resumeCommand,
  retryCommand,
  rollbackCommand,
} from '../../journeys/journey-commands.js';
import type { StoredEvent } from '../../journeys/journey-events.js';
import type { JourneyState, StageState } from '../../journeys/journey-reducer.js';
import { judgeParsed, judgeRequestSchema } from '../../rollout/judge-request.js';
import { redactUrl } from '../../notifications/notification.js';
import type { Plan } from '../../pipeline/pipeline.js';
import { pipelineJsonSchema } from '../../pipeline/pipeline-schema.js';
import { stepDir } from '../../journeys/step-runner.js';
import type { Executor } from '../../journeys/executor.js';
import type { ReleaseService } from '../../releases/release-service.js';
import type { Store } from '../../adapters/store-sql/store.js';
import { type ErrorBody, HTTP_STATUS } from './errors.js';
import type { EventBus } from '../../journeys/event-bus.js';

export interface ApiDeps {
  store: Store;
  executor: Executor;
  releases: ReleaseService;
  tokens: TokenService;
  bus: EventBus;
  runsRoot: string;
  /** Target URL per stage, for the board. */
  stageUrl: (stage: string) => string | undefined;
  version: string;
  /** The router's counters in the Prometheus text format. */
  metricsText: () => string;
}

const releaseBody = z.strictObject({
  version: z.string().min(1).max(64),
  artifact: z.string().min(1).optional(),
  sourceRef: z.string().max(200).optional(),
});
const promoteBody = z.strictObject({ stage: z.string().min(1).optional(), full: z.boolean().optional() });
const stageBody = z.strictObject({ stage: z.string().min(1).optional() });
const emptyBody = z.strictObject({});
const abortBody = z.strictObject({ stage: z.string().min(1).optional(), reason: z.string().max(2000).optional() });
const approveBody = z.strictObject({ stage: z.string().min(1).optional(), comment: z.string().max(2000).optional() });
const rejectBody = z.strictObject({ stage: z.string().min(1).optional(), comment: z.string().min(1).max(2000) });
const rollbackBody = z.strictObject({ reason: z.string().max(2000).optional() });
const tokenBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ -, at most 64'),
});

interface RouteDoc {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  body?: z.ZodType;
  auth: boolean;
}

/** Every route, documented once; the OpenAPI document is generated from this table. */
const ROUTES: RouteDoc[] = [
  { method: 'GET', url: '/api/v1/health', summary: 'Liveness', auth: false },
  { method: 'GET', url: '/metrics', summary: 'Router metrics per stage and version, in the Prometheus text format', auth: false },
  {
    method: 'GET',
    url: '/api/v1/status',
    summary: 'The pipeline board: stages, live versions, journeys and gate results',
    auth: false,
  },
  { method: 'GET', url: '/api/v1/pipeline', summary: 'The pipeline file as resolved now', auth: false },
  { method: 'GET', url: '/api/v1/pipeline/schema', summary: 'JSON Schema of sluice.yaml', auth: false },
  { method: 'GET', url: '/api/v1/releases', summary: 'Releases with their journey status', auth: false },
  {
    method: 'POST',
    url: '/api/v1/releases',
    summary: 'Build (or register) the artifact once and start the journey',
    body: releaseBody,
    auth: true,
  },
  {
    method: 'GET',
    url: '/api/v1/releases/{version}',
    summary: 'A release and its journey, with every step',
    auth: false,
  },
  { method: 'GET', url: '/api/v1/releases/{version}/events', summary: "A journey's event log", auth: false },
  {
    method: 'GET',
    url: '/api/v1/notifications',
    summary: 'Notifications sent, waiting or given up on, newest first (?limit=, default 100); webhook paths are not shown',
    auth: false,
  },
  {
    method: 'POST',
    url: '/api/v1/releases/{version}/promote',
    summary: 'Let the journey into a stage whose autoPromote is false',
    body: promoteBody,
    auth: true,
  },
  {
    method: 'POST',
    url: '/api/v1/releases/{version}/approve',
    summary: 'Approve a stage waiting for approval',
    body: approveBody,
    auth: true,
  },
  {
    method: 'POST',
    url: '/api/v1/releases/{version}/reject',
    summary: 'Reject a stage: it rolls back and the journey fails',
    body: rejectBody,
    auth: true,
  },
  {
    method: 'POST',
    url: '/api/v1/stages/{stage}/rollback',
    summary: 'Put a stage back on the release it ran before',
    body: rollbackBody,
    auth: true,
  },
  {
    method: 'GET',
    url: '/api/v1/releases/{version}/stages/{stage}/logs',
    summary: "A stage's step logs (text); ?step= one step, ?follow=1 streams",
    auth: false,
  },
  {
    method: 'GET',
    url: '/api/v1/events',
    summary: 'Server-sent events of every journey event; ?after=<id> or Last-Event-ID replays',
    auth: false,
  },
  { method: 'POST', url: '/api/v1/judge', summary: 'Judge recorded canary and baseline series (same input as `sluice judge`)', body: judgeRequestSchema, auth: true },
  { method: 'POST', url: '/api/v1/tokens', summary: 'Create an API token (shown once)', body: tokenBody, auth: true },
];

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      responses: {
        '200': { description: 'OK' },
        '4XX': {
          description: 'Error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
    if (r.auth) op.security = [{ bearer: [] }];
    if (r.body)
      op.requestBody = { required: true, content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input', unrepresentable: 'any' }) } } };
    const params = [...r.url.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (params.length) op.parameters = params;
    paths[r.url] = { ...(paths[r.url] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice API', version },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', enum: Object.keys(HTTP_STATUS) },
            message: { type: 'string' },
            details: {},
          },
        },
      },
    },
  };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: i.path.join('.') || '(body)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  throw new SluiceError(
    'BAD_REQUEST',
    `invalid request body: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
  );
}

/** A plan as the API shows it: webhook addresses without their path (an incoming webhook's path is its secret). */
function shownPlan(p: Plan): Plan {
  return p.notify?.length ? { ...p, notify: p.notify.map((n) => ({ ...n, url: redactUrl(n.url) })) } : p;
}
const shownEvent = (e: StoredEvent): StoredEvent => (e.type === 'journey.created' ? { ...e, plan: shownPlan(e.plan) } : e);

const TERMINAL_STAGE = new Set(['passed', 'rolled-back', 'failed', 'skipped']);

export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  const actors = new WeakMap<FastifyRequest, string>();

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isSluiceError(err)) {
      const body: ErrorBody = {
        code: err.code,
        message: err.message,
        ...(err.details !== undefined ? { details: err.details } : {}),
      };
      return reply.status(HTTP_STATUS[err.code]).send(body);
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return reply
        .status(e.statusCode)
        .send({ code: 'BAD_REQUEST', message: e.message ?? 'bad request' } satisfies ErrorBody);
    return reply.status(500).send({ code: 'INTERNAL', message: e.message ?? 'internal error' } satisfies ErrorBody);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } satisfies ErrorBody),
  );

  app.addHook('onRequest', async (req) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const rec = m ? await d.tokens.verify(m[1]!) : undefined;
    if (!rec)
      throw new SluiceError(
        'UNAUTHORIZED',
        m
          ? 'the bearer token is not valid'
          : 'this call changes state and needs an Authorization: Bearer <token> header',
      );
    actors.set(req, rec.name);
  });
  const actor = (req: FastifyRequest) => actors.get(req) ?? 'unknown';

  const journeyOf = (version: string): JourneyState => {
    const j = d.executor.get(version);
    if (!j) throw new SluiceError('NOT_FOUND', `no release ${version}`);
    return j;
  };
  const journeyView = (j: JourneyState) => ({
    ...journeySummary(j),
    stageDetails: j.plan.stages.map((sp) => ({
      ...stageView(j.release.version, j.stages[sp.name]!),
      name: sp.name,
      url: d.stageUrl(sp.name) ?? null,
    })),
  });

  app.get('/api/openapi.json', async () => openApiDocument(d.version));
  app.get('/api/v1/health', async () => ({ ok: true, version: d.version }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(d.metricsText()));
  app.get('/api/v1/pipeline', async () => shownPlan(d.releases.currentPlan()));
  app.get('/api/v1/pipeline/schema', async () => pipelineJsonSchema());
  app.get('/api/v1/status', async () => {
    const journeys = d.executor.list();
    let plan = journeys.at(-1)?.plan;
    try {
      plan = d.releases.currentPlan();
    } catch (e) {
      if (!plan) throw e;
    }
    const board = buildBoard(plan, journeys);
    return { ...board, stages: board.stages.map((s) => ({ ...s, url: d.stageUrl(s.name) ?? null })) };
  });
  app.get('/api/v1/releases', async () => {
    const releases = await d.store.listReleases();
    return releases.map((r) => {
      const j = d.executor.get(r.version);
      return { ...r, status: j?.status ?? 'unknown', ...(j?.failure ? { failure: j.failure } : {}) };
    });
  });
  app.post('/api/v1/releases', async (req, reply) => {
    const b = parseBody(releaseBody, req.body);
    const out = await d.releases.create({
      version: b.version,
      ...(b.artifact ? { artifactPath: b.artifact } : {}),
      ...(b.sourceRef ? { sourceRef: b.sourceRef } : {}),
    });
    return reply
      .status(out.created ? 201 : 200)
      .send({ release: out.release, created: out.created, journey: out.journey ? journeyView(out.journey) : null });
  });
  app.get<{ Params: { version: string } }>('/api/v1/releases/:version', async (req) => {
    const j = journeyOf(req.params.version);
    return { release: await d.store.getRelease(j.id), journey: journeyView(j) };
  });
  app.get<{ Params: { version: string } }>('/api/v1/releases/:version/events', async (req) => {
    journeyOf(req.params.version);
    return (await d.store.loadEvents(req.params.version)).map(shownEvent);
  });
  app.get<{ Querystring: { limit?: string } }>('/api/v1/notifications', async (req) => {
    const raw = req.query.limit ?? '100';
    const limit = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(limit >= 1 && limit <= 1000)) throw new SluiceError('BAD_REQUEST', `limit must be a whole number from 1 to 1000, not "${raw}"`);
    const list = await d.store.listNotifications(limit);
    // nextAt means something only while a notification waits; the rest is the time of a claim.
    return {
      notifications: list.map(({ nextAt, ...n }) => ({
        ...n,
        ...(n.status === 'pending' ? { nextAt } : {}),
        target: { kind: n.target.kind, url: redactUrl(n.target.url) },
      })),
    };
  });
  // A person's decisions on a journey: validate the body, then let the core check the state and name the event.
  const decision = <B>(
    verb: string,
    schema: z.ZodType<B>,
    make: (j: JourneyState, body: B, by: string) => CommandResult,
  ) =>
    app.post<{ Params: { version: string } }>(`/api/v1/releases/:version/${verb}`, async (req) => {
      const body = parseBody(schema, req.body);
      const j = await d.executor.command((all) => make(find(all, req.params.version), body, actor(req)));
      return journeyView(j);
    });
  decision('promote', promoteBody, (j, b, by) => promoteCommand(j, b.stage, by, b.full ?? false));
  decision('abort', abortBody, (j, b, by) => abortCommand(j, b.stage, by, b.reason ?? ''));
  decision('pause', stageBody, (j, b, by) => pauseCommand(j, b.stage, by));
  decision('retry', emptyBody, (j, _b, by) => retryCommand(j, by));
  decision('resume', stageBody, (j, b, by) => resumeCommand(j, b.stage, by));
  decision('approve', approveBody, (j, b, by) => approveCommand(j, b.stage, by, b.comment));
  decision('reject', rejectBody, (j, b, by) => rejectCommand(j, b.stage, by, b.comment));
  app.post<{ Params: { stage: string } }>('/api/v1/stages/:stage/rollback', async (req) => {
    const b = parseBody(rollbackBody, req.body);
    const j = await d.executor.command((all) => rollbackCommand(all, req.params.stage, actor(req), b.reason ?? ''));
    return journeyView(j);
  });
  app.post('/api/v1/judge', async (req) => judgeParsed(req.body, 'request body'));
  app.post('/api/v1/tokens', async (req, reply) => {
    const b = parseBody(tokenBody, req.body);
    const { token, record } = await d.tokens.create(b.name);
    return reply.status(201).send({ token, id: record.id, name: record.name, createdAt: record.createdAt });
  });

  app.get<{ Params: { version: string; stage: string }; Querystring: { step?: string; follow?: string } }>(
    '/api/v1/releases/:version/stages/:stage/logs',
    async (req, reply) => {
      const j = journeyOf(req.params.version);
      const stageName = req.params.stage;
      const stageOf = (x: JourneyState): StageState | undefined =>
        stageName === 'commit' ? x.commit : x.stages[stageName];
      if (!stageOf(j)) throw new SluiceError('NOT_FOUND', `release ${j.id} has no stage "${stageName}"`);
      const wanted = req.query.step;
      if (wanted && !isKnownStep(j, stageName, wanted))
        throw new SluiceError('NOT_FOUND', `stage ${stageName} of ${j.id} has no step "${wanted}"`);
      const follow = req.query.follow === '1' || req.query.follow === 'true';
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const offsets = new Map<string, number>();
      const flush = (step: string, withHeader: boolean) => {
        const key = stageOf(d.executor.get(j.id)!)?.steps[step]?.key;
        if (!key) return;
        const path = join(stepDir(d.runsRoot, key), 'log');
        if (!existsSync(path)) return;
        const size = statSync(path).size;
        let off = offsets.get(step) ?? -1;
        if (off === -1) {
          if (withHeader) res.write(`── ${step} ──\n`);
          off = 0;
        }
        if (size > off) {
          const fd = openSync(path, 'r');
          const buf = Buffer.alloc(size - off);
          readSync(fd, buf, 0, buf.length, off);
          closeSync(fd);
          res.write(buf);
          off = size;
        }
        offsets.set(step, off);
      };
      for (;;) {
        const cur = d.executor.get(j.id)!;
        const st = stageOf(cur)!;
        const steps = wanted ? [wanted] : st.stepOrder;
        for (const s of steps) flush(s, !wanted);
        const done = TERMINAL_STAGE.has(st.status) || cur.status !== 'running';
        const stepDone = wanted ? st.steps[wanted] !== undefined && st.steps[wanted]!.status !== 'running' : false;
        if (!follow || closed || done || stepDone) break;
        await sleep(150);
      }
      if (follow) for (const s of wanted ? [wanted] : stageOf(d.executor.get(j.id)!)!.stepOrder) flush(s, !wanted);
      res.end();
    },
  );

  app.get<{ Querystring: { after?: string } }>('/api/v1/events', async (req, reply) => {
    const lastId = Number(req.query.after ?? req.headers['last-event-id'] ?? Number.NaN);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (e: StoredEvent) => res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(shownEvent(e))}\n\n`);
    let sentUpTo = 0;
    const buffered: StoredEvent[] = [];
    let replaying = true;
    const unsubscribe = d.bus.subscribe((e) => {
      if (replaying) buffered.push(e);
      else if (e.id > sentUpTo) {
        sentUpTo = e.id;
        send(e);
      }
    });
    if (Number.isFinite(lastId)) {
      for (let after = lastId; ; ) {
        const batch = await d.store.eventsAfter(after, 500);
        for (const e of batch) send(e);
        if (batch.length > 0) sentUpTo = batch.at(-1)!.id;
        if (batch.length < 500) break;
        after = sentUpTo;
      }
    }
    replaying = false;
    for (const e of buffered) if (e.id > sentUpTo) send(e);
    res.write(': connected\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
    });
  });

  return app;
}

function find(all: JourneyState[], version: string): JourneyState {
  const j = all.find((x) => x.id === version);
  if (!j) throw new SluiceError('NOT_FOUND', `no release ${version}`);
  return j;
}

function isKnownStep(j: JourneyState, stage: string, step: string): boolean {
  if (stage === 'commit') return j.plan.commit.steps.some((s) => s.name === step);
  const sp = j.plan.stages.find((s) => s.name === stage);
  return (
    !!sp && (['deploy', 'rollback', 'bake-check'].includes(step) || sp.verify.some((v) => `verify:${v.name}` === step))
  );
}
