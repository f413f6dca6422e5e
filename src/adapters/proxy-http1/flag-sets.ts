import { createHash } from 'node:crypto';
import type { CompiledFlagSet, EvaluationCount, FlagCompiler, FlagType, PublishedFlagSet } from '../../flags/ports/flag-serving.js';
import { FLAG_LIMITS, flagTypeOf } from '../../flags/ports/flag-serving.js';
import { parseVariantKey, VARIANT_KEY_METADATA, type VariantKeySource } from '../../flags/ports/variant-metrics.js';
import { SluiceError } from '../../kernel/errors.js';
import type { FlagsFile } from './flags-file.js';

/** Stage names as the pipeline file allows them, bounded. */
const STAGE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const KEY_HASH = /^[0-9a-f]{64}$/;
/** API keys that may read one stage's flags at once (old and new, during a rotation). */
export const MAX_KEYS_PER_STAGE = 100;
/** Stages whose flags one data plane serves. */
export const MAX_STAGES = 1000;

/** One stage's flags as served: what was published, compiled once, and what each answer needs prepared. */
export interface ServedStage {
  readonly stage: string;
  readonly published: PublishedFlagSet;
  readonly set: CompiledFlagSet;
  /** Each flag's own type (from its variants): OFREP asks for no type, so a flag is evaluated as what it is. */
  readonly types: ReadonlyMap<string, FlagType>;
  /** The flagd JSON of the set, serialised once for the sync feed. */
  readonly docJson: string;
  /** The strong ETag of the set, quoted. */
  readonly etag: string;
  readonly keyHashes: ReadonlySet<string>;
  /** The flags the router counts per variant (their `sluice.variantKey` names a header or cookie), found once per publish. */
  readonly counted: readonly CountedFlag[];
}

/** A flag whose variants the router counts: where it reads a request's targeting key, and each of its variants. */
export interface CountedFlag {
  readonly flag: string;
  readonly type: FlagType;
  readonly source: VariantKeySource;
  readonly variants: readonly string[];
}

/** A stage's flags changed (`removed`: no longer served). */
export interface FlagChange {
  stage: string;
  revision: number;
  /** The set's ETag value, unquoted (the compiled set's `etag`; the sync feed's ETag header is it in quotes). */
  etag: string;
  removed: boolean;
}

/** What a publish did: `changed` is false when the data plane already served exactly this revision. */
export interface PublishOutcome {
  stage: string;
  revision: number;
  etag: string;
  changed: boolean;
}

/** SHA-256 (hex) of an API key, as stages list them. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Evaluations per (stage, flag, variant), cheap to add to: nested maps, no key strings built per evaluation. */
export class EvaluationCounter {
  private stages = new Map<string, Map<string, Map<string | null, { count: number; lastAt: number }>>>();

  add(stage: string, flag: string, variant: string | null, at: number): void {
    let flags = this.stages.get(stage);
    if (!flags) this.stages.set(stage, (flags = new Map()));
    let variants = flags.get(flag);
    if (!variants) flags.set(flag, (variants = new Map()));
    const c = variants.get(variant);
    if (c) {
      c.count++;
      c.lastAt = at;
    } else variants.set(variant, { count: 1, lastAt: at });
  }

  /** Every count since the last call; they start again from zero. */
  take(): EvaluationCount[] {
    const out: EvaluationCount[] = [];
    for (const [stage, flags] of this.stages)
      for (const [flag, variants] of flags) for (const [variant, c] of variants) out.push({ stage, flag, variant, count: c.count, lastAt: c.lastAt });
    this.stages = new Map();
    return out;
  }
}

/**
 * The flag sets the data plane serves, one per stage: each compiled once when it is published (or loaded at start),
 * saved to the flags file before it is served, and announced to whoever listens (the stream) once saved. An API key
 * selects its stage by its SHA-256.
 */
