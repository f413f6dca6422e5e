/**
 * flagd targeting (JSONLogic plus flagd's operators) compiled once into closures.
 *
 * The semantics are those of @openfeature/flagd-core 4.0.1, which compiles targeting with json-logic-engine 5.0.7's
 * `build`. Where that compiled code has quirks, they are reproduced on purpose, so a user gets the same variant from
 * Sluice as from flagd:
 * - comparisons are JavaScript's, after json-logic-engine's `compareCheck` (a non-numeric string against a number
 *   throws, `null` against a falsy value compares as equal...);
 * - the compiled code keeps one `prev` register that `var`, `and`, `or`, comparisons and `missing_some` write, and
 *   a comparison checks its right operand against `prev` *after* evaluating that operand (so `{"==": [{"var": "a"},
 *   {"var": "b"}]}` checks `b` against itself). `prev` below is that register;
 * - subtrees with no `var` and no flagd operator are evaluated once at compile time, with the library's interpreted
 *   semantics (which differ for `cat` with nulls and for comparisons of three or more operands);
 * - `fractional` hashes the bucketing value with MurmurHash3 (kernel, the router's) and takes `(hash × total) >> 32`.
 *
 * Sluice refuses, at save time, what flagd-core would accept and then fail on (or silently ignore): unknown operators,
 * operators with the wrong number of arguments, `$ref` to nothing or in a cycle; and a few forms it does not support
 * (see `OPERATORS`).
 */
import { bucketOfHash, murmur3, murmur3After, murmur3Prefix, type Murmur3Prefix } from '../kernel/murmur3.js';
import { closest } from '../kernel/suggest.js';
import type { FlagProblem } from './flag-model.js';
import { SEM_VER_OPERATORS, semVerMatch } from './sem-ver.js';

/** What a compiled rule reads besides the context: the flag it serves and the time. */
export interface RuleEnv {
  readonly flagKey: string;
  /** MurmurHash3 state after the flag key, the prefix of `fractional`'s default bucketing value. */
  readonly keyHash: Murmur3Prefix;
  /** Epoch ms of this evaluation, or undefined for "now" (read only if a rule uses `$flagd.timestamp`). */
  now: number | undefined;
}

/** A compiled rule: context attributes in, a value out. It may throw; the flag evaluator turns that into ERROR. */
export type Rule = (ctx: Readonly<Record<string, unknown>>, env: RuleEnv) => unknown;

/**
 * The operators Sluice compiles: JSONLogic's comparisons, logic, lists and strings, and flagd's custom operators.
 * json-logic-engine knows more (arithmetic, `map`/`filter`/`reduce`...); Sluice refuses those rather than guess.
 */
export const OPERATORS = [
  'var', 'missing', 'missing_some', 'if', '?:', '==', '===', '!=', '!==', '<', '<=', '>', '>=', '!', '!!', 'and', 'or', 'in', 'cat',
  'fractional', 'sem_ver', 'starts_with', 'ends_with',
] as const;

/** Operators json-logic-engine 5 knows that Sluice does not compile: named in the error, so nobody reads "unknown". */
const UNSUPPORTED = ['+', '-', '*', '/', '%', 'min', 'max', 'substr', 'merge', 'map', 'filter', 'reduce', 'all', 'some', 'none', 'every',
  'preserve', 'val', 'exists', 'try', 'throw', 'length', 'keys', 'pipe', 'eachKey', 'get', '??', 'not'];

// json-logic-engine's compiled code shares one `prev` variable; see the header. Evaluation is synchronous, so one
// module-level register is exactly as shared as theirs.
let prev: unknown;

/** json-logic-engine's truthiness: empty arrays and empty plain objects are false. */
export function truthy(v: unknown): boolean {
  if (!v) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') {
    const o = v as Record<string | symbol, unknown>;
    if (o[Symbol.iterator]) {
      if ('length' in o && o.length === 0) return false;
      if ('size' in o && o.size === 0) return false;
    }
    if ((o.constructor as { name: string }).name === 'Object') return Object.keys(o).length > 0;
  }
  return true;
}

function precoerceNumber(item: unknown): unknown {
  if (Number.isNaN(item)) throw new TypeError('NaN');
  if (!item) return item;
  if (typeof item === 'object') throw new TypeError('an object is not a number');
  return item;
}

