import assert from 'node:assert/strict';
import { decide, type StepRun } from '../../src/journeys/journey-decider.js';
import type { JourneyEvent, ReleaseCreator, StoredEvent } from '../../src/journeys/journey-events.js';
import { applyEvent, type JourneyState, reduceJourney } from '../../src/journeys/journey-reducer.js';
import { type Plan, parsePipeline } from '../../src/pipeline/pipeline.js';

/** A pipeline of the example shop's shape with these stages (and, optionally, a commit section). */
export const shopPlan = (stages: string, commit = ''): Plan =>
  parsePipeline(`app: shop
artifact: { output: dist }
${commit}
defaults:
  local: { start: node server.js }
stages:
${stages}`);

/** What a simulated effect does: finish now with this outcome, or stay running ('hold'). */
export type SimOutcome = { ok: boolean; reason?: string; inconclusive?: boolean } | 'hold';

/**
 * Drives journeys with the pure reducer and decider, the way the executor does, with effects decided by `outcome`
 * and a clock that jumps to each wake-up. Every state it builds is checked against a fresh reduction of the log.
 */
export class JourneySim {
  private nextId = 1;
  readonly logs = new Map<string, StoredEvent[]>();
  readonly states = new Map<string, JourneyState>();
  /** Keys of finished effects in order; traffic steps carry `@weight`, canary deploys ` (canary)`. */
  readonly executed: string[] = [];
  now = 1_000_000;

  constructor(
    private readonly defaultPlan: Plan,
    public outcome: (r: StepRun) => SimOutcome = () => ({ ok: true }),
  ) {}

  /** What a step held running answers when the decider asks it to wrap up (a background analysis at the end of its rollout). */
  concluded: (r: StepRun) => Exclude<SimOutcome, 'hold'> = () => ({ ok: true, reason: 'rollout complete' });

  create(version: string, plan: Plan = this.defaultPlan, createdBy?: ReleaseCreator) {
    this.append(version, { type: 'journey.created', release: { version, digest: `sha256:${version}` }, plan, ...(createdBy ? { createdBy } : {}) });
  }

  append(journeyId: string, e: JourneyEvent) {
    const list = this.logs.get(journeyId) ?? [];
    const stored = { ...e, id: this.nextId++, journeyId, seq: list.length, at: this.now } as StoredEvent;
    list.push(stored);
    this.logs.set(journeyId, list);
    const prev = this.states.get(journeyId);
    this.states.set(journeyId, prev ? applyEvent(prev, stored) : reduceJourney([stored]));
    assert.deepEqual(this.states.get(journeyId), reduceJourney(list), 'incremental state equals a fresh reduction');
  }

  command(c: { journeyId: string; event: JourneyEvent }) {
    this.append(c.journeyId, c.event);
  }

  get(id: string) {
    return this.states.get(id)!;
  }

  all() {
    return [...this.states.values()];
  }

  /** Decides and executes until nothing more happens without time passing or a hold being released. */
  settle(): number | undefined {
    for (let guard = 0; guard < 500; guard++) {
      let progressed = false;
      let wake: number | undefined;
      for (const j of this.all()) {
        if (j.status !== 'running') continue;
        const d = decide(j, { now: this.now, journeys: this.all() });
        if (d.wakeAt !== undefined) wake = wake === undefined ? d.wakeAt : Math.min(wake, d.wakeAt);
        if (d.append.length) {
          for (const e of d.append) this.append(j.id, e);
          progressed = true;
          break;
        }
        for (const r of d.run) {
          if (!r.started) {
            this.append(j.id, { type: 'step.started', stage: r.stage, step: r.step, key: r.key });
            progressed = true;
          }
          const o = d.conclude?.includes(r.key) ? this.concluded(r) : this.outcome(r);
          if (o === 'hold') continue;
          const tag = r.effect.kind === 'traffic' ? `@${r.effect.weight}` : r.effect.kind === 'deploy' && r.effect.canary ? ' (canary)' : '';
          this.executed.push(`${r.key}${tag}`);
          this.append(j.id, {
            type: 'step.finished',
            stage: r.stage,
            step: r.step,
            key: r.key,
            ok: o.ok,
            exitCode: null,
            ...(o.reason ? { reason: o.reason } : {}),
            ...(o.inconclusive ? { inconclusive: true } : {}),
          });
          progressed = true;
        }
        if (progressed) break;
      }
      if (!progressed) return wake;
    }
    assert.fail('journeys did not settle');
  }

  /** Moves time to each wake-up until nothing is scheduled. */
  run(): void {
    for (let wake = this.settle(); wake !== undefined; wake = this.settle()) this.now = Math.max(this.now, wake);
  }
}
