import type { EvaluationDetails, FlagValue, Hook, HookContext } from '@openfeature/server-sdk';

/** How the provider reports its evaluations per variant to the data plane (`POST /flags/v1/report`). */
export interface VariantReportOptions {
  /** How often counts are sent. Default 1 s. */
  intervalMs?: number;
  /** Flushes in a row that may fail before the counts held are dropped (so that they never grow). Default 5. */
  maxFailures?: number;
  /** Flag variants held at once between flushes; evaluations of others are not counted until the next flush. Default 2,000 (the data plane's limit). */
  maxEntries?: number;
}

/** What the reporter asks the provider: where the data plane is, and what the stage's flags are now. */
export interface VariantReporterDeps {
  url: string;
  key: string;
  fetch: typeof fetch;
  requestTimeoutMs: number;
  /** Whether the provider reports this flag's variant (the flag and variant exist, and the router does not count the flag). */
  reportable(flag: string, variant: string): boolean;
  /** The variant `context` gets for `flag` now (the flag evaluated as its own type), or undefined. */
  variantFor(flag: string, context: HookContext['context']): string | undefined;
  /** The flags reportable now, for `track('error')`. */
  reportableFlags(): Iterable<string>;
}

/** Set in a hook's data once `after` counted the evaluation. */
const COUNTED = 'sluice.counted';

/** The most any one count may reach between flushes (the data plane takes up to 10⁹). */
const MAX_COUNT = 1_000_000_000;

interface Count {
  evaluations: number;
  errors: number;
}

/**
 * Counts evaluations and errors per (flag, variant) and sends them to the data plane every interval. It never throws
 * into the app: a failed flush keeps the counts for the next one, and after `maxFailures` failures in a row they are
 * dropped; a report the data plane refuses (a flag removed meanwhile) is dropped at once.
 */
export class VariantReporter {
  private pending = new Map<string, Map<string, Count>>();
  private entries = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  /** Counts dropped: past `maxEntries`, refused by the data plane, or after too many failures. */
  dropped = 0;
  /** Reports the data plane took. */
  sent = 0;
  private readonly o: Required<VariantReportOptions>;

  /** The hook that counts: `after` an evaluation for its variant; `error` for the variant that context gets, if any. */
  readonly hook: Hook;

  constructor(
    private readonly deps: VariantReporterDeps,
    options: VariantReportOptions = {},
  ) {
    this.o = {
      intervalMs: Math.max(50, options.intervalMs ?? 1000),
      maxFailures: Math.max(1, options.maxFailures ?? 5),
      maxEntries: Math.min(2000, Math.max(1, options.maxEntries ?? 2000)),
    };
    this.hook = {
      after: (hc: HookContext, details: EvaluationDetails<FlagValue>) => {
        if (details.variant === undefined || details.errorCode) return;
        this.add(hc.flagKey, details.variant, 1, 0);
        hc.hookData?.set(COUNTED, true);
      },
      error: (hc: HookContext) => {
        const variant = this.deps.variantFor(hc.flagKey, hc.context);
        // An `after` hook that failed once the evaluation was counted: only the error is new.
        if (variant !== undefined) this.add(hc.flagKey, variant, hc.hookData?.get(COUNTED) === true ? 0 : 1, 1);
      },
    };
  }

  /** An app error for this context: one error against each reportable flag's variant it gets. */
  trackError(context: HookContext['context']): void {
    for (const flag of this.deps.reportableFlags()) {
      const variant = this.deps.variantFor(flag, context);
      if (variant !== undefined) this.add(flag, variant, 0, 1);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and sends what is held once more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private add(flag: string, variant: string, evaluations: number, errors: number): void {
    try {
      if (!this.deps.reportable(flag, variant)) return;
      let variants = this.pending.get(flag);
      let c = variants?.get(variant);
      if (!c) {
        if (this.entries >= this.o.maxEntries) {
          this.dropped += evaluations + errors;
          return;
        }
        if (!variants) this.pending.set(flag, (variants = new Map()));
        variants.set(variant, (c = { evaluations: 0, errors: 0 }));
        this.entries++;
      }
      c.evaluations = Math.min(MAX_COUNT, c.evaluations + evaluations);
      c.errors = Math.min(MAX_COUNT, c.errors + errors);
    } catch {
      // Counting must never break an evaluation.
    }
  }

  /** Sends what is held (one report at a time); never throws. */
  flush(): Promise<void> {
    this.sending ??= this.send().finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async send(): Promise<void> {
    if (this.entries === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.entries = 0;
    // Only what the data plane can take now: a flag or variant removed since it was counted would refuse the whole report.
    const counts: { flag: string; variant: string; evaluations: number; errors: number }[] = [];
    for (const [flag, variants] of batch)
      for (const [variant, c] of variants) {
        if (this.deps.reportable(flag, variant)) counts.push({ flag, variant, ...c });
        else this.dropped += c.evaluations + c.errors;
      }
    if (counts.length === 0) return;
    let status: number;
    try {
      const res = await this.deps.fetch(`${this.deps.url}/flags/v1/report`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.deps.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ counts }),
        signal: AbortSignal.timeout(this.deps.requestTimeoutMs),
      });
      status = res.status;
      await res.body?.cancel();
    } catch {
      status = 0;
    }
    if (status === 204 || status === 200) {
      this.failures = 0;
      this.sent++;
      return;
    }
    if (status >= 400 && status < 500 && status !== 429 && status !== 408) {
      // Refused as it is: sending it again would be refused again.
      this.dropped += counts.reduce((a, c) => a + c.evaluations + c.errors, 0);
      return;
    }
    this.failures++;
    if (this.failures >= this.o.maxFailures) {
      this.failures = 0;
      this.dropped += counts.reduce((a, c) => a + c.evaluations + c.errors, 0);
      return;
    }
    for (const c of counts) this.add(c.flag, c.variant, c.evaluations, c.errors);
  }
}
