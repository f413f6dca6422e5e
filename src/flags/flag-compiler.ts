/**
 * A flagd flag set, validated as a whole and compiled once per change into something that evaluates without
 * looking at JSON again.
 *
 * Evaluation gives exactly what @openfeature/flagd-core 4.0.1 gives for the same set and context (value, variant,
 * reason, error code, metadata); `flag-differential.test.ts` holds Sluice to that. Two things follow flagd-core
 * although OpenFeature has a word for them: a `fractional` split reports TARGETING_MATCH (flagd never says SPLIT),
 * and a flag whose targeting gives nothing and that has no default variant answers the caller's default with reason
 * DEFAULT and no variant.
 */
import { createHash } from 'node:crypto';
import { murmur3Prefix } from '../kernel/murmur3.js';
import { closest } from '../kernel/suggest.js';
import {
  FLAG_KEY,
  FLAG_LIMITS,
  REASONS,
  type CompileResult,
  type CompiledFlagSet,
  type EvaluationContext,
  type FlagdDocument,
  type FlagProblem,
  type FlagType,
  type FlagValue,
  type Resolution,
} from './flag-model.js';
import { parseVariantKey, VARIANT_KEY_METADATA } from './ports/variant-metrics.js';
import { compileRule, pointer, ruleCompilation, type Rule, type RuleEnv } from './rule-compiler.js';

type Metadata = Record<string, string | number | boolean>;

/** One flag, ready to evaluate: every successful answer is built once, here, and handed out as is. */
interface CompiledFlag {
  key: string;
  enabled: boolean;
  type: FlagType;
  metadata: Readonly<Metadata>;
  env: RuleEnv;
  targeting: Rule | undefined;
  /** STATIC (no targeting) or DEFAULT (targeting gave nothing): the default variant, or the caller's default if none. */
  fallback: Resolution | undefined;
  /** TARGETING_MATCH answers by variant name (none without targeting, which never matches). */
  matches: ReadonlyMap<string, Resolution>;
}

const TOP_LEVEL = ['$schema', 'flags', '$evaluators', 'metadata'];
const FLAG_FIELDS = ['state', 'variants', 'defaultVariant', 'targeting', 'metadata'];
const EMPTY: EvaluationContext = Object.freeze({});
const NO_MATCHES: ReadonlyMap<string, Resolution> = new Map();

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether an object has no own enumerable keys, found without listing them (as Object.keys would, once per flag). */
function isEmpty(o: Record<string, unknown>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return false;
  return true;
}

function typeOfValue(v: unknown): FlagType | undefined {
  const t = typeof v;
  if (t === 'boolean' || t === 'string' || t === 'number') return t;
  if (v !== null && t === 'object') return 'object';
  return undefined;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function checkMetadata(problems: FlagProblem[], value: unknown, path: string): void {
  if (value === undefined) return;
  if (!isObject(value)) {
    problems.push({ path, message: 'metadata is an object of strings, numbers and booleans' });
    return;
  }
  for (const k in value) {
    const v = value[k];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      problems.push({ path: pointer(path, k), message: `metadata values are strings, numbers or booleans, not ${v === null ? 'null' : typeof v}` });
    }
  }
}

function unknownField(problems: FlagProblem[], path: string, key: string, known: string[]): void {
  const hint = closest(key, known);
  problems.push({ path: pointer(path, key), message: `unknown field "${key}"` + (hint ? `; did you mean "${hint}"?` : `; known: ${known.join(', ')}`) });
}

/**
 * Validates a flagd document and compiles it. Every problem is reported, each at its JSON pointer; a set with any
 * problem is refused as a whole (the caller keeps serving its last good set).
 */
