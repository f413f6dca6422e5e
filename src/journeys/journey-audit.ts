import type { AuditDraft, AuditLinks } from '../audit/audit-record.js';
import type { Actor } from '../kernel/actor.js';
import type { JourneyEvent } from './journey-events.js';
import type { JourneyState } from './journey-reducer.js';

/** The links of a record about a journey: its release, its id, and the stage the event is about, if any. */
export function journeyLinks(j: Pick<JourneyState, 'id' | 'release'>, e: JourneyEvent): AuditLinks {
  return { release: j.release.version, journey: j.id, ...('stage' in e ? { stage: e.stage } : {}) };
}

/**
 * The audit records of what Sluice itself changes, among the events it appends to journey `j` (as it was before
 * them):
 * - `stage.deploy`: the journey took a stage (stage.entered);
 * - `stage.rollback`: a stage rolls back without anyone asking (its verification, analysis, bake or guard failed);
 * - `stage.guard-tripped`: the data plane's guard cut a canary off;
 * - `journey.superseded`: a newer release took the next stage first.
 * The rest (steps starting and ending, bake timers) is the journey's own log, not a change of what runs where.
 */
export function systemAudit(j: JourneyState, events: readonly JourneyEvent[], actor: Actor): AuditDraft[] {
  const out: AuditDraft[] = [];
  const draft = (e: JourneyEvent, action: string, reason: string): AuditDraft => ({ actor, action, reason, links: journeyLinks(j, e), outcome: 'done' });
  for (const e of events)
    switch (e.type) {
      case 'stage.entered':
        out.push(draft(e, 'stage.deploy', `${j.release.version} replaces ${e.previous?.version ?? 'nothing'}`));
        break;
      case 'step.started': {
        const s = j.stages[e.stage];
        if (e.step === 'rollback' && s && !s.rollbackRequest)
          out.push(draft(e, 'stage.rollback', `back to ${s.previous?.version ?? 'nothing'}: ${s.failure ?? 'the stage failed'}`));
        break;
      }
      case 'stage.guard-tripped':
        out.push(draft(e, 'stage.guard-tripped', e.reason));
        break;
      case 'journey.superseded':
        out.push(draft(e, 'journey.superseded', `release ${e.by} took the next stage first`));
        break;
      default:
        break;
    }
  return out;
}