/** json-logic-engine's `compareCheck`: the right operand as the compiled comparison sees it. */
function compareCheck(item: unknown, before: unknown, strict: boolean): unknown {
  if (strict || ((typeof item === 'string' || item === null) && (typeof before === 'string' || before === null))) return item;
  if (Number.isNaN(+(precoerceNumber(item) as number)) && before !== null) throw new TypeError('not a number');
  if (Number.isNaN(+(precoerceNumber(before) as number))) throw new TypeError('not a number');
  if (before === null && !item) return null;
  if (item === null && !before) return 0;
  return item;
}

type Cmp = (a: unknown, b: unknown) => boolean;
const COMPARISONS: Record<string, Cmp> = {
  '==': (a, b) => a == b,
  '===': (a, b) => a === b,
  '!=': (a, b) => a != b,
  '!==': (a, b) => a !== b,
  '<': (a, b) => (a as number) < (b as number),
  '<=': (a, b) => (a as number) <= (b as number),
  '>': (a, b) => (a as number) > (b as number),
  '>=': (a, b) => (a as number) >= (b as number),
};

/** The interpreted comparison json-logic-engine uses when it folds constant operands at build time. */
function interpretedCompare(op: string, values: unknown[]): boolean {
  const f = COMPARISONS[op]!;
  const strict = op.length === 3;
  if (values.length === 2) {
    const [a, b] = values;
    if (strict || ((typeof a === 'string' || a === null) && (typeof b === 'string' || b === null))) return f(a, b);
    if (Number.isNaN(+(precoerceNumber(a) as number))) throw new TypeError('not a number');
    if (Number.isNaN(+(precoerceNumber(b) as number)) && a !== null) throw new TypeError('not a number');
    return f(+(a as number), +(b as number));
  }
  let before = values[0];
  for (let i = 1; i < values.length; i++) {
    const current = values[i];
    if (strict || ((typeof current === 'string' || current === null) && (typeof before === 'string' || before === null))) {
      if (!f(before, current)) return false;
    }
    if (Number.isNaN(+(precoerceNumber(current) as number)) && before !== null) throw new TypeError('not a number');
    if (i === 1 && Number.isNaN(+(precoerceNumber(before) as number))) throw new TypeError('not a number');
    if (!f(+(before as number), +(current as number))) return false;
    before = current;
  }
  return true;
}

/** json-logic-engine's path syntax: `a.b`, with `\.` for a literal dot. */
export function splitPath(str: string): string[] {
  // Most paths are one attribute (`targetingKey`): with nothing to split or unescape, the loop below would give it whole.
  if (!str.includes('.') && !str.includes('\\')) return str.length === 0 ? [] : [str];
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < str.length; i++) {
    const ch = str[i];
    if (ch === '\\') {
      const next = str[i + 1];
      if (next === '.' || next === '/') {
        current += next;
        i++;
      } else if (next === '\\') {
        current += '\\';
        i++;
      } else current += '\\';
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (parts.length !== str.length) parts.push(current);
  return parts;
}

function timestampOf(env: RuleEnv): number {
  return Math.floor((env.now ?? Date.now()) / 1000);
}

/** The `$flagd` object flagd adds to the context. */
function flagdProperties(env: RuleEnv): Record<string, unknown> {
  return { flagKey: env.flagKey, timestamp: timestampOf(env) };
}

/** The whole context as flagd's targeting sees it (the caller's attributes plus `$flagd`); built only when a rule asks. */
function fullContext(ctx: Readonly<Record<string, unknown>>, env: RuleEnv): Record<string, unknown> {
  return { ...ctx, $flagd: flagdProperties(env) };
}

function walk(from: unknown, pieces: readonly string[], start: number): unknown {
  let v = from;
  for (let i = start; i < pieces.length; i++) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[pieces[i]!];
  }
  return v;
}

/** Reads an attribute path the way the compiled `var` does (`context?.[a]?.[b]`). */
function attributeReader(pieces: readonly string[]): Rule {
  const first = pieces[0]!;
  if (first === '$flagd') {
    if (pieces.length === 2 && pieces[1] === 'flagKey') return (_ctx, env) => env.flagKey;
    if (pieces.length === 2 && pieces[1] === 'timestamp') return (_ctx, env) => timestampOf(env);
    return (_ctx, env) => walk(flagdProperties(env), pieces, 1);
  }
  if (pieces.length === 1) return (ctx) => ctx[first];
  if (pieces.length === 2) {
    const second = pieces[1]!;
    return (ctx) => {
      const v = ctx[first];
      return v === null || v === undefined ? undefined : (v as Record<string, unknown>)[second];
    };
  }
  return (ctx) => walk(ctx, pieces, 0);
}

/** What compiling one node gives: its closure, and its value when it is a compile-time constant. */
interface Node {
  ev: Rule;
  constant: boolean;
  value?: unknown;
}

