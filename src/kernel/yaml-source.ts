import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { type ErrorCode, SluiceError } from './errors.js';

/**
 * A YAML file people write (the pipeline file, the flags file), read with every node's place kept: problems are
 * reported at file:line:col, and the reading itself is bounded (size, depth, aliases, keys).
 */

/** One problem in a file, located by line and column (1-based); `path` is the dotted path of the value in it. */
export interface FileIssue {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

/** Limits on reading a YAML file. */
export interface YamlLimits {
  /** The most bytes (UTF-8). */
  maxBytes: number;
  /** The deepest nesting of mappings and lists, counting the top-level mapping as 1. */
  maxDepth: number;
  /** How much YAML aliases (`*name`) may expand, as the yaml package counts it (its maxAliasCount). */
  maxAliases: number;
}

/** How a file's problems are reported: the error code, and the setting that holds each limit (for messages). */
export interface YamlReport {
  code: ErrorCode;
  /** E.g. "a pipeline file". */
  what: string;
  /** E.g. "the server's pipelineLimits": messages name `<limitsName>.maxDepth`. */
  limitsName: string;
}

/** At most this many problems are listed; the rest are counted. */
export const MAX_ISSUES = 100;

/** Renders issues as `file:line:col: path: message` lines. */
export function formatIssues(issues: readonly FileIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

/** Throws the report's error for these issues: `<file> is invalid:` and one line per issue (at most MAX_ISSUES, then a count). */
export function failWith(report: YamlReport, file: string, issues: readonly FileIssue[], more = 0): never {
  const listed = issues.slice(0, MAX_ISSUES);
  const rest = issues.length - listed.length + more;
  throw new SluiceError(report.code, `${file} is invalid:\n${formatIssues(listed)}${rest > 0 ? `\n… and ${rest} more` : ''}`, { issues: listed });
}

/** `1.5 MiB (1572864 bytes)`. */
export function formatBytes(n: number): string {
  const unit = n >= 1024 * 1024 ? ['MiB', 1024 * 1024] as const : n >= 1024 ? ['KiB', 1024] as const : undefined;
  return unit ? `${Math.round((n / unit[1]) * 10) / 10} ${unit[0]} (${n} bytes)` : `${n} bytes`;
}

/** The UTF-8 length of a string, without encoding it; stops counting past `limit`. */
export function utf8Length(s: string, limit: number): number {
  let n = 0;
  for (let i = 0; i < s.length && n <= limit; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Throws when a file of `bytes` bytes is over the limit; the message names the file, its size and the limit. */
export function checkFileSize(report: YamlReport, file: string, bytes: number, maxBytes: number): void {
  if (bytes <= maxBytes) return;
  failWith(report, file, [{ file, line: 1, col: 1, path: '', message: `the file is ${formatBytes(bytes)}, over the limit of ${formatBytes(maxBytes)} for ${report.what} (${report.limitsName}.maxBytes)` }]);
}

/** A YAML file read: its value, and where a path in it is. */
export interface YamlSource {
  /** The file's value (never null or undefined: an empty file is an issue). */
  value: unknown;
  /** The line and column of the value at `path` (of the key `key` in the mapping there, when given); a missing one: its parent's. */
  locate(path: readonly PropertyKey[], key?: string): { line: number; col: number };
  /** An issue at `path` (of `key`). */
  issue(path: readonly PropertyKey[], message: string, key?: string): FileIssue;
}

/**
 * Reads a YAML file within `limits`: syntax errors, nesting past `maxDepth`, duplicate keys, keys that are not plain
 * text, `__proto__` and aliases that expand too much are thrown as the report's error, each at file:line:col.
 */
export function readYamlSource(text: string, file: string, limits: YamlLimits, report: YamlReport): YamlSource {
  checkFileSize(report, file, text.length > limits.maxBytes ? text.length : utf8Length(text, limits.maxBytes), limits.maxBytes);
  const lineCounter = new LineCounter();
  const at = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const fail = (issues: FileIssue[]): never => failWith(report, file, issues);
  const tooDeep = (offset: number) => fail([{ file, ...at(offset), path: '', message: `nested deeper than ${limits.maxDepth} levels (${report.limitsName}.maxDepth)` }]);

  // Flow collections ([ and {) nest without indentation, and the YAML composer recurses into them: count them on the
  // lexer's tokens first, which know quotes and comments, and stop at the first one too deep.
  const flowTooDeep = flowDepthPast(text, limits.maxDepth);
  if (flowTooDeep !== undefined) {
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < flowTooDeep; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
    tooDeep(flowTooDeep);
  }
  // Duplicate keys are found below with a set per mapping: the yaml package compares each key with every earlier
  // one, which takes minutes for a mapping of 10,000 entries.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });

  if (doc.errors.length > 0) {
    fail(
      doc.errors.map((e) => ({
        file,
        ...at(e.pos[0]),
        path: '',
        message: e.message.split('\n')[0] ?? 'YAML syntax error',
      })),
    );
  }
  // Depth, duplicate keys, and keys that would set an object's prototype, on the document's nodes, without recursion.
  let firstAlias: number | undefined;
  const duplicates: { offset: number; key: string }[] = [];
  const nodes: [unknown, number][] = [[doc.contents, 1]];
  for (let next = nodes.pop(); next; next = nodes.pop()) {
    const [node, depth] = next;
    if (isAlias(node) && node.range) firstAlias = Math.min(firstAlias ?? node.range[0], node.range[0]);
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > limits.maxDepth) tooDeep(node.range?.[0] ?? 0);
    const keys = isMap(node) ? new Set<unknown>() : undefined;
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        if (isScalar(item.key) && (typeof item.key.value !== 'object' || item.key.value === null)) {
          if (item.key.value === '__proto__') fail([{ file, ...at(item.key.range?.[0]), path: '', message: 'the key "__proto__" is not allowed' }]);
          if (keys?.has(item.key.value)) duplicates.push({ offset: item.key.range?.[0] ?? 0, key: String(item.key.value) });
          keys?.add(item.key.value);
        } else if (item.key !== null && item.key !== undefined) {
          // yaml would turn a mapping, a list or a !!binary used as a key into text, with a warning on stderr.
          fail([{ file, ...at((item.key as YamlNode).range?.[0]), path: '', message: 'a key must be plain text, not a mapping, a list, an alias or binary data' }]);
        }
        nodes.push([item.key, depth + 1], [item.value, depth + 1]);
      } else nodes.push([item, depth + 1]);
    }
  }
  if (duplicates.length > 0)
    fail(duplicates.sort((a, b) => a.offset - b.offset).map((d) => ({ file, ...at(d.offset), path: '', message: `Map keys must be unique: "${d.key.slice(0, 80)}" is already a key of this mapping` })));
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxAliases });
  } catch (e) {
    const message = /alias count|alias resolution is disabled/i.test((e as Error).message)
      ? `aliases expand too much: more than ${limits.maxAliases} copies (${report.limitsName}.maxAliases)`
      : (e as Error).message;
    fail([{ file, ...at(firstAlias), path: '', message }]);
  }
  if (value === null || value === undefined) fail([{ file, line: 1, col: 1, path: '', message: 'the file is empty' }]);

  const locate = (path: readonly PropertyKey[], key?: string): { line: number; col: number } => {
    let p = path.map((x) => (typeof x === 'symbol' ? String(x) : x));
    // Walk up until a node exists (a missing key is reported at its parent map).
    while (p.length > 0 && !doc.getIn(p, true)) p = p.slice(0, -1);
    const node = (p.length === 0 ? doc.contents : doc.getIn(p, true)) as YamlNode | null;
    if (key !== undefined && node && isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && it.key.value === key);
      if (pair && isScalar(pair.key)) return at(pair.key.range?.[0]);
    }
    return at(node?.range?.[0]);
  };
  const issue = (path: readonly PropertyKey[], message: string, key?: string): FileIssue => ({
    file,
    ...locate(path, key),
    path: [...path, ...(key !== undefined ? [key] : [])].map(String).join('.'),
    message,
  });
  return { value, locate, issue };
}

/**
 * Where flow collections ([ and {) first nest deeper than `max`, as an offset in `text`; undefined if they never do.
 * Counts on the YAML lexer's tokens, so brackets inside quotes, comments and plain scalars do not count.
 */
function flowDepthPast(text: string, max: number): number | undefined {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++depth > max) return offset;
    } else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
    // The lexer's control tokens (document, flow end, scalar markers) take no room in the text.
    if (!(token.length === 1 && (token === '\x02' || token === '\x18' || token === '\x1f'))) offset += token.length;
  }
  return undefined;
}
