import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type Hook,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { compileFlagSet } from '../../../src/flags/flag-compiler.js';
import { type CompiledFlagSet, type FlagType, type FlagValue, flagTypeOf, type Resolution, ZERO_OF } from '../../../src/flags/flag-model.js';
import { parseVariantKey, VARIANT_KEY_METADATA } from '../../../src/flags/ports/variant-metrics.js';
import { readServerSentEvents } from './sse-reader.js';
import { VariantReporter, type VariantReportOptions } from './variant-reporter.js';

export interface SluiceProviderOptions {
  /** The data plane's flag address, e.g. `http://127.0.0.1:7090` (what `SLUICE_FLAGS_URL` holds inside a stage's instances). */
  url: string;
  /** The stage's flag key (`sluice flags keys create --stage S`; `SLUICE_FLAGS_KEY` inside a stage's instances). */
  key: string;
  /** How long `initialize` waits for the first flag set before the provider reports an error (it keeps trying). Default 5 s. */
  initTimeoutMs?: number;
  /** Each request's time limit (not the stream's). Default 5 s. */
  requestTimeoutMs?: number;
  /** A stream silent for this long (no change, no heartbeat) is reconnected. Default 45 s. */
  silenceMs?: number;
  /** First and longest wait between reconnections (doubling, with full jitter). Default 250 ms and 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** For tests and custom transports. Default: the global fetch. */
  fetch?: typeof fetch;
  /**
   * Evaluations and errors per flag variant, sent to the data plane (`POST /flags/v1/report`) so that a guarded ramp can
   * judge each variant; `track('error', context)` counts an app error against the variants that context gets. On by
   * default (every second); `false` turns it off. Flags the router counts (`sluice.variantKey` metadata) are not reported.
   */
  report?: VariantReportOptions | false;
}

const ERROR_CODES: Record<string, ErrorCode> = {
  FLAG_NOT_FOUND: ErrorCode.FLAG_NOT_FOUND,
  TYPE_MISMATCH: ErrorCode.TYPE_MISMATCH,
  PARSE_ERROR: ErrorCode.PARSE_ERROR,
  TARGETING_KEY_MISSING: ErrorCode.TARGETING_KEY_MISSING,
  INVALID_CONTEXT: ErrorCode.INVALID_CONTEXT,
  GENERAL: ErrorCode.GENERAL,
};

/**
 * An OpenFeature provider that evaluates a Sluice stage's flags in process, with the same evaluator the data plane runs.
 *
 * It fetches the stage's flagd flag set, then follows the data plane's change stream and fetches the set again when its ETag
 * changes. While the data plane is away it keeps serving the last set it had (the SDK sees `PROVIDER_STALE`), and reconnects
 * with a doubling, jittered backoff; back in touch, it catches up at once and reports `PROVIDER_READY`.
 */