function constant(value: unknown): Node {
  return { ev: () => value, constant: true, value };
}

/** A shared rule (`$evaluators` entry) as compiled on first use. */
interface Evaluator {
  state: 'compiling' | 'done';
  node?: Node;
  depth: number;
}

/** Everything one flag set's compilation shares. */
export interface RuleCompilation {
  /** The set's `$evaluators`. */
  evaluators: Record<string, unknown>;
  compiled: Map<string, Evaluator>;
  problems: FlagProblem[];
  seen: Set<string>;
  maxDepth: number;
}

/** Starts compiling a flag set's rules. */
export function ruleCompilation(evaluators: Record<string, unknown>, maxDepth: number): RuleCompilation {
  return { evaluators, compiled: new Map(), problems: [], seen: new Set(), maxDepth };
}

/** JSON pointer escaping of one path segment. */
export function pointer(base: string, segment: string | number): string {
  if (typeof segment === 'number') return `${base}/${segment}`;
  if (!segment.includes('~') && !segment.includes('/')) return `${base}/${segment}`;
  return `${base}/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** Where compiling a node happens: its JSON pointer, nesting depth and whether its value is the flag's variant. */
interface Site {
  path: string;
  depth: number;
  /** The flag's variant names when this node's value is the targeting result (checked when literal), else undefined. */
  variants: readonly string[] | undefined;
  /** `$ref` names being compiled, to report cycles. */
  refs: readonly string[];
}

function problem(c: RuleCompilation, path: string, message: string): void {
  const id = `${path}\u0000${message}`;
  if (c.seen.has(id)) return;
  c.seen.add(id);
  c.problems.push({ path, message });
}

const FAILED: Node = constant(null);
/** A `var` without a default: its default is null. */
const NO_DEFAULT: Node = constant(null);
const NO_REFS: readonly string[] = [];

function checkVariant(c: RuleCompilation, site: Site, value: unknown): void {
  if (!site.variants || value === null || value === undefined) return;
  if (typeof value === 'object') {
    problem(c, site.path, 'targeting returns an object or list here, which names no variant');
    return;
  }
  const name = String(value);
  if (!site.variants.includes(name)) {
    const hint = closest(name, site.variants);
    problem(c, site.path, `targeting returns "${name}", which is not one of the flag's variants (${site.variants.join(', ')})` +
      (hint ? `; did you mean "${hint}"?` : ''));
  }
}

/**
 * Compiles one targeting rule (or any JSONLogic value) at `path`. Problems go to `c.problems`; the closure is only
 * meaningful when there are none.
 */
export function compileRule(c: RuleCompilation, logic: unknown, path: string, variants?: readonly string[]): { rule: Rule; depth: number } {
  const depth = { max: 0 };
  const node = compileNode(c, logic, { path, depth: 0, variants, refs: NO_REFS }, depth);
  return { rule: node.ev, depth: depth.max };
}

function compileNode(c: RuleCompilation, logic: unknown, site: Site, depth: { max: number }): Node {
  if (site.depth > depth.max) depth.max = site.depth;
  if (site.depth > c.maxDepth) {
    problem(c, site.path, `rules are nested more than ${c.maxDepth} deep (counting through $ref)`);
    return FAILED;
  }
  // Leaves (plain values and lists of them) are most nodes: they are compiled here, and what holds closures over this
  // compilation (lists of rules, operators) in functions of their own, so a leaf allocates no closure context.
  if (Array.isArray(logic)) {
    // A list of plain values (the usual "in" list) is a constant as it stands.
    let plain = true;
    for (let i = 0; i < logic.length && plain; i++) plain = logic[i] === null || typeof logic[i] !== 'object';
    if (plain) {
      if (site.depth + 1 > depth.max) depth.max = site.depth + 1;
      checkVariant(c, site, logic);
      return constant(logic);
    }
    return compileList(c, logic, site, depth);
  }
  if (logic === null || typeof logic !== 'object') {
    checkVariant(c, site, logic);
    return constant(logic);
  }
  return compileOperator(c, logic, site, depth);
}

/** A list holding rules: each item compiled, and the list a constant if they all are. */
function compileList(c: RuleCompilation, logic: unknown[], site: Site, depth: { max: number }): Node {
  const items = logic.map((item, i) =>
    compileNode(c, item, { path: pointer(site.path, i), depth: site.depth + 1, variants: undefined, refs: site.refs }, depth));
  if (items.every((n) => n.constant)) {
    const value = items.map((n) => n.value);
    checkVariant(c, site, value);
    return constant(value);
  }
  const evs = items.map((n) => n.ev);
  return {
    ev: (ctx, env) => {
      const out = new Array<unknown>(evs.length);
      for (let i = 0; i < evs.length; i++) out[i] = evs[i]!(ctx, env);
      return out;
    },
    constant: false,
  };
}

