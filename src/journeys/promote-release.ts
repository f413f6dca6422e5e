import type { AuditDraft } from '../audit/ports/audit-trail.js';
import type { Role, TokenActor } from '../kernel/actor.js';
import { SluiceError } from '../kernel/errors.js';
import { own } from '../kernel/own.js';
import type { Executor } from './executor.js';
import { promoteCommand } from './journey-commands.js';
import type { ReleaseRef } from './journey-events.js';
import type { JourneyState, StageStatus } from './journey-reducer.js';

/** Stage statuses of a journey that has the stage already: queued for it, in it, or past it. */
const HAS_STAGE: ReadonlySet<StageStatus> = new Set(['ready', 'deploying', 'rolling-out', 'paused', 'verifying', 'baking', 'awaiting-approval', 'passed']);

/**
 * Brings `release` to `stage` through its journey, on behalf of `actor`: a stage awaiting promotion gets the same
 * `stage.promoted` event as `sluice promote` (so the stage's lane, windows, freezes and protection apply); a journey
 * that has the stage already needs nothing. Anything else (the journey has not reached the stage, or ended) is refused
 * and nothing changes. Implements the environments' SourcePromoter port.
 */
export function releasePromoter(executor: Pick<Executor, 'list' | 'command'>) {
  return {
    async promote(actor: TokenActor, release: ReleaseRef, stage: string, defaultPromoters: readonly Role[], audit: readonly AuditDraft[]) {
      let outcome: 'promoted' | 'already' = 'already';
      let journeyId = '';
      const j = await executor.command(
        (all, now) => {
          const j = journeyOf(all, release);
          journeyId = j.id;
          const s = own(j.stages, stage);
          if (!s) throw new SluiceError('INVALID_STATE', `release ${release.version}'s journey has no stage ${stage} (it was made with another pipeline)`, { stage });
          if (s.status === 'awaiting-promotion') {
            outcome = 'promoted';
            return promoteCommand(j, stage, actor, now, false, defaultPromoters);
          }
          outcome = 'already';
          if (HAS_STAGE.has(s.status)) return undefined;
          if (s.status === 'waiting')
            throw new SluiceError('INVALID_STATE', `release ${release.version} cannot go to ${stage} yet: its journey has not passed the stages before it; approve again once it awaits promotion into ${stage}, or record the verdict only (--no-promote)`, { stage, status: s.status });
          throw new SluiceError('INVALID_STATE', `release ${release.version} cannot go to ${stage}: its journey is ${j.status} and the stage ${s.status}; make a new release, or record the verdict only (--no-promote)`, { stage, status: s.status });
        },
        actor,
        audit[0],
      );
      const after = j ?? executor.list().find((x) => x.id === journeyId);
      return { journeyId, stage, outcome, status: (after && own(after.stages, stage)?.status) ?? 'unknown' };
    },
  };
}

function journeyOf(all: readonly JourneyState[], release: ReleaseRef): JourneyState {
  const j = all.findLast((x) => x.release.version === release.version);
  if (!j) throw new SluiceError('NOT_FOUND', `release ${release.version} has no journey`);
  if (j.release.digest !== release.digest)
    throw new SluiceError('INVALID_STATE', `release ${release.version}'s journey carries ${j.release.digest}, not the environment's build ${release.digest}`);
  return j;
}