export class SluiceProvider implements Provider {
  readonly metadata = { name: 'sluice' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();

  private set: CompiledFlagSet | undefined;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private stale = false;
  private gotFirst: () => void = () => {};
  private readonly first = new Promise<void>((resolve) => (this.gotFirst = resolve));
  private readonly fetch: typeof fetch;
  private readonly o: Required<Omit<SluiceProviderOptions, 'fetch' | 'report'>>;
  /** Counts evaluations per variant and reports them; undefined when reporting is off. */
  readonly reporter: VariantReporter | undefined;
  /** Provider hooks (the SDK runs them on every evaluation): the reporter's counting hook. */
  readonly hooks: Hook[];
  /** Flags evaluated since start that the provider reports: `track('error')` counts against these (at most `MAX_TRACKED`). */
  private readonly evaluated = new Set<string>();

  constructor(options: SluiceProviderOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new Error(`SluiceProvider: url must start with http:// or https:// (got ${JSON.stringify(options.url)})`);
    if (!options.key) throw new Error('SluiceProvider: key is required (a stage\'s flag key)');
    this.fetch = options.fetch ?? globalThis.fetch;
    this.o = {
      url: options.url.replace(/\/+$/, ''),
      key: options.key,
      initTimeoutMs: options.initTimeoutMs ?? 5000,
      requestTimeoutMs: options.requestTimeoutMs ?? 5000,
      silenceMs: options.silenceMs ?? 45_000,
      backoff: options.backoff ?? { initialMs: 250, maxMs: 30_000 },
    };
    this.reporter =
      options.report === false
        ? undefined
        : new VariantReporter(
          {
            url: this.o.url,
            key: this.o.key,
            fetch: (...args) => this.fetch(...args),
            requestTimeoutMs: this.o.requestTimeoutMs,
            reportable: (flag, variant) => this.reportable(flag, variant),
            variantFor: (flag, context) => this.variantFor(flag, context),
            reportableFlags: () => this.evaluated,
          },
          options.report,
        );
    this.hooks = this.reporter ? [this.reporter.hook] : [];
  }

  /**
   * OpenFeature's tracking: `track('error', context)` counts an app error against the variant that context gets of each
   * flag this provider reports and the app has evaluated. Other events are not counted.
   */
  track(eventName: string, context: EvaluationContext): void {
    if (eventName === 'error') this.reporter?.trackError(context);
  }

  private reportable(flag: string, variant: string): boolean {
    const f = this.set && Object.hasOwn(this.set.doc.flags, flag) ? this.set.doc.flags[flag] : undefined;
    if (!f || !Object.hasOwn(f.variants, variant) || parseVariantKey(f.metadata?.[VARIANT_KEY_METADATA])) return false;
    if (!this.evaluated.has(flag) && this.evaluated.size < MAX_TRACKED) this.evaluated.add(flag);
    return true;
  }

  private variantFor(flag: string, context: EvaluationContext): string | undefined {
    const f = this.set && Object.hasOwn(this.set.doc.flags, flag) ? this.set.doc.flags[flag] : undefined;
    if (!f) return undefined;
    const type = flagTypeOf(f);
    const r = this.set!.evaluate(flag, type, ZERO_OF[type], context);
    return r.errorCode ? undefined : r.variant;
  }

  /** The ETag of the flag set being served, or undefined before the first one arrived. */
  get etag(): string | undefined {
    return this.set?.etag;
  }

  async initialize(): Promise<void> {
    this.loop ??= this.follow();
    this.reporter?.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no flag set from ${this.o.url} within ${this.o.initTimeoutMs} ms; still trying`)), this.o.initTimeoutMs);
    });
    try {
      await Promise.race([this.first, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onClose(): Promise<void> {
    await this.reporter?.stop();
    this.stop.abort();
    await this.loop;
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(this.resolve(flagKey, 'boolean', defaultValue, context));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return Promise.resolve(this.resolve(flagKey, 'string', defaultValue, context));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return Promise.resolve(this.resolve(flagKey, 'number', defaultValue, context));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return Promise.resolve(this.resolve(flagKey, 'object', defaultValue as FlagValue, context) as ResolutionDetails<T>);
  }

  private resolve<T extends FlagValue>(flagKey: string, type: FlagType, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    if (!this.set) return { value: defaultValue, reason: 'ERROR', errorCode: ErrorCode.PROVIDER_NOT_READY, errorMessage: 'no flag set yet' };
    return details(this.set.evaluate(flagKey, type, defaultValue, context));
  }

  /** Follows the stream until closed: each (re)connection fetches the set if it changed, then applies every change announced. */
  private async follow(): Promise<void> {
    let failures = 0;
    while (!this.stop.signal.aborted) {
      try {
        await this.refresh();
        await this.stream(() => {
          failures = 0;
        });
      } catch (e) {
        if (this.stop.signal.aborted) return;
        this.markStale((e as Error).message);
      }
      if (this.stop.signal.aborted) return;
      failures++;
      const ceiling = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** Math.min(failures - 1, 20));
      await sleep(Math.random() * ceiling, this.stop.signal);
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.o.key}`, ...extra };
  }