/** Argument `i` of the operator at `inner`; `variants` when its value is the flag's variant. */
function compileArg(c: RuleCompilation, args: unknown[], i: number, inner: Site, depth: { max: number }, variants?: readonly string[]): Node {
  return compileNode(c, args[i], { path: pointer(inner.path, i), depth: inner.depth, variants, refs: inner.refs }, depth);
}

function compileArgs(c: RuleCompilation, args: unknown[], inner: Site, depth: { max: number }): Node[] {
  const parts = new Array<Node>(args.length);
  for (let i = 0; i < args.length; i++) parts[i] = compileArg(c, args, i, inner, depth);
  return parts;
}

/**
 * An object: one operator and its arguments (or a `$ref`), checked and compiled. Arguments are compiled by the
 * functions above rather than by closures here, which would give every operator a context to allocate.
 */
function compileOperator(c: RuleCompilation, logic: object, site: Site, depth: { max: number }): Node {
  // The own keys are counted, not listed (Object.keys would allocate a list for every object of every rule).
  let op = '';
  let count = 0;
  for (const k in logic) if (Object.hasOwn(logic, k) && count++ === 0) op = k;
  if (count === 0) return constant(logic);
  if (count > 1) {
    const keys = Object.keys(logic);
    problem(c, site.path, `a rule has exactly one operator; this object has ${keys.length} keys (${keys.slice(0, 5).join(', ')})`);
    return FAILED;
  }
  const args = (logic as Record<string, unknown>)[op];
  const at = pointer(site.path, op);
  if (op === '$ref') return compileRef(c, args, site, at, depth);
  if (!(OPERATORS as readonly string[]).includes(op)) {
    if (UNSUPPORTED.includes(op)) {
      problem(c, at, `operator "${op}" is not supported in Sluice's flag rules; use one of ${OPERATORS.join(', ')}`);
    } else {
      const hint = closest(op, [...OPERATORS, '$ref']);
      problem(c, at, `unknown operator "${op}"` + (hint ? `; did you mean "${hint}"?` : `; known: ${OPERATORS.join(', ')}`));
    }
    return FAILED;
  }
  const inner: Site = { path: at, depth: site.depth + 1, variants: undefined, refs: site.refs };
  const before = c.problems.length;
  let node: Node;
  switch (op) {
    case 'var':
      node = compileVar(c, args, at, inner, depth);
      break;
    case 'missing':
    case 'missing_some':
      node = compileMissing(c, op, args, at);
      break;
    case 'if':
    case '?:': {
      if (!Array.isArray(args) || args.length < 3) {
        problem(c, at, `"${op}" takes a list of at least 3: a condition, the value when true, and the value otherwise (null for none)`);
        return FAILED;
      }
      const parts: Node[] = [];
      for (let i = 0; i < args.length; i++) {
        const isResult = i % 2 === 1 || i === args.length - 1;
        parts.push(compileArg(c, args, i, inner, depth, isResult ? site.variants : undefined));
      }
      if (args.length % 2 === 0) parts.push(constant(null));
      node = compileIf(parts);
      break;
    }
    case '==':
    case '===':
    case '!=':
    case '!==':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      if (!Array.isArray(args) || args.length < 2) {
        problem(c, at, `"${op}" compares at least 2 values: give it a list, e.g. {"${op}": [{"var": "plan"}, "pro"]}`);
        return FAILED;
      }
      node = compileComparison(op, compileArgs(c, args, inner, depth));
      break;
    }
    case '!':
    case '!!': {
      if (Array.isArray(args) && args.length !== 1) {
        problem(c, at, `"${op}" takes one value`);
        return FAILED;
      }
      const x = Array.isArray(args) ? compileArg(c, args, 0, inner, depth) : compileNode(c, args, inner, depth);
      const negate = op === '!';
      node = { ev: negate ? (ctx, env) => !truthy(x.ev(ctx, env)) : (ctx, env) => truthy(x.ev(ctx, env)), constant: x.constant };
      break;
    }
    case 'and':
    case 'or': {
      if (!Array.isArray(args) || args.length === 0) {
        problem(c, at, `"${op}" takes a non-empty list of conditions`);
        return FAILED;
      }
      node = compileAndOr(op === 'and', compileArgs(c, args, inner, depth));
      break;
    }
    case 'in': {
      if (!Array.isArray(args) || args.length !== 2) {
        problem(c, at, '"in" takes 2 values: the item and a list (or a string to search), e.g. {"in": [{"var": "region"}, ["eu-west", "eu-north"]]}');
        return FAILED;
      }
      node = compileIn(compileArg(c, args, 0, inner, depth), compileArg(c, args, 1, inner, depth));
      break;
    }
    case 'cat': {
      if (typeof args === 'string' || typeof args === 'number') return constant(String(args));
      if (!Array.isArray(args)) {
        problem(c, at, '"cat" takes a list of values to join');
        return FAILED;
      }
      node = compileCat(compileArgs(c, args, inner, depth));
      break;
    }
    case 'starts_with':
    case 'ends_with': {
      if (!Array.isArray(args) || args.length !== 2) {
        problem(c, at, `"${op}" takes 2 values: the string and the ${op === 'starts_with' ? 'prefix' : 'suffix'}`);
        return FAILED;
      }
      const [s, p] = compileArgs(c, args, inner, depth) as [Node, Node];
      const starts = op === 'starts_with';
      node = {
        ev: (ctx, env) => {
          const a = s.ev(ctx, env);
          const b = p.ev(ctx, env);
          if (typeof a !== 'string' || typeof b !== 'string') return null;
          return starts ? a.startsWith(b) : a.endsWith(b);
        },
        constant: false,
      };
      break;
    }
    case 'sem_ver': {
      if (!Array.isArray(args) || args.length !== 3) {
        problem(c, at, '"sem_ver" takes 3 values: a version, an operator and a version, e.g. {"sem_ver": [{"var": "appVersion"}, ">=", "2.1.0"]}');
        return FAILED;
      }
      if (typeof args[1] !== 'string' || !(SEM_VER_OPERATORS as readonly string[]).includes(args[1])) {
        problem(c, pointer(at, 1), `"sem_ver" operator must be one of ${SEM_VER_OPERATORS.join(' ')}`);
        return FAILED;
      }
      const [l, o, r] = compileArgs(c, args, inner, depth) as [Node, Node, Node];
      node = { ev: (ctx, env) => semVerMatch(l.ev(ctx, env), o.ev(ctx, env), r.ev(ctx, env)), constant: false };
      break;
    }
    case 'fractional':
      node = compileFractional(c, args, at, inner, depth, site.variants);
      break;
    default:
      throw new Error(`unhandled operator ${op}`);
  }
  if (c.problems.length > before) return FAILED;
  if (node.constant && node !== FAILED) {
    try {
      const value = op === 'cat' ? interpretedCat(node) : isComparison(op) ? foldComparison(op, node) : node.ev({}, FOLD_ENV);
      checkVariant(c, site, value);
      return constant(value);
    } catch (e) {
      problem(c, at, `this rule always fails when evaluated (${(e as Error).message ?? String(e)}); flagd would refuse it too`);
      return FAILED;
    }
  }
  return node;
}

