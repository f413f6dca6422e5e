import { own } from '../kernel/own.js';
import { isDeepStrictEqual } from 'node:util';
import type { AuditDraft } from '../audit/audit-record.js';
import { type Actor, actorLabel, systemActor } from '../kernel/actor.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
import { decide, type StepRun } from './journey-decider.js';
import type { JourneyEvent, StoredEvent } from './journey-events.js';
import { applyEvent, type JourneyState, reduceJourney } from './journey-reducer.js';
import type { Clock } from '../kernel/clock.js';
import { changedStages, type DesiredStage, desiredStages } from './desired-state.js';
import type { EffectRunner, StepOutcome } from './effect-runner.js';
import type { JourneyLog } from './ports/journey-log.js';
import { journeyLinks, systemAudit } from './journey-audit.js';

export interface ExecutorOptions {
  store: JourneyLog;
  clock: Clock;
  runner: EffectRunner;
  /** Called for every event appended, in order (feeds the live stream). */
  onEvent?: (e: StoredEvent) => void;
  /** Called when an effect or a decision throws unexpectedly. */
  onError?: (err: unknown) => void;
  /** One line for people about something the executor repaired (e.g. the desired state rebuilt from the log). */
  onNotice?: (line: string) => void;
}

interface Running {
  abort: AbortController;
  conclude: AbortController;
}

/**
 * Turns journey state into effects and effect outcomes into events.
 * Every change goes through one queue, so decisions see a consistent state; effects run concurrently outside it.
 * Wake-ups are event-driven: an outcome is appended and the next step is decided in the same turn.
 * Timers (bake, commit budget) are derived from events, so they survive restarts.
 */