export class FlagSets {
  private readonly stages = new Map<string, ServedStage>();
  private readonly byKeyHash = new Map<string, string>();
  private readonly listeners = new Set<(c: FlagChange) => void>();
  readonly counts = new EvaluationCounter();

  constructor(
    private readonly o: {
      compile: FlagCompiler;
      file?: FlagsFile;
      notice: (line: string) => void;
      /** Told of each stage's set as it is served (or `undefined` once it is not): the router follows its counted flags. */
      served?: (stage: string, st: ServedStage | undefined) => void;
    },
  ) {}

  /** Serves what the flags file holds; a stage that no longer compiles is left out and named in the log. */
  load(): void {
    if (!this.o.file) return;
    for (const [stage, raw] of Object.entries(this.o.file.load())) {
      try {
        this.install(this.prepare(stage, raw));
      } catch (e) {
        this.o.notice(`flags file: stage ${stage}'s flags are not served: ${(e as Error).message}`);
      }
    }
  }

  get(stage: string): ServedStage | undefined {
    return this.stages.get(stage);
  }

  /** The stage an API key may read, or undefined for a key no stage lists. */
  stageOfKey(key: string): string | undefined {
    return this.byKeyHash.get(keyHash(key));
  }

  /** Is this key (by its hash) still one of the stage's? Streams opened with a key end when it is taken away. */
  stageHasKeyHash(stage: string, hash: string): boolean {
    return this.stages.get(stage)?.keyHashes.has(hash) ?? false;
  }

  revisions(): Record<string, number> {
    return Object.fromEntries([...this.stages].map(([s, st]) => [s, st.published.revision]));
  }

  /** Each stage's revision, ETag and number of flags. */
  summary(): Record<string, { revision: number; etag: string; flags: number; keys: number }> {
    const one = (st: ServedStage) => ({ revision: st.published.revision, etag: st.etag, flags: st.types.size, keys: st.keyHashes.size });
    return Object.fromEntries([...this.stages].map(([s, st]) => [s, one(st)]));
  }