const FOLD_ENV: RuleEnv = { flagKey: '', keyHash: murmur3Prefix(''), now: 0 };

function isComparison(op: string): boolean {
  return op in COMPARISONS;
}

// Constant folding needs the operands' values, which the compiled node does not expose; it keeps them here.
const foldValues = new WeakMap<Node, unknown[]>();

function foldComparison(op: string, node: Node): boolean {
  return interpretedCompare(op, foldValues.get(node)!);
}

function interpretedCat(node: Node): string {
  let res = '';
  for (const v of foldValues.get(node)!) if (v !== null && v !== undefined) res += String(v);
  return res;
}

function compileRef(c: RuleCompilation, name: unknown, site: Site, at: string, depth: { max: number }): Node {
  if (typeof name !== 'string') {
    problem(c, at, '"$ref" names a shared rule in $evaluators: give it a string');
    return FAILED;
  }
  if (!Object.hasOwn(c.evaluators, name)) {
    const hint = closest(name, Object.keys(c.evaluators));
    problem(c, at, `"$ref" to "${name}", which is not in $evaluators` + (hint ? `; did you mean "${hint}"?` : ''));
    return FAILED;
  }
  if (site.refs.includes(name)) {
    problem(c, at, `"$ref" cycle: ${[...site.refs, name].join(' → ')}`);
    return FAILED;
  }
  let ev = c.compiled.get(name);
  if (ev?.state === 'compiling') {
    problem(c, at, `"$ref" cycle: ${[...site.refs, name].join(' → ')}`);
    return FAILED;
  }
  if (!ev) {
    ev = { state: 'compiling', depth: 0 };
    c.compiled.set(name, ev);
    const d = { max: 0 };
    const at0: Site = { path: pointer('/$evaluators', name), depth: 0, variants: undefined, refs: [...site.refs, name] };
    ev.node = compileNode(c, c.evaluators[name], at0, d);
    ev.depth = d.max;
    ev.state = 'done';
  }
  const total = site.depth + ev.depth;
  if (total > depth.max) depth.max = total;
  if (total > c.maxDepth) {
    problem(c, at, `rules are nested more than ${c.maxDepth} deep (counting through $ref "${name}")`);
    return FAILED;
  }
  const node = ev.node!;
  if (node.constant) checkVariant(c, site, node.value);
  return node;
}