  /** Fetches the stage's flag set unless the one held is current (If-None-Match). */
  private async refresh(): Promise<void> {
    const res = await this.fetch(`${this.o.url}/flags/v1/sync`, {
      headers: this.headers(this.set ? { 'if-none-match': `"${this.set.etag}"` } : {}),
      signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.o.requestTimeoutMs)]),
    });
    if (res.status === 304) {
      await res.body?.cancel();
      this.markFresh([]);
      return;
    }
    if (res.status !== 200) throw new Error(`GET /flags/v1/sync answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const compiled = compileFlagSet(await res.json());
    // The data plane serves only sets that compiled there; one that does not here is a version mismatch, reported and skipped.
    if (!compiled.ok) throw new Error(`the flag set from ${this.o.url} does not compile here: ${compiled.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    const before = this.set;
    this.set = compiled.set;
    this.gotFirst();
    this.markFresh(changedKeys(before, compiled.set));
  }

  private async stream(connected: () => void): Promise<void> {
    const alive = new AbortController();
    const signal = AbortSignal.any([this.stop.signal, alive.signal]);
    let silence: NodeJS.Timeout | undefined;
    const heard = () => {
      clearTimeout(silence);
      silence = setTimeout(() => alive.abort(), this.o.silenceMs);
    };
    try {
      heard();
      const res = await this.fetch(`${this.o.url}/flags/v1/stream`, { headers: this.headers({ accept: 'text/event-stream' }), signal });
      if (res.status !== 200 || !res.body) throw new Error(`GET /flags/v1/stream answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      connected();
      for await (const ev of readServerSentEvents(res.body, heard)) {
        let etag: unknown;
        try {
          etag = (JSON.parse(ev.data) as { etag?: unknown }).etag;
        } catch {
          continue;
        }
        if (typeof etag === 'string' && etag === this.set?.etag) continue;
        await this.refresh();
      }
      if (!this.stop.signal.aborted) throw new Error(alive.signal.aborted ? `no word from ${this.o.url} for ${this.o.silenceMs} ms` : 'the stream ended');
    } finally {
      clearTimeout(silence);
    }
  }

  private markFresh(flagsChanged: string[]): void {
    if (this.stale) {
      this.stale = false;
      this.events.emit(ProviderEvents.Ready, { message: `back in touch with ${this.o.url}` });
    }
    if (flagsChanged.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged });
  }

  private markStale(why: string): void {
    if (this.stale || !this.set) return;
    this.stale = true;
    this.events.emit(ProviderEvents.Stale, { message: `serving the last flag set (${this.set.etag}): ${why}` });
  }
}

/** Flags `track('error')` counts against: the most an app is expected to evaluate (the data plane's report limit). */
const MAX_TRACKED = 2000;

function details<T extends FlagValue>(r: Resolution<T>): ResolutionDetails<T> {
  return {
    value: r.value,
    reason: r.reason,
    flagMetadata: r.flagMetadata,
    ...(r.variant !== undefined ? { variant: r.variant } : {}),
    ...(r.errorCode ? { errorCode: ERROR_CODES[r.errorCode] ?? ErrorCode.GENERAL } : {}),
    ...(r.errorMessage ? { errorMessage: r.errorMessage } : {}),
  };
}

/** The keys whose flag differs between two sets (all of them for the first). */
function changedKeys(before: CompiledFlagSet | undefined, after: CompiledFlagSet): string[] {
  if (!before) return after.keys();
  if (before.etag === after.etag) return [];
  const keys = new Set([...before.keys(), ...after.keys()]);
  const a = before.doc;
  const b = after.doc;
  const same = (x: unknown, y: unknown) => JSON.stringify(x ?? {}) === JSON.stringify(y ?? {});
  if (!same(a.$evaluators, b.$evaluators) || !same(a.metadata, b.metadata)) return [...keys];
  return [...keys].filter((k) => JSON.stringify(a.flags[k]) !== JSON.stringify(b.flags[k]));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
