import { judgeJsonText, type JudgeResponse } from '../judge-request.js';

export type { JudgeResponse } from '../judge-request.js';
/** The work a runner does, wherever it runs it (re-exported for the adapters, which see only ports). */
export { judgeJsonText };

/** The judge's limits: each one refused with TOO_LARGE. */
export interface JudgeLimits {
  /** The most values (canary, baseline and threshold measurements) in one request. */
  maxValues: number;
  /** How long one request may be judged for, in ms. */
  timeoutMs: number;
}

/** The limits when none are set: 100,000 values, judged within 5 s (the pairwise estimate of two 5,000-value series takes about 2 s). */
export const DEFAULT_JUDGE_LIMITS: JudgeLimits = { maxValues: 100_000, timeoutMs: 5_000 };

/**
 * Judges requests away from the caller's event loop, so that a large request holds up neither the API nor the engine.
 * `judge` takes the request as JSON text (parsing and validating it is part of the work) and answers what
 * `judgeJsonText` would; past a limit it rejects with TOO_LARGE, with too many requests waiting with BUSY.
 */
export interface JudgeRunner {
  judge(text: string, where: string): Promise<JudgeResponse>;
  close(): Promise<void>;
}

/** A runner on the caller's own thread, for tests and tools that judge one request and exit; it has no time budget. */
export function inThreadJudge(limits: Pick<JudgeLimits, 'maxValues'>): JudgeRunner {
  return {
    judge: async (text, where) => judgeJsonText(text, where, limits.maxValues),
    close: async () => {},
  };
}