function compileVar(c: RuleCompilation, args: unknown, at: string, inner: Site, depth: { max: number }): Node {
  let key: unknown = args;
  let fallback = NO_DEFAULT;
  if (Array.isArray(args)) {
    if (args.length > 2) {
      problem(c, at, '"var" takes an attribute path and, optionally, a default: ["plan", "free"]');
      return FAILED;
    }
    key = args[0];
    if (args.length === 2 && args[1] !== undefined && args[1] !== null) {
      fallback = compileNode(c, args[1], { path: pointer(at, 1), depth: inner.depth, variants: undefined, refs: inner.refs }, depth);
    }
  }
  if (key === undefined || key === null || key === '') {
    // The whole context, as flagd's targeting sees it.
    return { ev: (ctx, env) => fullContext(ctx, env), constant: false };
  }
  if (typeof key !== 'string' && typeof key !== 'number') {
    problem(c, at, '"var" takes an attribute path (a string such as "customer.region"), not a computed value');
    return FAILED;
  }
  const path = String(key);
  if (path.includes('../')) {
    problem(c, at, `"var" path "${path}" climbs out of an iteration, which Sluice's rules do not have`);
    return FAILED;
  }
  const read = attributeReader(splitPath(path));
  const dflt = fallback.ev;
  if (fallback.constant && (fallback.value === null || fallback.value === undefined)) {
    return {
      ev: (ctx, env) => {
        let v = read(ctx, env);
        if (v === undefined) v = null;
        prev = v;
        return typeof v === 'function' ? null : v;
      },
      constant: false,
    };
  }
  return {
    ev: (ctx, env) => {
      let v = read(ctx, env);
      if (v === undefined || v === null) v = dflt(ctx, env);
      prev = v;
      return typeof v === 'function' ? null : v;
    },
    constant: false,
  };
}

function compileMissing(c: RuleCompilation, op: 'missing' | 'missing_some', args: unknown, at: string): Node {
  let need = 0;
  let keys: unknown = args;
  if (op === 'missing_some') {
    if (!Array.isArray(args) || args.length !== 2 || typeof args[0] !== 'number' || !Array.isArray(args[1])) {
      problem(c, at, '"missing_some" takes [how many are needed, [attribute paths]]');
      return FAILED;
    }
    need = args[0];
    keys = args[1];
  } else if (typeof args === 'string' || typeof args === 'number') keys = [args];
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' || typeof k === 'number')) {
    problem(c, at, `"${op}" takes a list of attribute paths (strings)`);
    return FAILED;
  }
  const list = keys as Array<string | number>;
  if (list.length === 0 && op === 'missing') return constant([]);
  const paths = list.map((k) => splitPath(String(k)));
  const usesFlagd = paths.some((p) => p[0] === '$flagd');
  const missing = (ctx: Readonly<Record<string, unknown>>, env: RuleEnv): unknown[] => {
    const data = usesFlagd ? fullContext(ctx, env) : ctx;
    const out: unknown[] = [];
    for (let i = 0; i < paths.length; i++) {
      const pieces = paths[i]!;
      let v: unknown = data;
      let found = true;
      for (let j = 0; j < pieces.length; j++) {
        if (!v) {
          found = false;
          break;
        }
        v = (v as Record<string, unknown>)[pieces[j]!];
        if (v === undefined) {
          found = false;
          break;
        }
      }
      if (!found) out.push(list[i]);
    }
    return out;
  };
  if (op === 'missing') return { ev: missing, constant: false };
  const n = list.length;
  return {
    ev: (ctx, env) => {
      const m = missing(ctx, env);
      prev = m;
      return n - m.length < need ? m : [];
    },
    constant: false,
  };
}

