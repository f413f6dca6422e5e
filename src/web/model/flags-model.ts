import { dagColumns, type DagNode } from './dag-layout.js';
import { formatDuration } from './format.js';

/** One bucket of a `fractional` split: the variant it serves and its share of the traffic, in percent. */
export interface RolloutBucket {
  /** The variant's name; null: the bucket defers to the default variant. */
  variant: string | null;
  percent: number;
}

/** A stage's fractional split, as the flags page shows it: every bucket, and the treatment's share. */
export interface Rollout {
  buckets: RolloutBucket[];
  /** The variants counted as the treatment (see `treatmentVariants`). */
  treatment: string[];
  /** The treatment's share of the traffic that reaches the split, in percent (0 to 100). */
  percent: number;
}

/** What the flags page knows of a flag to decide its treatment. */
export interface FlagShape {
  type: 'boolean' | 'string' | 'number' | 'object';
  variants: Record<string, unknown>;
}

/**
 * The variants that are the treatment of a split: for a boolean flag those whose value is `true` (whatever their
 * names); for any other type every variant but the stage's default, which is what users get without the change.
 */
export function treatmentVariants(flag: FlagShape, defaultVariant: string): string[] {
  const names = Object.keys(flag.variants);
  if (flag.type === 'boolean') return names.filter((n) => flag.variants[n] === true);
  return names.filter((n) => n !== defaultVariant);
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The single operator of a JSONLogic node and its arguments, or undefined when it is not an operator node. */
function operatorOf(node: unknown): [string, unknown] | undefined {
  if (!isRecord(node)) return undefined;
  const keys = Object.keys(node);
  return keys.length === 1 ? [keys[0]!, node[keys[0]!]] : undefined;
}

/**
 * The `fractional` split a targeting rule is, or ends in: the rule itself, or the last "else" of an `if` chain
 * (nested too), as in `{"if": [{"$ref": "testers"}, "on", {"fractional": [...]}]}`. Undefined when there is none, or
 * when its buckets are not plain `[variant, weight]` pairs (a variant computed by a rule, a weight that is not a whole
 * number) or weigh nothing: the page then shows the rule, not a percentage it would have to guess.
 */
export function fractionalOf(targeting: unknown): RolloutBucket[] | undefined {
  let node = targeting;
  for (let depth = 0; depth < 64; depth++) {
    const op = operatorOf(node);
    if (!op) return undefined;
    const [name, args] = op;
    if ((name === 'if' || name === '?:') && Array.isArray(args) && args.length >= 3) {
      // An even-length chain has no final else: what does not match gets null, never a split.
      if (args.length % 2 === 0) return undefined;
      node = args[args.length - 1];
      continue;
    }
    if (name !== 'fractional' || !Array.isArray(args) || args.length === 0) return undefined;
    // flagd: a first item that is not a bucket is the value to bucket by.
    const buckets = Array.isArray(args[0]) ? args : args.slice(1);
    if (buckets.length === 0) return undefined;
    const weights: Array<{ variant: string | null; weight: number }> = [];
    for (const b of buckets) {
      if (!Array.isArray(b) || b.length === 0 || b.length > 2) return undefined;
      const v: unknown = b[0];
      if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
      const w: unknown = b.length === 2 ? b[1] : 1;
      if (typeof w !== 'number' || !Number.isInteger(w)) return undefined;
      weights.push({ variant: v === null ? null : String(v), weight: Math.max(0, w) });
    }
    const total = weights.reduce((n, b) => n + b.weight, 0);
    if (total === 0) return undefined;
    return weights.map((b) => ({ variant: b.variant, percent: (b.weight * 100) / total }));
  }
  return undefined;
}

/** The split of a stage's targeting, with the treatment's share, or undefined when its targeting has no plain split. */
export function rolloutOf(flag: FlagShape, stage: { defaultVariant: string; targeting?: unknown }): Rollout | undefined {
  const buckets = fractionalOf(stage.targeting);
  if (!buckets) return undefined;
  const treatment = treatmentVariants(flag, stage.defaultVariant);
  // A bucket of null serves the default variant, so it is the treatment only when the default is.
  const served = (b: RolloutBucket) => b.variant ?? stage.defaultVariant;
  const percent = buckets.filter((b) => treatment.includes(served(b))).reduce((n, b) => n + b.percent, 0);
  return { buckets, treatment, percent };
}

/** A percentage for people: whole when it is, else at most two decimals ("10%", "33.33%"). */
export function formatPercent(p: number): string {
  return `${Number(p.toFixed(2))}%`;
}

/**
 * The stages of the flags table in the board's order (by depth in the pipeline's DAG, then the file's order), then any
 * stage the flags know and the board does not.
 */
export function flagStageOrder(board: readonly DagNode[], flagStages: readonly string[]): string[] {
  const known = new Set(flagStages);
  const ordered = dagColumns(board).flat().map((s) => s.name).filter((s) => known.has(s));
  return [...ordered, ...flagStages.filter((s) => !ordered.includes(s))];
}

/** What the targeting field holds, read: a rule, "no targeting" (empty or `null`), or why it is not JSON. */
export type TargetingInput = { ok: true; targeting: unknown } | { ok: false; message: string };

/**
 * Where JSON text first stops being JSON (a character offset), or undefined when it is JSON. JSON.parse says what is
 * wrong but, in some engines (Node 20's), not where; this walks the grammar to say where.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  let stop = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    stop = i;
    throw new SyntaxError(`not JSON at ${i}`);
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = () => {
    i++;
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch < ' ') fail();
      if (ch === '"') return void i++;
      if (ch === '\\') {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
          }
          i++;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '-' || m[0] === '') fail();
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 512) fail();
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return number();
    fail();
  };
  try {
    value(0);
    ws();
    return i < text.length ? i : undefined;
  } catch {
    return Math.min(stop, text.length);
  }
}

/**
 * Reads the targeting textarea: empty or `null` removes the targeting; anything else must be JSON (the server then
 * checks it as a rule). The error says where, by line and column, as people see the text.
 */
export function parseTargeting(text: string): TargetingInput {
  if (text.trim() === '') return { ok: true, targeting: null };
  try {
    return { ok: true, targeting: JSON.parse(text) as unknown };
  } catch (e) {
    const at = jsonErrorOffset(text) ?? text.length;
    const before = text.slice(0, at).split('\n');
    const where = `line ${before.length} column ${before[before.length - 1]!.length + 1}`;
    return { ok: false, message: `Not valid JSON at ${where}: ${(e as Error).message}. Fix it, or leave the field empty for no targeting.` };
  }
}

/** The targeting as the textarea shows it: indented JSON, or empty when there is none. */
export function targetingText(targeting: unknown): string {
  return targeting === undefined || targeting === null ? '' : JSON.stringify(targeting, null, 2);
}

/** One problem the server found in a change: where (a JSON pointer, or the field) and what. */
export interface Problem {
  path: string;
  message: string;
}

/**
 * The problems of a refused change, from the error answer's `details`: a refused flag set lists `problems` (each at
 * its JSON pointer), a request that does not fit the API lists `issues`. Empty when the details name none.
 */
export function problemsOf(details: unknown): Problem[] {
  if (!isRecord(details)) return [];
  const list = Array.isArray(details.problems) ? details.problems : Array.isArray(details.issues) ? details.issues : [];
  const out: Problem[] = [];
  for (const p of list as unknown[]) {
    if (!isRecord(p) || typeof p.message !== 'string') continue;
    const path = Array.isArray(p.path) ? p.path.join('/') : typeof p.path === 'string' ? p.path : '';
    out.push({ path, message: p.message });
  }
  return out;
}

/** A flag's configuration in one stage, as the history's `flag.set` events carry it. */
interface StageConfig {
  state?: unknown;
  defaultVariant?: unknown;
  targeting?: unknown;
  fromFile?: unknown;
}

/** A change of the flag history, as the API lists it. */
export interface HistoryEvent {
  id: number;
  at: number;
  type: string;
  stage?: string | undefined;
  flag?: string | undefined;
  data: unknown;
  actor: unknown;
  reason: string;
  links: Record<string, string>;
}

/** A row of the history table: who, when, why, what (and the release or journey it relates to). */
export interface HistoryRow {
  id: number;
  at: number;
  who: string;
  why: string;
  /** Where: the stage, or "every stage" for a change of the declaration. */
  where: string;
  what: string;
  links: Record<string, string>;
}

/** Who made a change, as the audit trail shows people: the token's name and role, or Sluice and why. */
export function actorName(actor: unknown): string {
  if (!isRecord(actor)) return 'unknown';
  if (actor.kind === 'token') return `${String(actor.name)}${typeof actor.role === 'string' ? ` (${actor.role})` : ''}`;
  return `sluice${typeof actor.reason === 'string' ? ` (${actor.reason})` : ''}`;
}

const json = (v: unknown) => JSON.stringify(v);
const onOff = (state: unknown) => (state === 'ENABLED' ? 'on' : 'off');

/** What a stage's change did, against the config before it (undefined for the first change the history shows). */
function describeSet(cur: StageConfig, prev: StageConfig | undefined): string {
  const fromFile = cur.fromFile === true ? ' (from the flags file)' : '';
  if (!prev) {
    const t = cur.targeting === undefined ? 'no targeting' : `targeting ${json(cur.targeting)}`;
    return `set ${onOff(cur.state)}, default ${String(cur.defaultVariant)}, ${t}${fromFile}`;
  }
  const parts: string[] = [];
  if (cur.state !== prev.state) parts.push(cur.state === 'ENABLED' ? 'turned on' : 'turned off');
  if (cur.defaultVariant !== prev.defaultVariant) parts.push(`default ${String(prev.defaultVariant)} → ${String(cur.defaultVariant)}`);
  if (json(cur.targeting) !== json(prev.targeting))
    parts.push(cur.targeting === undefined ? 'targeting removed' : prev.targeting === undefined ? `targeting added: ${json(cur.targeting)}` : `targeting changed to ${json(cur.targeting)}`);
  return `${parts.length ? parts.join(', ') : 'saved unchanged'}${fromFile}`;
}

/** `ramp stepped, now 25%`, `ramp regressed, now 0%: the judge found …`, `ramp held at 5%: nodata, too little traffic …`. */
function describeRampEvent(verb: string, data: Record<string, unknown>): string {
  const percent = typeof data.percent === 'number' ? `${formatPercent(data.percent)}` : '?';
  const verdict = isRecord(data.verdict) ? data.verdict : undefined;
  const why = typeof data.reason === 'string' ? `: ${data.reason}` : verdict ? `: ${String(verdict.outcome)}, ${String(verdict.reason)}` : '';
  return verb === 'held' ? `ramp held at ${percent}${why}` : `ramp ${verb}, now ${percent}${why}`;
}

/**
 * The flag history as rows, newest first. A stage's change says what it changed against the one before it in the
 * history (turned off, default on → off, targeting changed); the oldest shown says the whole config.
 */
export function historyRows(events: readonly HistoryEvent[]): HistoryRow[] {
  const sorted = [...events].sort((a, b) => a.id - b.id);
  const last = new Map<string, StageConfig>();
  const rows: HistoryRow[] = [];
  for (const e of sorted) {
    const data = isRecord(e.data) ? e.data : {};
    let what: string;
    switch (e.type) {
      case 'flag.set': {
        const key = `${e.stage ?? ''}\u0000${e.flag ?? ''}`;
        what = describeSet(data, last.get(key));
        last.set(key, data);
        break;
      }
      case 'flag.define':
        what = `declared: ${String(data.type)}, variants ${json(data.variants)}${data.fromFile === true ? ' (from the flags file)' : ''}`;
        break;
      case 'flag.update':
        what = `declaration changed: ${String(data.type)}, variants ${json(data.variants)}`;
        break;
      case 'flag.remove':
        what = 'removed from every stage';
        break;
      case 'ramp.started':
      case 'ramp.stepped':
      case 'ramp.held':
      case 'ramp.regressed':
      case 'ramp.paused':
      case 'ramp.resumed':
      case 'ramp.completed':
      case 'ramp.aborted':
        what = describeRampEvent(e.type.slice(5), data);
        break;
      default:
        what = `${e.type}${e.data === null || e.data === undefined ? '' : ` ${json(e.data)}`}`;
    }
    rows.push({ id: e.id, at: e.at, who: actorName(e.actor), why: e.reason, where: e.stage ?? 'every stage', what, links: e.links });
  }
  return rows.reverse();
}

/** A guarded ramp as the flags page reads it (the API's `ramp` of a flag in a stage). */
export interface RampShape {
  plan: { treatment: string; control: string; steps: number[]; waitMs: number };
  run?: {
    status: 'running' | 'paused' | 'regressed' | 'completed' | 'aborted';
    step: number;
    percent: number;
    reason?: string;
    verdicts: Array<{ step: number; outcome: 'pass' | 'fail' | 'inconclusive' | 'nodata' }>;
  };
}

/** Where one step of a ramp is: judged and passed, serving now, found worse, stopped by a person, or still to come. */
export type RampStepState = 'passed' | 'current' | 'failed' | 'stopped' | 'pending';

/** Each step of a ramp with where it is. The step a run stopped at failed when it regressed, or paused on a failed verdict. */
export function rampSteps(r: RampShape): Array<{ percent: number; state: RampStepState }> {
  const run = r.run;
  const last = run?.verdicts.at(-1);
  const failedAt = (run?.status === 'regressed' || run?.status === 'paused') && last?.outcome === 'fail' ? last.step : -1;
  return r.plan.steps.map((percent, i) => {
    if (!run || i > run.step) return { percent, state: 'pending' };
    if (i < run.step || run.status === 'completed') return { percent, state: 'passed' };
    if (i === failedAt) return { percent, state: 'failed' };
    return { percent, state: run.status === 'aborted' ? 'stopped' : 'current' };
  });
}

/** One line for people on where a ramp is and what comes next. */
export function rampStatusText(r: RampShape, nextJudgementAt: number | null, now: number): string {
  const { plan, run } = r;
  const t = plan.treatment;
  if (!run) return `Declared, not started: ${plan.steps.map((p) => `${p}%`).join(' → ')} of ${t}, each step judged after ${formatDuration(plan.waitMs)}.`;
  const at = `${formatPercent(run.percent)} ${t} (step ${run.step + 1} of ${plan.steps.length})`;
  switch (run.status) {
    case 'running': {
      const due = nextJudgementAt === null ? '' : nextJudgementAt <= now ? '; judging now' : `; next judgement in ${formatDuration(Math.ceil((nextJudgementAt - now) / 1000) * 1000)}`;
      return `Running: ${at}${due}.`;
    }
    case 'paused':
      return `Paused at ${at}: ${run.reason ?? 'no reason given'}.`;
    case 'regressed':
      return `Regressed, back to 0% ${t}: ${run.reason ?? 'the judge found it worse'}.`;
    case 'completed':
      return `Completed: ${t} for everyone.`;
    case 'aborted':
      return `Aborted at ${at}: ${run.reason ?? 'no reason given'}. The targeting from before the ramp is back.`;
  }
}
