import type { CompileResult, FlagdDocument } from '../flag-model.js';

// The data plane compiles and evaluates what it is given; it sees the flags context only through this port, so these
// types are re-exported here (an adapter imports ports, never a context's other files).
export { FLAG_LIMITS, flagTypeOf, ZERO_OF } from '../flag-model.js';
export type { CompiledFlagSet, CompileResult, EvaluationContext, FlagdDocument, FlagType, FlagValue, Resolution } from '../flag-model.js';

/** Compiles a flagd flag set once per change (the flags context's `compileFlagSet`, wired in by main/). */
export type FlagCompiler = (doc: unknown) => CompileResult;

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