function compileIf(parts: Node[]): Node {
  const allConstant = parts.every((p) => p.constant);
  if (parts.length === 3) {
    const [cond, yes, no] = parts.map((p) => p.ev) as [Rule, Rule, Rule];
    return { ev: (ctx, env) => (truthy(cond(ctx, env)) ? yes(ctx, env) : no(ctx, env)), constant: allConstant };
  }
  const evs = parts.map((p) => p.ev);
  const last = evs.length - 1;
  return {
    ev: (ctx, env) => {
      for (let i = 0; i < last; i += 2) if (truthy(evs[i]!(ctx, env))) return evs[i + 1]!(ctx, env);
      return evs[last]!(ctx, env);
    },
    constant: allConstant,
  };
}

function compileComparison(op: string, parts: Node[]): Node {
  const f = COMPARISONS[op]!;
  const strict = op.length === 3;
  const evs = parts.map((p) => p.ev);
  let node: Node;
  if (evs.length === 2) {
    const [left, right] = evs as [Rule, Rule];
    node = {
      ev: (ctx, env) => {
        const a = left(ctx, env);
        prev = a;
        const b = right(ctx, env);
        return f(a, compareCheck(b, prev, strict));
      },
      constant: false,
    };
  } else {
    node = {
      ev: (ctx, env) => {
        const a = evs[0]!(ctx, env);
        prev = a;
        const b = evs[1]!(ctx, env);
        const checked = compareCheck(b, prev, strict);
        prev = checked;
        if (!f(a, checked)) return false;
        for (let i = 2; i < evs.length; i++) {
          const left = prev;
          const v = evs[i]!(ctx, env);
          const next = compareCheck(v, prev, strict);
          prev = next;
          if (!f(left, next)) return false;
        }
        return true;
      },
      constant: false,
    };
  }
  if (parts.every((p) => p.constant)) {
    node.constant = true;
    foldValues.set(node, parts.map((p) => p.value));
  }
  return node;
}

function compileAndOr(isAnd: boolean, parts: Node[]): Node {
  const evs = parts.map((p) => p.ev);
  const ev: Rule = isAnd
    ? (ctx, env) => {
      let item: unknown;
      for (let i = 0; i < evs.length; i++) {
        item = evs[i]!(ctx, env);
        prev = item;
        if (!truthy(item)) return item;
      }
      return item;
    }
    : (ctx, env) => {
      let item: unknown;
      for (let i = 0; i < evs.length; i++) {
        item = evs[i]!(ctx, env);
        prev = item;
        if (truthy(item)) return item;
      }
      return item;
    };
  return { ev, constant: parts.every((p) => p.constant) };
}

function compileIn(item: Node, list: Node): Node {
  const x = item.ev;
  if (list.constant && Array.isArray(list.value) && list.value.length > 8) {
    // A long constant list: a Set has the same SameValueZero equality as Array#includes, in O(1). It is built on
    // the rule's first use, so applying a change with many lists stays cheap.
    const values = list.value;
    let set: Set<unknown> | undefined;
    return { ev: (ctx, env) => (set ??= new Set(values)).has(x(ctx, env)), constant: item.constant };
  }
  const l = list.ev;
  return {
    ev: (ctx, env) => {
      const haystack = l(ctx, env) || [];
      const needle = x(ctx, env);
      const includes = (haystack as { includes?: unknown }).includes;
      if (typeof includes !== 'function') throw new TypeError('"in" needs a list or a string to search');
      return (includes as (v: unknown) => boolean).call(haystack, needle);
    },
    constant: item.constant && list.constant,
  };
}

function compileCat(parts: Node[]): Node {
  const evs = parts.map((p) => p.ev);
  const node: Node = {
    ev: (ctx, env) => {
      let res = '';
      for (let i = 0; i < evs.length; i++) res += evs[i]!(ctx, env);
      return res;
    },
    constant: parts.every((p) => p.constant),
  };
  if (node.constant) foldValues.set(node, parts.map((p) => p.value));
  return node;
}

const MAX_WEIGHT = 2147483647;

/** One bucket of a fractional split, once evaluated. */
interface Bucket {
  variant: string | number | boolean | null;
  weight: number;
}

