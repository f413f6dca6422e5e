/**
 * Literal ranges in PromQL templates, for the pipeline parser to check against the scrape interval. Not a PromQL parser:
 * it finds the range selector directly inside a call of a function that needs two samples, skipping label values.
 */

/** Functions over a range vector that have no value unless the range holds at least two samples of a series. */
export const TWO_SAMPLE_FUNCTIONS = ['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'predict_linear'] as const;

/** A literal range a two-sample function takes, e.g. `rate(x[30s])`. */
export interface LiteralRange {
  fn: (typeof TWO_SAMPLE_FUNCTIONS)[number];
  /** As written, without the brackets: `30s`. */
  text: string;
  ms: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };
const PROM_DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** A PromQL duration (`1h30m`, `500ms`) in ms; undefined for anything else ({{window}}, a subquery, a typo Prometheus will report). */
export function promDurationMs(text: string): number | undefined {
  if (!PROM_DURATION.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** The literal ranges two-sample functions take in `template`; `[{{window}}]` and subqueries (`[5m:1m]`) are left out. */
export function literalRanges(template: string): LiteralRange[] {
  const out: LiteralRange[] = [];
  const call = new RegExp(`\\b(${TWO_SAMPLE_FUNCTIONS.join('|')})\\s*\\(`, 'g');
  for (const m of template.matchAll(call)) {
    const range = rangeOfCall(template, m.index + m[0].length);
    if (range === undefined) continue;
    const ms = promDurationMs(range.trim());
    if (ms !== undefined) out.push({ fn: m[1] as LiteralRange['fn'], text: range.trim(), ms });
  }
  return out;
}

/** The text inside the first `[...]` at the call's own depth, starting just after its `(`; undefined when there is none. */
function rangeOfCall(s: string, from: number): string | undefined {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === '`') {
      // A label value may hold brackets and parentheses: skip it whole (backslash escapes inside quotes).
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\' && c !== '`') i++;
    } else if (c === '(') depth++;
    else if (c === ')') {
      if (--depth === 0) return undefined;
    } else if (c === '[' && depth === 1) {
      const end = s.indexOf(']', i);
      return end < 0 ? undefined : s.slice(i + 1, end);
    }
  }
  return undefined;
}

/** Milliseconds as PromQL writes a duration: `15s`, `1m`, `90s`, `1500ms`. */
export function formatPromDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
