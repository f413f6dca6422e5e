import type { FlagdDocument } from '../flag-model.js';

export type { FlagdDocument } from '../flag-model.js';

/** What the data plane serves for one stage. */
export interface PublishedFlagSet {
  doc: FlagdDocument;
  /** Grows by one with every saved change of the stage's flags; subscribers are told the revision they have. */
  revision: number;
  /** SHA-256 (hex) of each API key that may read this stage's flags. */
  keyHashes: string[];
}

/** Evaluations the data plane counted for one flag's variant in one stage since the last read. */
export interface EvaluationCount {
  stage: string;
  flag: string;
  /** The variant served, or `null` for an evaluation that ended in an error. */
  variant: string | null;
  count: number;
  /** Epoch ms of the last of them. */
  lastAt: number;
}

/**
 * The data plane's flag serving, as the control plane sees it: it sets each stage's flag set (kept by the data plane
 * on disk, served while the control plane is away) and reads back what was evaluated.
 */
export interface FlagServing {
  /** Replaces the stage's set; resolves once the data plane serves it (and has told its stream subscribers). */
  publish(stage: string, set: PublishedFlagSet): Promise<void>;
  /** Stops serving the stage's flags. */
  unpublish(stage: string): Promise<void>;
  /** The revision each stage is served at now (VerifyWeight's counterpart). */
  revisions(): Promise<Record<string, number>>;
  /** Counts since the last call, then zeroed. */
  takeCounts(): Promise<EvaluationCount[]>;
}
