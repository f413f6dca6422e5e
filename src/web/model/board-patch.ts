import type { Board, JourneySummary, StageJourneyView, StepView } from '../../journeys/board.js';
import type { StoredEvent } from '../../journeys/journey-events.js';

/**
 * The board, updated at once from one journey event, until the refetch that every event also triggers replaces it
 * with the server's view. Only what an event says for sure is patched (a journey appears, a stage is entered, a step
 * starts or ends); anything else is left to the refetch. Pure: returns a new board, or the same one when nothing applies.
 */
export function patchBoard<B extends Board>(board: B, e: StoredEvent): B {
  // Spreads keep whatever else the API's board carries (a stage's url).
  return patch(board, e) as B;
}

function patch(board: Board, e: StoredEvent): Board {
  if (e.type === 'journey.created') {
    if (board.journeys.some((j) => j.id === e.journeyId)) return board;
    const stages = Object.fromEntries(board.stages.map((s) => [s.name, 'waiting' as const]));
    const summary: JourneySummary = {
      id: e.journeyId,
      version: e.release.version,
      digest: e.release.digest,
      status: 'running',
      createdAt: e.at,
      updatedAt: e.at,
      commit: { version: e.release.version, status: 'verifying', warnings: [], steps: [] },
      stages,
    };
    return { ...board, journeys: [summary, ...board.journeys] };
  }
  const journey = board.journeys.find((j) => j.id === e.journeyId);
  if (!journey) return board;
  const version = journey.version;
  const onStage = (stage: string, f: (latest: StageJourneyView) => StageJourneyView | null, status?: JourneySummary['stages'][string]): Board => {
    let changed = false;
    const stages = board.stages.map((s) => {
      if (s.name !== stage) return s;
      const base: StageJourneyView | null = e.type === 'stage.entered' ? { version, status: 'deploying', warnings: [], steps: [] } : s.latest;
      if (!base || base.version !== version) return s;
      const next = f(base);
      if (!next) return s;
      changed = true;
      return { ...s, latest: next };
    });
    const journeys = status
      ? board.journeys.map((j) => (j.id === e.journeyId ? { ...j, updatedAt: e.at, stages: { ...j.stages, [stage]: status } } : j))
      : board.journeys;
    return changed || status ? { ...board, stages, journeys } : board;
  };
  const setStep = (latest: StageJourneyView, step: StepView): StageJourneyView => {
    const i = latest.steps.findIndex((s) => s.name === step.name);
    const steps = i < 0 ? [...latest.steps, step] : latest.steps.map((s, k) => (k === i ? step : s));
    return { ...latest, steps };
  };
  switch (e.type) {
    case 'stage.entered':
      return onStage(e.stage, (l) => l, 'deploying');
    case 'step.started':
      return onStage(e.stage, (l) => setStep(l, { name: e.step, status: 'running' }));
    case 'step.finished': {
      const status: StepView['status'] = e.cancelled ? 'cancelled' : e.inconclusive ? 'inconclusive' : e.ok ? 'passed' : 'failed';
      return onStage(e.stage, (l) => {
        const old = l.steps.find((s) => s.name === e.step);
        return setStep(l, {
          name: e.step,
          status,
          ...(e.reason ? { reason: e.reason } : {}),
          ...(e.detail !== undefined ? { detail: e.detail } : {}),
          ...(old?.durationMs !== undefined ? { durationMs: old.durationMs } : {}),
        });
      });
    }
    default:
      return board;
  }
}
