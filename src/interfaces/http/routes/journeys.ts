import { own } from '../../../kernel/own.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBoard } from '../../../journeys/board.js';
import { abortCommand, approveCommand, type CommandResult, pauseCommand, promoteCommand, rejectCommand, resumeCommand, retryCommand, rollbackCommand } from '../../../journeys/journey-commands.js';
import { BACKGROUND_ANALYSIS, canaryStepName, type JourneyState, type StageState } from '../../../journeys/journey-reducer.js';
import type { StoredEvent } from '../../../journeys/journey-events.js';
import { SluiceError } from '../../../kernel/errors.js';
import { closest } from '../../../kernel/suggest.js';
import { journeysApi } from '../contract/journeys.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';
import { shownPlan } from './system.js';
import { journeyOfRelease, journeyView } from './views.js';

const shownEvent = (e: StoredEvent): StoredEvent => (e.type === 'journey.created' ? { ...e, plan: shownPlan(e.plan) } : e);
const TERMINAL_STAGE = new Set(['passed', 'rolled-back', 'failed', 'skipped']);
const LOG_CHUNK = 64 * 1024;

export function journeysRoutes(r: Registrar, d: ApiDeps): void {
  r.route(journeysApi.status, async () => {
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

  // A person's decisions: validate the body, then let the journeys context check the state and name the event.
  const decide = async (version: string, make: (j: JourneyState) => CommandResult) => {
    const j = await d.executor.command((all) => make(journeyOfRelease(all, version)));
    return journeyView(d, j!);
  };
  const api = journeysApi;
  r.route(api.promote, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => promoteCommand(j, b.stage, c.actor, b.full ?? false)));
  r.route(api.approve, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => approveCommand(j, b.stage, c.actor, b.comment)));
  r.route(api.reject, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => rejectCommand(j, b.stage, c.actor, b.comment)));
  r.route(api.abort, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => abortCommand(j, b.stage, c.actor, b.reason ?? '')));
  r.route(api.pause, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => pauseCommand(j, b.stage, c.actor)));
  r.route(api.resume, ({ params: p, body: b }, { caller: c }) => decide(p.version, (j) => resumeCommand(j, b.stage, c.actor)));
  r.route(api.retry, ({ params: p }, { caller: c }) =>
    decide(p.version, (j) => {
      const command = retryCommand(j, c.actor);
      // Only after the state allows a retry: a journey that could not be retried anyway says so first.
      d.releases.requireArtifact(j.release);
      return command;
    }),
  );
  r.route(journeysApi.rollback, async ({ params, body }, { caller }) => {
    const j = await d.executor.command((all) => rollbackCommand(all, params.stage, caller.actor, body.reason ?? ''));
    return journeyView(d, j!);
  });

  r.route(journeysApi.logs, async ({ params, query }, { reply }) => {
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
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    // A stage that never ran says so; followed, it says so only once it is clear it never will.
    if (st.stepOrder.length === 0 && (!follow || TERMINAL_STAGE.has(st.status) || j.status !== 'running')) {
      res.end(`── ${params.stage} has not run for ${params.version}: it is ${st.status} ──\n`);
      return;
    }
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    const offsets = new Map<string, number>();
    // Each step's log from where it was left, a chunk at a time, waiting for the client to take each one.
    const flush = async (step: string, withHeader: boolean) => {
      const key = stageOf(d.executor.get(j.id)!)?.steps[step]?.key;
      if (!key) return;
      let off = offsets.get(step) ?? -1;
      if (off === -1) {
        if (withHeader) res.write(`── ${step} ──\n`);
        off = 0;
      }
      for (;;) {
        const chunk = d.logs.readLog(key, off, LOG_CHUNK);
        if (!chunk || chunk.data.length === 0 || closed) break;
        off += chunk.data.length;
        if (!res.write(chunk.data)) await new Promise((ok) => res.once('drain', ok));
      }
      offsets.set(step, off);
    };
    for (;;) {
      const cur = d.executor.get(j.id)!;
      const s = stageOf(cur)!;
      for (const step of wanted ? [wanted] : s.stepOrder) await flush(step, !wanted);
      const done = TERMINAL_STAGE.has(s.status) || cur.status !== 'running';
      const stepDone = wanted ? own(s.steps, wanted) !== undefined && own(s.steps, wanted)!.status !== 'running' : false;
      if (!follow || closed || done || stepDone) break;
      await sleep(150);
    }
    if (follow && !closed) for (const step of wanted ? [wanted] : stageOf(d.executor.get(j.id)!)!.stepOrder) await flush(step, !wanted);
    res.end();
  });

  r.route(journeysApi.events, async ({ query }, { req, reply }) => {
    const header = req.headers['last-event-id'];
    const from = query.after ?? (typeof header === 'string' && /^\d{1,15}$/.test(header) ? header : undefined);
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
    let ping: NodeJS.Timeout | undefined = undefined;
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
    });
    if (from !== undefined) {
      for (let after = Number(from); ; ) {
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
    ping = setInterval(() => res.write(': ping\n\n'), 15_000);
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
