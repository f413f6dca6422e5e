/**
 * Semantic versions as flagd's `sem_ver` operator reads them (@openfeature/flagd-core 4.x, which uses node-semver 7):
 * a leading `v`/`V` is dropped, `1` and `1.2` are read as `1.0.0` and `1.2.0`, anything else must be a full SemVer 2.0
 * version. Precedence follows SemVer 2.0 (build metadata ignored).
 */

/** A parsed version. */
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release identifiers; numeric ones as numbers. */
  pre: Array<string | number>;
}

const NUM = '0|[1-9]\\d*';
const PRE_ID = `(?:\\d*[a-zA-Z-][a-zA-Z0-9-]*|${NUM})`;
const FULL = new RegExp(`^v?(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*))?$`);
const COERCE = /(^|[^\d])(\d{1,16})(?:\.(\d{1,16}))?(?:\.(\d{1,16}))?(?:$|[^\d])/;
const PARTIAL = /^\d+(\.\d+)?$/;
const NUMERIC = /^[0-9]+$/;
const MAX_LENGTH = 256;

function parseStrict(text: string): SemVer | null {
  if (text.length > MAX_LENGTH) return null;
  const m = FULL.exec(text.trim());
  if (!m) return null;
  const major = +m[1]!;
  const minor = +m[2]!;
  const patch = +m[3]!;
  if (major > Number.MAX_SAFE_INTEGER || minor > Number.MAX_SAFE_INTEGER || patch > Number.MAX_SAFE_INTEGER) return null;
  const pre = m[4] === undefined ? [] : m[4].split('.').map((id) => (NUMERIC.test(id) && +id < Number.MAX_SAFE_INTEGER ? +id : id));
  return { major, minor, patch, pre };
}

/** Reads a version the way flagd's `sem_ver` does; `null` when it is not one. */
export function parseSemVer(raw: unknown): SemVer | null {
  const text = String(raw).replace(/^[vV]/, '');
  const strict = parseStrict(text);
  if (strict) return strict;
  if (!PARTIAL.test(text)) return null;
  const m = COERCE.exec(text);
  if (!m) return null;
  return parseStrict(`${m[2]}.${m[3] ?? '0'}.${m[4] ?? '0'}`);
}

function compareIds(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a === b ? 0 : a < b ? -1 : 1;
  const an = NUMERIC.test(String(a));
  const bn = NUMERIC.test(String(b));
  let x = a;
  let y = b;
  if (an && bn) {
    x = +a;
    y = +b;
  }
  return x === y ? 0 : an && !bn ? -1 : bn && !an ? 1 : x < y ? -1 : 1;
}

/** SemVer 2.0 precedence: −1, 0 or 1. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  const main = compareIds(a.major, b.major) || compareIds(a.minor, b.minor) || compareIds(a.patch, b.patch);
  if (main !== 0) return main;
  if (a.pre.length && !b.pre.length) return -1;
  if (!a.pre.length && b.pre.length) return 1;
  for (let i = 0; ; i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined && y === undefined) return 0;
    if (y === undefined) return 1;
    if (x === undefined) return -1;
    if (x === y) continue;
    return compareIds(x, y);
  }
}

/** The operators `sem_ver` knows: comparisons, `^` (same major) and `~` (same major and minor). */
export const SEM_VER_OPERATORS = ['=', '!=', '<', '<=', '>=', '>', '^', '~'] as const;

/** `sem_ver`: `null` when a version does not parse or the operator is unknown (flagd treats both as "no match"). */
export function semVerMatch(left: unknown, operator: unknown, right: unknown): boolean | null {
  const a = parseSemVer(left);
  const b = parseSemVer(right);
  if (!a || !b) return null;
  const op = String(operator);
  const c = compareSemVer(a, b);
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '^':
      return a.major === b.major;
    case '~':
      return a.major === b.major && a.minor === b.minor;
    default:
      return null;
  }
}