export class Executor {
  private readonly journeys = new Map<string, JourneyState>();
  private readonly running = new Map<string, Running>();
  /** What each stage should serve: the projection of the journeys, as stored with the events. */
  private desired = new Map<string, DesiredStage>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: ExecutorOptions) {}

  /** Loads every journey and resumes whatever was under way. */
  async start(): Promise<void> {
    await this.load();
    await this.resume();
  }

  /** Loads every journey from the store, deciding nothing yet. */
  async load(): Promise<void> {
    const byJourney = new Map<string, StoredEvent[]>();
    for (const e of await this.o.store.loadEvents()) {
      const list = byJourney.get(e.journeyId) ?? [];
      list.push(e);
      byJourney.set(e.journeyId, list);
    }
    for (const [id, events] of byJourney) this.journeys.set(id, reduceJourney(events));
    // The stored projection is checked against the log it comes from; the log wins.
    this.desired = desiredStages(this.list());
    const stored = new Map((await this.o.store.desiredStages()).map((d) => [d.stage, d]));
    const differs = [...this.desired.values()].filter((d) => !isDeepStrictEqual(JSON.parse(JSON.stringify(d)), stored.get(d.stage)));
    if (differs.length > 0 || stored.size !== this.desired.size) {
      await this.o.store.replaceDesiredStages([...this.desired.values()]);
      this.o.onNotice?.(`desired state of ${differs.map((d) => d.stage).join(', ') || 'the stages'} rebuilt from the event log`);
    }
  }

  /** What each stage should serve now, by stage name. */
  desiredStages(): DesiredStage[] {
    return [...this.desired.values()].sort((a, b) => a.stage.localeCompare(b.stage));
  }

  /** The newest journey of a release. */
  findRelease(version: string): JourneyState | undefined {
    return this.list().findLast((j) => j.release.version === version);
  }

  /** Decides for every journey: resumes steps that were running and starts what is due. */
  resume(): Promise<void> {
    return this.enqueue(() => this.evaluateAll('resumed at start'));
  }

  /** Stops deciding. Effects under way are left to finish on their own; the next start adopts their outcome. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.queue.catch(() => {});
  }

  list(): JourneyState[] {
    return [...this.journeys.values()].sort((a, b) => a.ordinal - b.ordinal);
  }

  get(id: string): JourneyState | undefined {
    return this.journeys.get(id);
  }

  /** Step keys that are running now, or will be resumed. */
  runningKeys(): Set<string> {
    const keys = new Set<string>();
    for (const j of this.journeys.values())
      for (const s of [j.commit, ...Object.values(j.stages)])
        for (const st of Object.values(s.steps)) if (st.status === 'running') keys.add(st.key);
    return keys;
  }

  /** Picks up a journey created in the store (by the release service). */
  async track(journeyId: string): Promise<JourneyState> {
    return this.enqueue(async () => {
      const known = this.journeys.has(journeyId);
      const events = await this.o.store.loadEvents(journeyId);
      if (events.length > 0) this.journeys.set(journeyId, reduceJourney(events));
      // The release service wrote the journey's first event: the live stream hears of it here.
      if (!known) for (const e of events) this.o.onEvent?.(e);
      await this.evaluateAll('decided after the release was created');
      return this.journeys.get(journeyId)!;
    });
  }

  /**
   * Runs a command of `actor` (a person's token, or Sluice with its reason): `fn` validates against the current states
   * (and the time, from the executor's clock) and names the event to append (or nothing to do). `audit`, the record of the request, is written with the event,
   * linked to its release, journey and stage. Resolves with the journey it went to.
   */
  async command(
    fn: (journeys: JourneyState[], now: number) => { journeyId: string; event: JourneyEvent } | undefined,
    actor: Actor,
    audit?: AuditDraft,
  ): Promise<JourneyState | undefined> {
    return this.enqueue(async () => {
      let journeyId: string;
      let event: JourneyEvent;
      for (let attempt = 0; ; attempt++) {
        const c = fn(this.list(), this.o.clock.now());
        if (!c) return undefined;
        journeyId = c.journeyId;
        event = c.event;
        const j = this.journeys.get(c.journeyId);
        const records = audit && j ? [{ ...audit, links: { ...audit.links, ...journeyLinks(j, c.event) } }] : undefined;
        if (await this.append(c.journeyId, [c.event], actor, records)) break;
        if (attempt > 5) throw new SluiceError('CONFLICT', `journey ${c.journeyId} keeps changing; try again`);
      }
      await this.evaluateAll(`decided after ${event.type} by ${actorLabel(actor)}`);
      return this.journeys.get(journeyId)!;
    });
  }

  /** Decides again now; for timers driven by a test clock. */
  wake(): Promise<void> {
    return this.enqueue(() => this.evaluateAll('a timer fired'));
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private async reload(journeyId: string): Promise<void> {
    const events = await this.o.store.loadEvents(journeyId);
    if (events.length > 0) this.journeys.set(journeyId, reduceJourney(events));
  }

  /**
   * Appends events caused by `actor`, with their audit records (by default, for Sluice's own events, those
   * `systemAudit` names); false if another writer moved the journey first (it is reloaded, decide again).
   */
  private async append(journeyId: string, events: JourneyEvent[], actor: Actor, audit?: AuditDraft[]): Promise<boolean> {
    const j = this.journeys.get(journeyId);
    if (!j) throw new SluiceError('NOT_FOUND', `no journey ${journeyId}`);
    // The events' effect on the desired state is computed first (with ids above any stored one), and written with them.
    const at = this.o.clock.now();
    let provisional = j;
    for (const [i, e] of events.entries()) {
      const id = Number.MAX_SAFE_INTEGER - events.length + i;
      provisional = applyEvent(provisional, { ...e, id, journeyId, seq: j.seq + 1 + i, at } as StoredEvent);
    }
    const desired = desiredStages(this.list().map((x) => (x.id === journeyId ? provisional : x)));
    let stored: StoredEvent[];
    try {
      const records = audit ?? (actor.kind === 'system' ? systemAudit(j, events, actor) : []);
      stored = await this.o.store.appendEvents(journeyId, j.seq, events, at, actor, changedStages(this.desired, desired), records);
    } catch (e) {
      if (isSluiceError(e) && e.code === 'CONFLICT') {
        await this.reload(journeyId);
        return false;
      }
      throw e;
    }
    this.journeys.set(journeyId, stored.reduce(applyEvent, j));
    this.desired = desired;
    for (const e of stored) this.o.onEvent?.(e);
    return true;
  }

  /** Decides for every running journey; what it appends is Sluice's, for `cause`. */
  private async evaluateAll(cause: string): Promise<void> {
    if (this.stopped) return;
    let wakeAt: number | undefined;
    // Deciding for one journey can change what another may do (a stage freed): repeat until nothing changes.
    for (let round = 0, changed = true; changed && round < 50; round++) {
      changed = false;
      wakeAt = undefined;
      for (const j of this.list()) {
        if (j.status !== 'running') continue;
        const r = await this.evaluate(j.id, systemActor(cause));
        changed ||= r.changed;
        if (r.wakeAt !== undefined) wakeAt = wakeAt === undefined ? r.wakeAt : Math.min(wakeAt, r.wakeAt);
      }
    }
    this.schedule(wakeAt);
  }

  private async evaluate(journeyId: string, actor: Actor): Promise<{ changed: boolean; wakeAt?: number }> {
    let changed = false;
    for (let guard = 0; guard < 100; guard++) {
      const j = this.journeys.get(journeyId)!;
      const d = decide(j, { now: this.o.clock.now(), journeys: this.list() });
      if (d.append.length > 0) {
        await this.append(journeyId, d.append, actor);
        changed = true;
        this.cancelFinished(journeyId);
        continue;
      }
      for (const r of d.run) {
        if (this.running.has(r.key)) continue;
        if (!r.started) {
          if (!(await this.append(journeyId, [{ type: 'step.started', stage: r.stage, step: r.step, key: r.key }], actor)))
            break;
          changed = true;
        }
        this.launch(journeyId, r);
      }
      for (const key of d.conclude ?? []) this.running.get(key)?.conclude.abort();
      return { changed, ...(d.wakeAt !== undefined ? { wakeAt: d.wakeAt } : {}) };
    }
    throw new Error(`journey ${journeyId}: decisions did not settle`);
  }

  /** Aborts effects whose step was finished by a decision (e.g. the commit budget ran out). */
  private cancelFinished(journeyId: string): void {
    const j = this.journeys.get(journeyId)!;
    for (const s of [j.commit, ...Object.values(j.stages)])
      for (const st of Object.values(s.steps))
        if (st.status !== 'running') {
          this.running.get(st.key)?.abort.abort();
        }
  }

  private launch(journeyId: string, r: StepRun): void {
    const ctrl: Running = { abort: new AbortController(), conclude: new AbortController() };
    this.running.set(r.key, ctrl);
    const j = this.journeys.get(journeyId)!;
    void this.o.runner
      .run(r, j, { abort: ctrl.abort.signal, conclude: ctrl.conclude.signal })
      .catch((err): StepOutcome => {
        this.o.onError?.(err);
        return { ok: false, exitCode: null, reason: `internal error: ${(err as Error).message}` };
      })
      .then((out) =>
        this.enqueue(async () => {
          this.running.delete(r.key);
          if (this.stopped) return;
          const cur = this.journeys.get(journeyId)!;
          const st = r.stage === 'commit' ? cur.commit : own(cur.stages, r.stage);
          const step = st ? own(st.steps, r.step) : undefined;
          if (step?.status === 'running') {
            await this.append(journeyId, [
              {
                type: 'step.finished',
                stage: r.stage,
                step: r.step,
                key: r.key,
                ok: out.ok,
                exitCode: out.exitCode,
                ...(out.reason ? { reason: out.reason } : {}),
                ...(out.inconclusive ? { inconclusive: true } : {}),
                ...(out.detail !== undefined ? { detail: out.detail } : {}),
              },
            ], systemActor(`the ${r.step} step of ${r.stage} ended`));
          }
          await this.evaluateAll(`decided after the ${r.step} step of ${r.stage} ended`);
        }),
      )
      .catch((err) => this.o.onError?.(err));
  }

  private schedule(wakeAt: number | undefined): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (wakeAt === undefined || this.stopped) return;
    const delay = Math.max(0, wakeAt - this.o.clock.now());
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.enqueue(() => this.evaluateAll('a timer fired')).catch((err) => this.o.onError?.(err));
      },
      Math.min(delay, 2 ** 31 - 1),
    );
  }
}