export function compileFlagSet(doc: unknown): CompileResult {
  const problems: FlagProblem[] = [];
  if (!isObject(doc)) return { ok: false, problems: [{ path: '', message: 'a flag set is a JSON object with "flags"' }] };
  let json: string;
  try {
    json = JSON.stringify(doc);
  } catch (e) {
    return { ok: false, problems: [{ path: '', message: `a flag set is plain JSON (${(e as Error).message})` }] };
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only near the limit.
  const bytes = json.length * 3 <= FLAG_LIMITS.documentBytes ? json.length : utf8Length(json);
  if (bytes > FLAG_LIMITS.documentBytes) {
    return { ok: false, problems: [{ path: '', message: `the flag set is ${bytes} bytes, more than the limit of ${FLAG_LIMITS.documentBytes}` }] };
  }
  for (const key of Object.keys(doc)) if (!TOP_LEVEL.includes(key)) unknownField(problems, '', key, TOP_LEVEL);
  if (doc.$schema !== undefined && typeof doc.$schema !== 'string') problems.push({ path: '/$schema', message: '$schema is a URL string' });
  checkMetadata(problems, doc.metadata, '/metadata');
  const evaluators = doc.$evaluators === undefined ? {} : doc.$evaluators;
  if (!isObject(evaluators)) problems.push({ path: '/$evaluators', message: '$evaluators is an object of named rules' });
  const flags = doc.flags;
  if (!isObject(flags)) {
    problems.push({ path: '/flags', message: flags === undefined ? 'a flag set needs "flags", an object of flags by key' : '"flags" is an object of flags by key' });
    return { ok: false, problems };
  }
  const keys = Object.keys(flags);
  if (keys.length > FLAG_LIMITS.flags) {
    problems.push({ path: '/flags', message: `${keys.length} flags, more than the limit of ${FLAG_LIMITS.flags}` });
    return { ok: false, problems };
  }
  const c = ruleCompilation(isObject(evaluators) ? evaluators : {}, FLAG_LIMITS.ruleDepth);
  if (isObject(evaluators)) {
    for (const name of Object.keys(evaluators)) {
      if (name.length === 0 || name.length > FLAG_LIMITS.keyLength) {
        problems.push({ path: pointer('/$evaluators', name), message: `a shared rule's name is 1 to ${FLAG_LIMITS.keyLength} characters` });
      } else compileRule(c, { $ref: name }, pointer('/$evaluators', name));
    }
  }
  const setMetadata: Metadata = isObject(doc.metadata) ? (doc.metadata as Metadata) : {};
  const compiled: CompiledFlag[] = [];
  for (const key of keys) {
    const path = pointer('/flags', key);
    if (!FLAG_KEY.test(key)) {
      problems.push({ path, message: `flag key "${key.slice(0, 140)}" must be 1 to 128 letters, digits, "-", "_" or ".", starting with a letter or digit` });
    }
    const flag = flags[key];
    if (!isObject(flag)) {
      problems.push({ path, message: 'a flag is an object with state, variants and defaultVariant' });
      continue;
    }
    const f = compileFlag(key, flag, path, setMetadata, problems, c);
    if (f) compiled.push(f);
  }
  problems.push(...c.problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, set: new FlagSet(doc as unknown as FlagdDocument, json, compiled, Object.freeze({ ...setMetadata })) };
}

function compileFlag(key: string, flag: Record<string, unknown>, path: string, setMetadata: Metadata, problems: FlagProblem[],
  c: ReturnType<typeof ruleCompilation>): CompiledFlag | undefined {
  const before = problems.length + c.problems.length;
  for (const field in flag) if (Object.hasOwn(flag, field) && !FLAG_FIELDS.includes(field)) unknownField(problems, path, field, FLAG_FIELDS);
  const state = flag.state;
  if (state !== 'ENABLED' && state !== 'DISABLED') {
    problems.push({ path: pointer(path, 'state'), message: `state is "ENABLED" or "DISABLED", not ${JSON.stringify(state) ?? 'missing'}` });
  }
  const variants = flag.variants;
  let type: FlagType | undefined;
  // A list, not a Set: there are at most 100, and what is looked up in them is a literal in a rule or the default variant.
  const names = isObject(variants) ? Object.keys(variants) : [];
  if (names.length === 0) {
    problems.push({ path: pointer(path, 'variants'), message: 'variants is a non-empty object of values by variant name' });
  } else {
    if (names.length > FLAG_LIMITS.variantsPerFlag) {
      problems.push({ path: pointer(path, 'variants'), message: `${names.length} variants, more than the limit of ${FLAG_LIMITS.variantsPerFlag}` });
    }
    for (const name of names) {
      const t = typeOfValue((variants as Record<string, unknown>)[name]);
      if (name.length === 0 || name.length > FLAG_LIMITS.keyLength) {
        problems.push({ path: variantPath(path, name), message: `a variant's name is 1 to ${FLAG_LIMITS.keyLength} characters` });
      }
      if (!t) {
        problems.push({ path: variantPath(path, name), message: 'a variant\'s value is a boolean, string, number or object, not null' });
      } else if (!type) type = t;
      else if (t !== type) {
        problems.push({ path: variantPath(path, name), message: `variants all have one type: this one is ${t}, the first is ${type}` });
      }
    }
  }
  const dv = flag.defaultVariant;
  if (dv !== undefined && dv !== null) {
    if (typeof dv !== 'string' || !names.includes(dv)) {
      const hint = typeof dv === 'string' ? closest(dv, names) : undefined;
      problems.push({
        path: pointer(path, 'defaultVariant'),
        message: `defaultVariant ${JSON.stringify(dv)} is not one of the variants (${names.join(', ')})` + (hint ? `; did you mean "${hint}"?` : '') +
          '; use null to answer with the caller\'s default',
      });
    }
  }
  checkMetadata(problems, flag.metadata, pointer(path, 'metadata'));
  // A misspelt variant key would leave the flag's variants uncounted without a word: it is refused where it is.
  const variantKey = isObject(flag.metadata) ? (flag.metadata as Metadata)[VARIANT_KEY_METADATA] : undefined;
  if (variantKey !== undefined && !parseVariantKey(variantKey))
    problems.push({
      path: pointer(pointer(path, 'metadata'), VARIANT_KEY_METADATA),
      message: `${VARIANT_KEY_METADATA} names where the router reads a request's targeting key: "header:<name>" or "cookie:<name>" (got ${JSON.stringify(variantKey).slice(0, 140)})`,
    });
  const t = flag.targeting;
  let targeting: Rule | undefined;
  if (t !== undefined && t !== null && !(isObject(t) && isEmpty(t))) {
    if (!isObject(t)) {
      problems.push({ path: pointer(path, 'targeting'), message: 'targeting is a JSONLogic rule object, e.g. {"if": [...]}' });
    } else {
      targeting = compileRule(c, t, pointer(path, 'targeting'), names).rule;
    }
  }
  if (problems.length + c.problems.length > before || !type) return undefined;
  const metadata = Object.freeze({ ...setMetadata, ...(flag.metadata as Metadata | undefined) });
  const defaultVariant = typeof dv === 'string' && dv !== '' ? dv : undefined;
  const values = variants as Record<string, FlagValue>;
  let matches = NO_MATCHES;
  if (targeting) {
    const byName = new Map<string, Resolution>();
    for (const name of names) byName.set(name, answer(values, name, REASONS.TARGETING_MATCH, metadata));
    matches = byName;
  }
  const fallbackReason = targeting ? REASONS.DEFAULT : REASONS.STATIC;
  const fallback = defaultVariant !== undefined ? answer(values, defaultVariant, fallbackReason, metadata) : undefined;
  return {
    key,
    enabled: state === 'ENABLED',
    type,
    metadata,
    env: { flagKey: key, keyHash: murmur3Prefix(key), now: undefined },
    targeting,
    fallback,
    matches,
  };
}

function variantPath(path: string, name: string): string {
  return pointer(pointer(path, 'variants'), name);
}

/** One of a flag's answers, shared by every evaluation that gives it: frozen, so no caller can change it for the others. */
function answer(values: Record<string, FlagValue>, variant: string, reason: Resolution['reason'], metadata: Readonly<Metadata>): Resolution {
  return Object.freeze({ value: values[variant]!, reason, variant, flagMetadata: metadata });
}

function failure<T>(value: T, code: NonNullable<Resolution['errorCode']>, message: string, metadata: Readonly<Metadata>): Resolution<T> {
  return { value, reason: REASONS.ERROR, errorCode: code, errorMessage: message, flagMetadata: metadata };
}

class FlagSet implements CompiledFlagSet {
  readonly doc: FlagdDocument;
  private readonly flags: Map<string, CompiledFlag>;
  private readonly order: CompiledFlag[];
  private readonly metadata: Readonly<Metadata>;
  private json: string | undefined;
  private hash: string | undefined;

  constructor(doc: FlagdDocument, json: string, flags: CompiledFlag[], metadata: Readonly<Metadata>) {
    this.doc = doc;
    this.json = json;
    this.order = flags;
    this.flags = new Map();
    for (const f of flags) this.flags.set(f.key, f);
    this.metadata = metadata;
  }

  /** SHA-256 of the set's JSON (hex, 128 bits), computed when first asked for: applying a change need not wait for it. */
  get etag(): string {
    if (this.hash === undefined) {
      this.hash = createHash('sha256').update(this.json!).digest('hex').slice(0, 32);
      this.json = undefined;
    }
    return this.hash;
  }

  keys(): string[] {
    return this.order.map((f) => f.key);
  }

  evaluate<T extends FlagValue>(key: string, type: FlagType, defaultValue: T, context: EvaluationContext, now?: number): Resolution<T> {
    const f = this.flags.get(key);
    if (f === undefined) return failure(defaultValue, 'FLAG_NOT_FOUND', `flag '${key}' not found`, this.metadata);
    if (!f.enabled) return { value: defaultValue, reason: REASONS.DISABLED, flagMetadata: f.metadata };
    let r: Resolution | undefined;
    if (f.targeting === undefined) r = f.fallback;
    else {
      const ctx = context === undefined || context === null ? EMPTY : context;
      if (typeof ctx !== 'object' || Array.isArray(ctx)) {
        return failure(defaultValue, 'INVALID_CONTEXT', 'the evaluation context is an object of attributes', f.metadata);
      }
      let result: unknown;
      let variant: string;
      try {
        f.env.now = now;
        result = f.targeting(ctx, f.env);
        if (result === null || result === undefined) r = f.fallback;
        else {
          variant = typeof result === 'string' ? result : String(result);
          r = f.matches.get(variant);
          if (r === undefined) return failure(defaultValue, 'GENERAL', `Variant '${variant}' not found in flag with key '${key}'`, f.metadata);
        }
      } catch {
        return failure(defaultValue, 'GENERAL', `Error evaluating targeting rule for flag '${key}'`, f.metadata);
      }
    }
    if (r === undefined) return { value: defaultValue, reason: REASONS.DEFAULT, flagMetadata: f.metadata };
    if (f.type !== type) {
      return failure(defaultValue, 'TYPE_MISMATCH', `Evaluated type of the flag ${key} does not match. Expected ${type}, got ${f.type}`, f.metadata);
    }
    return r as Resolution<T>;
  }

  evaluateAll(context: EvaluationContext, now?: number): Array<Resolution & { key: string }> {
    const out: Array<Resolution & { key: string }> = [];
    for (const f of this.order) {
      if (!f.enabled) continue;
      const r = this.evaluate(f.key, f.type, undefined as unknown as FlagValue, context, now);
      if (r.value !== undefined) out.push({ ...r, key: f.key });
    }
    return out;
  }
}
