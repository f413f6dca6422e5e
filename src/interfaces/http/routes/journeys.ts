import { own } from '../../../kernel/own.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBoard } from '../../../journeys/board.js';
import { abortCommand, approveCommand, type CommandResult, pauseCommand, promoteCommand, rejectCommand, resumeCommand, retryCommand, rollbackCommand } from '../../../journeys/journey-commands.js';
import { BACKGROUND_ANALYSIS, canaryStepName, type JourneyState, type StageState } from '../../../journeys/journey-reducer.js';
import type { FlagsChanged } from '../../../flags/flag-service.js';
import type { StoredEvent } from '../../../journeys/journey-events.js';
import { SluiceError } from '../../../kernel/errors.js';
import { closest } from '../../../kernel/suggest.js';
import { journeysApi } from '../contract/journeys.js';
import type { ApiDeps } from '../deps.js';
import { type AuditSlip, type Caller, type Registrar, tokenOf } from '../registrar.js';
import { StreamGate, StreamWriter, TokenWatch } from '../streams.js';
import { shownPlan } from './system.js';
import { journeyOfRelease, journeyView } from './views.js';

const shownEvent = (e: StoredEvent): StoredEvent => (e.type === 'journey.created' ? { ...e, plan: shownPlan(e.plan) } : e);
const TERMINAL_STAGE = new Set(['passed', 'rolled-back', 'failed', 'skipped']);
const LOG_CHUNK = 64 * 1024;