/** flagd's `toBucketingList`: undefined when an entry is malformed (the whole split then gives null). */
function bucketsOf(from: readonly unknown[], start: number): { buckets: Bucket[]; total: number } | undefined {
  const buckets: Bucket[] = [];
  let total = 0;
  for (let i = start; i < from.length; i++) {
    const entry = from[i];
    if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2) return undefined;
    const v = entry[0];
    let variant: Bucket['variant'];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') variant = v;
    else if (v === null || v === undefined) variant = null;
    else return undefined;
    let weight = 1;
    if (entry.length >= 2) {
      const raw = entry[1];
      if (typeof raw !== 'number' || !Number.isInteger(raw)) return undefined;
      weight = Math.max(0, raw);
    }
    buckets.push({ variant, weight });
    total += weight;
  }
  return { buckets, total };
}

function pick(buckets: readonly Bucket[], total: number, hash: number): Bucket['variant'] {
  if (total > MAX_WEIGHT) return null;
  const bucket = bucketOfHash(hash, total);
  let sum = 0;
  for (let i = 0; i < buckets.length; i++) {
    sum += buckets[i]!.weight;
    if (sum > bucket) return buckets[i]!.variant;
  }
  return null;
}

function compileFractional(c: RuleCompilation, args: unknown, at: string, inner: Site, depth: { max: number },
  variants: readonly string[] | undefined): Node {
  if (!Array.isArray(args) || args.length === 0) {
    problem(c, at, '"fractional" takes a list of [variant, weight] buckets, optionally after a bucketing value');
    return FAILED;
  }
  const first = args[0];
  const explicitBy = !Array.isArray(first);
  if (explicitBy && typeof first !== 'string' && (first === null || typeof first !== 'object')) {
    problem(c, pointer(at, 0), '"fractional" buckets by a string (or a rule that gives one, e.g. {"var": "email"}), or by the targeting key when the first item is a bucket');
    return FAILED;
  }
  let total = 0;
  for (let i = explicitBy ? 1 : 0; i < args.length; i++) {
    const entry = args[i];
    // The bucket's path is built only for a problem: most buckets have none.
    if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2) {
      problem(c, pointer(at, i), 'a fractional bucket is [variant] or [variant, weight]');
      continue;
    }
    const v = entry[0];
    if (v !== null && typeof v === 'object' && (Array.isArray(v) || Object.keys(v).length !== 1)) {
      problem(c, pointer(pointer(at, i), 0), 'a bucket\'s variant is a variant name (or a rule that gives one)');
    } else if (v !== null && typeof v !== 'object' && variants && !variants.includes(String(v))) {
      checkVariant(c, { path: pointer(pointer(at, i), 0), depth: 0, variants, refs: NO_REFS }, v);
    }
    if (entry.length === 2) {
      const w = entry[1];
      if (typeof w === 'number') {
        if (!Number.isInteger(w)) problem(c, pointer(pointer(at, i), 1), `a bucket's weight is a whole number, not ${w}`);
        else total += Math.max(0, w);
      } else if (w === null || typeof w !== 'object' || Array.isArray(w)) problem(c, pointer(pointer(at, i), 1), 'a bucket\'s weight is a whole number');
    } else total += 1;
  }
  if (total > MAX_WEIGHT) problem(c, at, `the weights add up to ${total}, more than ${MAX_WEIGHT}`);
  if (explicitBy && args.length < 2) problem(c, at, '"fractional" needs at least one bucket after its bucketing value');
  const parts = compileArgs(c, args, inner, depth);
  const rest = parts.slice(explicitBy ? 1 : 0);
  if (rest.every((p) => p.constant)) {
    const list = bucketsOf(rest.map((p) => p.value), 0);
    if (!list) return FAILED;
    const { buckets, total: sum } = list;
    if (!explicitBy) {
      return {
        ev: (ctx, env) => {
          const tk = ctx.targetingKey;
          if (!tk) return null;
          return pick(buckets, sum, murmur3After(env.keyHash, typeof tk === 'string' ? tk : String(tk)));
        },
        constant: false,
      };
    }
    const by = parts[0]!;
    if (by.constant && typeof by.value === 'string') {
      const hash = murmur3(by.value);
      const result = pick(buckets, sum, hash);
      return { ev: () => result, constant: false };
    }
  }
  // The general form: every argument evaluated, then flagd's algorithm on the values.
  const evs = parts.map((p) => p.ev);
  return {
    ev: (ctx, env) => {
      const values = evs.map((e) => e(ctx, env));
      let by: string;
      let start: number;
      if (typeof values[0] === 'string') {
        by = values[0];
        start = 1;
      } else {
        const tk = ctx.targetingKey;
        if (!tk) return null;
        by = env.flagKey + String(tk);
        start = 0;
      }
      const list = bucketsOf(values, start);
      if (!list) return null;
      return pick(list.buckets, list.total, murmur3(by));
    },
    constant: false,
  };
}