  onChange(listener: (c: FlagChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces a stage's set. Refused with nothing changed when it does not compile, is older than what is served, or
   * lists a key another stage has. The same revision with the same content again changes nothing (a control plane
   * that starts again publishes what it has).
   */
  publish(stage: string, input: unknown): PublishOutcome {
    const next = this.prepare(stage, input);
    const current = this.stages.get(stage);
    if (!current && this.stages.size >= MAX_STAGES) throw new SluiceError('TOO_LARGE', `the data plane serves the flags of ${MAX_STAGES} stages already; stage ${stage}'s were refused`);
    if (current) {
      if (next.published.revision < current.published.revision)
        throw new SluiceError('CONFLICT', `stage ${stage}'s flags are served at revision ${current.published.revision}; revision ${next.published.revision} is older and was refused`);
      if (next.published.revision === current.published.revision && next.etag === current.etag && sameKeys(next.keyHashes, current.keyHashes))
        return { stage, revision: current.published.revision, etag: current.etag, changed: false };
      // A key created or revoked republishes the same revision with other keys: the flags stay, the keys are replaced.
      if (next.published.revision === current.published.revision && next.etag !== current.etag)
        throw new SluiceError('CONFLICT', `stage ${stage}'s flags are served at revision ${current.published.revision} with other content; a change needs a newer revision`);
    }
    for (const h of next.keyHashes) {
      const other = this.byKeyHash.get(h);
      if (other !== undefined && other !== stage)
        throw new SluiceError('CONFLICT', `an API key of stage ${stage} (sha256 ${h.slice(0, 12)}…) already reads stage ${other}'s flags; a key selects one stage`);
    }
    this.save(stage, next.published);
    this.install(next);
    this.emit({ stage, revision: next.published.revision, etag: next.set.etag, removed: false });
    return { stage, revision: next.published.revision, etag: next.etag, changed: true };
  }

  /** Stops serving a stage's flags; false when none were served. */
  unpublish(stage: string): boolean {
    const current = this.stages.get(stage);
    if (!current) return false;
    this.save(stage, undefined);
    this.uninstall(current);
    this.o.served?.(stage, undefined);
    this.emit({ stage, revision: current.published.revision, etag: current.set.etag, removed: true });
    return true;
  }

  private save(stage: string, set: PublishedFlagSet | undefined): void {
    if (!this.o.file) return;
    const all: Record<string, PublishedFlagSet> = {};
    for (const [s, st] of this.stages) all[s] = st.published;
    if (set) all[stage] = set;
    else delete all[stage];
    this.o.file.save(all);
  }

  private install(next: ServedStage): void {
    const current = this.stages.get(next.stage);
    if (current) this.uninstall(current);
    this.stages.set(next.stage, next);
    for (const h of next.keyHashes) this.byKeyHash.set(h, next.stage);
    this.o.served?.(next.stage, next);
  }

  private uninstall(st: ServedStage): void {
    this.stages.delete(st.stage);
    for (const h of st.keyHashes) if (this.byKeyHash.get(h) === st.stage) this.byKeyHash.delete(h);
  }

  private emit(c: FlagChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (e) {
        this.o.notice(`flags: a change listener failed: ${(e as Error).message}`);
      }
    }
  }

  /** Checks and compiles a published set; throws BAD_REQUEST (or TOO_LARGE) saying what is wrong and where. */
  private prepare(stage: string, input: unknown): ServedStage {
    const bad = (what: string) => new SluiceError('BAD_REQUEST', `stage ${stage}'s flags: ${what}`);
    if (!STAGE.test(stage)) throw new SluiceError('BAD_REQUEST', `"${stage.slice(0, 140)}" is not a stage name (letters, digits, ., _ and -, at most 128)`);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw bad('expected an object with doc, revision and keyHashes');
    const { doc, revision, keyHashes } = input as Record<string, unknown>;
    if (!Number.isSafeInteger(revision) || (revision as number) < 0) throw bad('revision: expected a whole number, 0 or more');
    if (!Array.isArray(keyHashes) || keyHashes.length > MAX_KEYS_PER_STAGE || !keyHashes.every((h) => typeof h === 'string' && KEY_HASH.test(h)))
      throw bad(`keyHashes: expected a list of at most ${MAX_KEYS_PER_STAGE} SHA-256 digests (64 lower-case hex digits each)`);
    const docJson = JSON.stringify(doc) ?? '';
    if (Buffer.byteLength(docJson) > FLAG_LIMITS.documentBytes) throw new SluiceError('TOO_LARGE', `stage ${stage}'s flags: the flag set takes more than ${FLAG_LIMITS.documentBytes} bytes`);
    const compiled = this.o.compile(doc);
    if (!compiled.ok)
      throw new SluiceError('BAD_REQUEST', `stage ${stage}'s flags were refused: ${compiled.problems.slice(0, 10).map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}${compiled.problems.length > 10 ? ` (and ${compiled.problems.length - 10} more)` : ''}`, { problems: compiled.problems });
    const set = compiled.set;
    const types = new Map<string, FlagType>();
    const counted: CountedFlag[] = [];
    for (const [key, flag] of Object.entries(set.doc.flags)) {
      const type = flagTypeOf(flag);
      types.set(key, type);
      const source = parseVariantKey(flag.metadata?.[VARIANT_KEY_METADATA]);
      if (source) counted.push({ flag: key, type, source, variants: Object.keys(flag.variants) });
    }
    return {
      stage,
      published: { doc: set.doc, revision: revision as number, keyHashes: [...new Set(keyHashes as string[])] },
      set,
      types,
      docJson: set.doc === doc ? docJson : JSON.stringify(set.doc),
      etag: `"${set.etag}"`,
      keyHashes: new Set(keyHashes as string[]),
      counted,
    };
  }
}

function sameKeys(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((h) => b.has(h));
}
