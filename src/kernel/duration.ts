import { SluiceError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Parses durations such as `500ms`, `30s`, `5m`, `1h30m` into milliseconds. A bare number means seconds. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new SluiceError('BAD_REQUEST', `invalid duration ${text}`);
    return Math.round(text * 1000);
  }
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  let total = 0;
  PART.lastIndex = 0;
  let matched = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (!m) throw new SluiceError('BAD_REQUEST', `invalid duration "${text}": use e.g. 500ms, 30s, 5m, 1h30m`);
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched++;
  }
  if (matched === 0) throw new SluiceError('BAD_REQUEST', `invalid duration "${text}": use e.g. 500ms, 30s, 5m, 1h30m`);
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