export function journeysRoutes(r: Registrar, d: ApiDeps): void {
  // One count for every stream: followed logs and event streams hold the same things (a socket, a place in memory).
  const gate = new StreamGate(d.streams);
  // A stream opened with a token ends when the token stops working; the client hears why.
  const tokens = new TokenWatch(() => d.tokens.states());
  r.route(journeysApi.status, async () => {
    const journeys = d.executor.list();
    let plan = journeys.at(-1)?.plan;
    try {
      plan = d.releases.currentPlan();
    } catch (e) {
      if (!plan) throw e;
    }
    const board = buildBoard(plan, journeys, d.clock.now());
    return { ...board, stages: board.stages.map((s) => ({ ...s, url: d.stageUrl(s.name) ?? null })) };
  });
  r.route(journeysApi.stages, async () =>
    d.executor.desiredStages().map((x) => ({ stage: x.stage, stable: x.stable, canary: x.canary, instances: x.plan.local?.instances ?? null })),
  );
  r.route(journeysApi.journey, async ({ params }) => {
    const j = d.executor.get(params.id);
    if (!j) throw new SluiceError('NOT_FOUND', `no journey ${params.id}`);
    return journeyView(d, j);
  });
  r.route(journeysApi.releaseEvents, async ({ params }) => {
    const j = journeyOfRelease(d.executor.list(), params.version);
    return (await d.store.loadEvents(j.id)).map(shownEvent);
  });

  // A person's decisions: validate the body, then let the journeys context check the state and name the event. The
  // event names the caller's token, and the request's audit record is written with it.
  const decide = async (version: string, ctx: { caller: Caller; audit: AuditSlip }, make: (j: JourneyState, now: number) => CommandResult) => {
    const j = await d.executor.command((all, now) => make(journeyOfRelease(all, version), now), tokenOf(ctx.caller), ctx.audit.take());
    return journeyView(d, j!);
  };
  const api = journeysApi;
  r.route(api.promote, ({ params: p, body: b }, x) =>
    decide(p.version, x, (j, now) => promoteCommand(j, b.stage, tokenOf(x.caller), now, b.full ?? false)),
  );
  r.route(api.approve, ({ params: p, body: b }, x) => decide(p.version, x, (j) => approveCommand(j, b.stage, tokenOf(x.caller), b.comment)));
  r.route(api.reject, ({ params: p, body: b }, x) => decide(p.version, x, (j) => rejectCommand(j, b.stage, tokenOf(x.caller), b.comment)));
  r.route(api.abort, ({ params: p, body: b }, x) => decide(p.version, x, (j) => abortCommand(j, b.stage, x.caller.actor, b.reason ?? '')));
  r.route(api.pause, ({ params: p, body: b }, x) => decide(p.version, x, (j) => pauseCommand(j, b.stage, x.caller.actor)));
  r.route(api.resume, ({ params: p, body: b }, x) => decide(p.version, x, (j) => resumeCommand(j, b.stage, x.caller.actor)));
  r.route(api.retry, ({ params: p }, x) =>
    decide(p.version, x, (j) => {
      const command = retryCommand(j, x.caller.actor);
      // Only after the state allows a retry: a journey that could not be retried anyway says so first.
      d.releases.requireArtifact(j.release);
      return command;
    }),
  );
  r.route(journeysApi.rollback, async ({ params, body }, { caller, audit }) => {
    const j = await d.executor.command((all) => rollbackCommand(all, params.stage, caller.actor, body.reason ?? ''), tokenOf(caller), audit.take());
    return journeyView(d, j!);
  });

  r.route(journeysApi.logs, async ({ params, query }, { reply, caller }) => {
    const j = journeyOfRelease(d.executor.list(), params.version);
    const stageOf = (x: JourneyState): StageState | undefined => (params.stage === 'commit' ? x.commit : own(x.stages, params.stage));
    const st = stageOf(j);
    if (!st) {
      const stages = ['commit', ...j.plan.stages.map((s) => s.name)];
      const hint = closest(params.stage, stages);
      throw new SluiceError('NOT_FOUND', `release ${params.version} has no stage "${params.stage}"${hint ? ` (did you mean "${hint}"?)` : ''}; its stages: ${stages.join(', ')}`);
    }
    const wanted = query.step === undefined ? undefined : resolveStep(j, params.stage, st, query.step);
    const follow = query.follow === '1' || query.follow === 'true';
    const tail = query.tail === undefined ? undefined : Number(query.tail);
    // A stage that never ran says so; followed, it says so only once it is clear it never will.
    if (st.stepOrder.length === 0 && (!follow || TERMINAL_STAGE.has(st.status) || j.status !== 'running')) {
      reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(`── ${params.stage} has not run for ${params.version}: it is ${st.status} ──\n`);
      return;
    }
    const leave = gate.enter(`following the logs of ${params.stage}`);
    reply.hijack();
    const res = reply.raw;
    res.on('close', leave);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    const out = new StreamWriter(res, d.streams);
    if (caller.token) res.on('close', tokens.watch(caller.token.id, (why) => out.finish(`── the stream ends: ${why} ──\n`)));
    const offsets = new Map<string, number>();
    // Each step's log from where it was left, a chunk at a time, waiting for the client to take each one: a log is
    // never read whole, and a client that stops reading is dropped after slowClientMs.
    const flush = async (step: string, withHeader: boolean) => {
      const stage = stageOf(d.executor.get(j.id)!);
      const key = stage ? own(stage.steps, step)?.key : undefined;
      if (!key) return;
      let off = offsets.get(step) ?? -1;
      if (off === -1) {
        if (withHeader && !(await out.writeAndWait(`── ${step} ──\n`))) return;
        // With ?tail=, only the end of what is there now (and, followed, what comes after).
        off = tail === undefined ? 0 : Math.max(0, (d.logs.readLog(key, 0, 0)?.size ?? 0) - tail);
      }
      for (;;) {
        const chunk = d.logs.readLog(key, off, LOG_CHUNK);
        if (!chunk || chunk.data.length === 0 || out.closed) break;
        off += chunk.data.length;
        if (!(await out.writeAndWait(chunk.data))) break;
      }
      offsets.set(step, off);
    };
    const closed = () => out.closed;
    for (;;) {
      const cur = d.executor.get(j.id)!;
      const s = stageOf(cur)!;
      for (const step of wanted ? [wanted] : s.stepOrder) await flush(step, !wanted);
      const done = TERMINAL_STAGE.has(s.status) || cur.status !== 'running';
      const stepDone = wanted ? own(s.steps, wanted) !== undefined && own(s.steps, wanted)!.status !== 'running' : false;
      if (!follow || closed() || done || stepDone) break;
      await sleep(150);
    }
    if (follow && !closed()) for (const step of wanted ? [wanted] : stageOf(d.executor.get(j.id)!)!.stepOrder) await flush(step, !wanted);
    if (!closed()) res.end();
  });

  r.route(journeysApi.events, async ({ query }, { req, reply, caller }) => {
    const header = req.headers['last-event-id'];
    if (header !== undefined && !(typeof header === 'string' && /^\d{1,15}$/.test(header)))
      throw new SluiceError('BAD_REQUEST', `the Last-Event-ID header must be an event id (digits), got ${JSON.stringify(header).slice(0, 80)}`);
    const from = query.after ?? header;
    const leave = gate.enter('an event stream');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const out = new StreamWriter(res, d.streams);
    if (caller.token)
      res.on(
        'close',
        tokens.watch(caller.token.id, (why) => out.finish(`event: stream.end\ndata: ${JSON.stringify({ code: 'UNAUTHORIZED', message: `the stream ends: ${why}` })}\n\n`)),
      );
    const frame = (e: StoredEvent) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(shownEvent(e))}\n\n`;
    let sentUpTo = 0;
    // Events published while the log is replayed wait here; if more come than this holds, the replay reads them from
    // the log instead, so a slow replay holds no more than this in memory.
    const buffered: StoredEvent[] = [];
    let overflow = false;
    let replaying = true;
    const unsubscribe = d.bus.subscribe((e) => {
      if (replaying) {
        if (buffered.length < 1000) buffered.push(e);
        else overflow = true;
      } else if (e.id > sentUpTo) {
        sentUpTo = e.id;
        out.write(frame(e));
      }
    });
    // A saved flag change, as a frame with no id (the flags' events count apart from the journeys'; a client that
    // reconnects refetches its flag views anyway). Those during the replay are sent, merged, after it.
    const flagsFrame = (c: FlagsChanged) => `event: flags.changed\ndata: ${JSON.stringify(c)}\n\n`;
    const heldFlags: FlagsChanged = { stages: [], flags: [] };
    const unsubscribeFlags = d.flagChanges.subscribe((c) => {
      if (!replaying) out.write(flagsFrame(c));
      else {
        // Bounded by the pipeline's stages and the flags there are.
        heldFlags.stages = [...new Set([...heldFlags.stages, ...c.stages])];
        heldFlags.flags = [...new Set([...heldFlags.flags, ...c.flags])];
      }
    });
    // Environments written, made or removed (ADR 27): like the flags' frames, no id; names during the replay are merged.
    const envFrame = (names: string[]) => `event: environments.changed\ndata: ${JSON.stringify({ names })}\n\n`;
    const heldEnvs = new Set<string>();
    const unsubscribeEnvs = d.environmentChanges.subscribe((c) => {
      if (!replaying) out.write(envFrame(c.names));
      // Bounded by the environments there may be (ENV_LIMITS.count) and those removed meanwhile.
      else if (heldEnvs.size < 1000) for (const n of c.names) heldEnvs.add(n);
    });
    let ping: NodeJS.Timeout | undefined = undefined;
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      unsubscribeFlags();
      unsubscribeEnvs();
      leave();
    });
    if (from !== undefined) {
      // The replay waits for the client to take each batch: a client that reads nothing holds one batch at most.
      for (let after = Number(from); !out.closed; ) {
        const batch = await d.store.eventsAfter(after, 500);
        for (const e of batch) if (!(await out.writeAndWait(frame(e)))) break;
        if (batch.length > 0) sentUpTo = batch.at(-1)!.id;
        if (batch.length < 500 && !overflow) break;
        if (batch.length < 500) {
          overflow = false;
          buffered.length = 0;
        }
        after = sentUpTo;
      }
    }
    if (out.closed) return;
    replaying = false;
    for (const e of buffered) if (e.id > sentUpTo) out.write(frame(e));
    buffered.length = 0;
    if (heldFlags.stages.length > 0) out.write(flagsFrame(heldFlags));
    if (heldEnvs.size > 0) out.write(envFrame([...heldEnvs]));
    out.write(': connected\n\n');
    ping = setInterval(() => out.write(': ping\n\n'), 15_000);
  });
}

/**
 * The step a name means in a stage: a step that ran, or one the stage's plan has (deploy, verify:<name> or just the
 * verify step's name, canary:<n>, canary:background, promote, bake-check, rollback, a commit step).
 */
function resolveStep(j: JourneyState, stage: string, st: StageState, name: string): string {
  const sp = j.plan.stages.find((s) => s.name === stage);
  const planned =
    stage === 'commit'
      ? j.plan.commit.steps.map((c) => c.name)
      : [
        'deploy',
        ...(sp?.verify.map((v) => `verify:${v.name}`) ?? []),
        ...(sp?.canary ? [...sp.canary.steps.map((_, i) => canaryStepName(i)), ...(sp.canary.background ? [BACKGROUND_ANALYSIS] : []), 'promote'] : []),
        ...(sp && sp.bakeMs > 0 ? ['bake-check'] : []),
        'rollback',
      ];
  const known = [...new Set([...st.stepOrder, ...planned])];
  for (const candidate of [name, `verify:${name}`]) if (known.includes(candidate)) return candidate;
  const hint = closest(name, [...known, ...known.filter((k) => k.startsWith('verify:')).map((k) => k.slice(7))]);
  throw new SluiceError('NOT_FOUND', `stage ${stage} of ${j.release.version} has no step "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; its steps: ${known.join(', ')}`);
}
