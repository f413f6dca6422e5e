/**
 * Feature controls: the model every part of the flags context shares.
 *
 * A flag is declared once (key, type, variants, description, owner) and configured per stage (on/off, default
 * variant, targeting). A stage's configuration compiles to one flagd flag set (`FlagdDocument`), which is what the
 * data plane serves and what `sluice flags import|export` reads and writes. Targeting is flagd's JSONLogic, with its
 * custom operators (`fractional`, `sem_ver`, `starts_with`, `ends_with`) and `$ref` to shared rules (`$evaluators`,
 * which Sluice calls segments).
 */
import type { FlagRamp } from './flag-ramp.js';

/** The type a flag's variants all share. */
export type FlagType = 'boolean' | 'string' | 'number' | 'object';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type FlagValue = boolean | number | string | { [k: string]: JsonValue } | JsonValue[];

/** Context attributes an app sends with an evaluation (`targetingKey` is the user's stable id). */
export type EvaluationContext = Record<string, unknown>;

/** One flag of a flagd flag set. */
export interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, FlagValue>;
  /** The variant when targeting matches nothing (or there is no targeting). `null` defers to the caller's default. */
  defaultVariant?: string | null;
  /** JSONLogic that returns a variant name (or null: fall back to the default variant). */
  targeting?: unknown;
  metadata?: Record<string, string | number | boolean>;
}

/** A flag's own type: its default variant's value's (its first variant's when it defers to the caller). */
export function flagTypeOf(flag: FlagdFlag): FlagType {
  const d = flag.defaultVariant;
  const v = d != null && Object.hasOwn(flag.variants, d) ? flag.variants[d] : Object.values(flag.variants)[0];
  return typeof v === 'boolean' ? 'boolean' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : 'object';
}

/** A value of each type, as the default of an evaluation whose variant is what is wanted (never served as a value). */
export const ZERO_OF: Readonly<Record<FlagType, FlagValue>> = { boolean: false, string: '', number: 0, object: {} };

/** A flagd flag set: what one stage serves. */
export interface FlagdDocument {
  $schema?: string;
  flags: Record<string, FlagdFlag>;
  /** Shared rules, referenced from targeting as `{ "$ref": "name" }`. */
  $evaluators?: Record<string, unknown>;
  metadata?: Record<string, string | number | boolean>;
}

/**
 * Why an evaluation gave its value (OpenFeature's reasons).
 * - STATIC: the flag has no targeting; its default variant.
 * - TARGETING_MATCH: a targeting rule chose the variant.
 * - SPLIT: a fractional split chose the variant.
 * - DEFAULT: targeting ran and matched nothing; the default variant.
 * - DISABLED: the flag is off in this stage; the caller's default value.
 * - ERROR: something was wrong (see the error code); the caller's default value.
 */
export const REASONS = {
  STATIC: 'STATIC',
  TARGETING_MATCH: 'TARGETING_MATCH',
  SPLIT: 'SPLIT',
  DEFAULT: 'DEFAULT',
  DISABLED: 'DISABLED',
  ERROR: 'ERROR',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/**
 * OpenFeature's error codes.
 * - FLAG_NOT_FOUND: no flag with that key in the stage's set.
 * - TYPE_MISMATCH: the flag's value is not of the type asked for.
 * - PARSE_ERROR: the flag's configuration could not be read (never reached for a set that compiled).
 * - TARGETING_KEY_MISSING: a rule needs `targetingKey` and the context has none.
 * - INVALID_CONTEXT: the context is not an object of attributes.
 * - GENERAL: anything else (a rule that failed while running).
 */
export type EvaluationErrorCode = 'FLAG_NOT_FOUND' | 'TYPE_MISMATCH' | 'PARSE_ERROR' | 'TARGETING_KEY_MISSING' | 'INVALID_CONTEXT' | 'GENERAL';

/** What an evaluation returns. It never throws: an error returns the caller's default, reason ERROR and a code. */
export interface Resolution<T = FlagValue> {
  value: T;
  variant?: string;
  reason: Reason;
  errorCode?: EvaluationErrorCode;
  errorMessage?: string;
  flagMetadata: Record<string, string | number | boolean>;
}

/** One thing wrong with a flag set, at a JSON pointer into it (e.g. `/flags/new-checkout/targeting/if/0`). */
export interface FlagProblem {
  path: string;
  message: string;
}

/** A flag set compiled once per change: evaluation never parses or walks raw JSON again. */
export interface CompiledFlagSet {
  readonly doc: FlagdDocument;
  /** A strong validator of `doc` (its content hash), for ETag / If-None-Match. */
  readonly etag: string;
  keys(): string[];
  /**
   * Evaluates one flag. `type` is the type the caller asks for (TYPE_MISMATCH when the variant's value is not of it);
   * `defaultValue` is returned on DISABLED and on every error.
   */
  evaluate<T extends FlagValue>(key: string, type: FlagType, defaultValue: T, context: EvaluationContext, now?: number): Resolution<T>;
  /** Evaluates every enabled flag with its own type (OFREP bulk evaluation). */
  evaluateAll(context: EvaluationContext, now?: number): Array<Resolution & { key: string }>;
}

export type CompileResult = { ok: true; set: CompiledFlagSet } | { ok: false; problems: FlagProblem[] };

/** A flag as declared: the same in every stage. */
export interface FlagDefinition {
  key: string;
  type: FlagType;
  variants: Record<string, FlagValue>;
  description: string;
  owner: string;
}

/** A flag's configuration in one stage. */
export interface StageFlag {
  state: 'ENABLED' | 'DISABLED';
  defaultVariant: string;
  /** flagd JSONLogic; absent: every user gets the default variant. */
  targeting?: unknown;
  /** A guarded ramp of the flag in this stage: its plan and, once started, its run (see flag-ramp.ts, ADR 23). */
  ramp?: FlagRamp;
}

/** One stage's flags: each declared flag's configuration, and the stage's segments (reusable rules, `$evaluators`). */
export interface StageFlags {
  flags: Record<string, StageFlag>;
  segments: Record<string, unknown>;
}

/** Limits on what a flag set may hold; past them a save is refused (TOO_LARGE) and nothing changes. */
export const FLAG_LIMITS = {
  flags: 5000,
  variantsPerFlag: 100,
  keyLength: 128,
  /** Bytes of a whole flag set's JSON. */
  documentBytes: 4 * 1024 * 1024,
  /** Depth of nested rules, counting through `$ref`. */
  ruleDepth: 64,
} as const;

/** Flag keys: letters, digits, `-`, `_` and `.`, starting with a letter or digit. */
export const FLAG_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
