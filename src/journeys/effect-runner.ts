import type { StepRun } from './journey-decider.js';
import type { JourneyState } from './journey-reducer.js';

export interface StepOutcome {
  ok: boolean;
  exitCode: number | null;
  reason?: string;
  inconclusive?: boolean;
  detail?: unknown;
}

/** Signals the executor gives an effect under way. */
export interface EffectSignals {
  /** Stop now: the step's outcome no longer matters (it was finished by a decision, or the stage rolls back). */
  abort: AbortSignal;
  /** Wrap up and give an outcome now (a background analysis whose rollout is over). */
  conclude: AbortSignal;
}

/** How the executor runs effects. The step runner implements it; tests and benchmarks plug in their own. */
export interface EffectRunner {
  run(run: StepRun, journey: JourneyState, signals: EffectSignals): Promise<StepOutcome>;
}
