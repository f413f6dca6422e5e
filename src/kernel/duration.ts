import { z } from 'zod';
import { SluiceError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Parses durations such as `500ms`, `30s`, `5m`, `1h30m` into milliseconds. A bare number means seconds. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new SluiceError('BAD_REQUEST', `invalid duration ${text}: a bare number is seconds, and may not be negative`);
    return Math.round(text * 1000);
  }
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  let total = 0;
  PART.lastIndex = 0;
  let matched = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (!m) throw new SluiceError('BAD_REQUEST', `invalid duration "${text}": use e.g. 500ms, 30s, 5m, 1h30m, or a bare number of seconds`);
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched++;
  }
  if (matched === 0) throw new SluiceError('BAD_REQUEST', `invalid duration "${text}": use e.g. 500ms, 30s, 5m, 1h30m, or a bare number of seconds`);
  return Math.round(total);
}

/** Formats milliseconds for people: 850ms, 12.3s, 4m05s, 1h02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`;
  const totalM = Math.round(totalS / 60);
  return `${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`;
}

/** The longest duration a file may give: 30 days. */
export const MAX_DURATION_MS = 30 * 86_400_000;

/** The grammar, as a pattern for schemas (editors check it too): parts with units, or a bare number of seconds. */
const DURATION_PATTERN = /^\s*(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/;
const HINT = 'not a duration: use e.g. 500ms, 30s, 5m, 1h30m, 2d, or a bare number of seconds';

/**
 * A duration as files write it: `500ms`, `30s`, `5m`, `1h30m`, `2d`, or a bare number of seconds, at most 30 days.
 * The same grammar `parseDuration` reads, so whatever the schema accepts parses, and whatever it refuses is reported at
 * its place (file:line:col).
 */
export const durationSchema = z
  .union([z.number().nonnegative(HINT), z.string().regex(DURATION_PATTERN, HINT)], { error: HINT })
  .refine(
    (v) => {
      try {
        return parseDuration(v) <= MAX_DURATION_MS;
      } catch {
        return true; // the grammar above has said what is wrong
      }
    },
    { message: 'longer than 30 days' },
  );

/** A bound of `boundedDuration`, with what to tell a user who passes it. */
export interface DurationBound {
  ms: number;
  message: string;
}

/**
 * A duration as `durationSchema` reads it, for a setting where values outside `min`…`max` make no sense (a zero interval,
 * a scrape interval longer than series stay fresh). A value outside is reported at its place with the bound's message.
 */
export function boundedDuration(min: DurationBound, max?: DurationBound) {
  const within = (ok: (ms: number) => boolean) => (v: string | number) => {
    try {
      const ms = parseDuration(v);
      return ms > MAX_DURATION_MS || ok(ms); // past 30 days durationSchema has said what is wrong
    } catch {
      return true; // so has the grammar
    }
  };
  const atLeast = durationSchema.refine(within((ms) => ms >= min.ms), { message: min.message });
  return max ? atLeast.refine(within((ms) => ms <= max.ms), { message: max.message }) : atLeast;
}
