import { journeySummary, stageView } from '../../../journeys/board.js';
import type { JourneyState } from '../../../journeys/journey-reducer.js';
import { SluiceError } from '../../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';

/** A journey with every stage's steps, as the API shows it. */
export function journeyView(d: Pick<ApiDeps, 'stageUrl' | 'clock'>, j: JourneyState) {
  const now = d.clock.now();
  return {
    ...journeySummary(j),
    stageDetails: j.plan.stages.map((sp) => ({
      ...stageView(j.release.version, j.stages[sp.name]!, sp, now),
      name: sp.name,
      url: d.stageUrl(sp.name) ?? null,
    })),
  };
}

/** The newest journey of a release, or NOT_FOUND. */
export function journeyOfRelease(journeys: readonly JourneyState[], version: string): JourneyState {
  const j = journeys.findLast((x) => x.release.version === version);
  if (!j) throw new SluiceError('NOT_FOUND', `no release ${version}`);
  return j;
}
