import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { parseDuration } from '../kernel/duration.js';
import { SluiceError } from '../kernel/errors.js';
import { type AnalysisPlan, analysisPlan, type CanaryPlan, type CanaryStepPlan, guardPlan } from '../rollout/rollout-plan.js';
import type { AnalysisInput } from '../rollout/rollout-schema.js';
import { DEFAULT_SCRAPE_INTERVAL_MS, SCRAPES_PER_WINDOW, windowFloorMs } from '../rollout/ports/metrics-provider.js';
import { formatPromDuration, literalRanges } from '../rollout/promql-ranges.js';
import { type NotificationKind, type PipelineFile, pipelineSchema, type StageInput, type Weekday } from './pipeline-schema.js';
import type { Role } from '../kernel/actor.js';
import { closest } from '../kernel/suggest.js';

/** One command to run: a commit step or a verify step. */
export interface CommandSpec {
  name: string;
  run: string;
  timeoutMs: number;
}

export interface LocalTargetPlan {
  start: string;
  instances: number;
  healthPath: string;
  healthTimeoutMs: number;
  stopTimeoutMs: number;
  /** The user instances run as (Sluice must run as root); absent: Sluice's own user. */
  user?: string;
}

export interface CommandTargetPlan {
  deploy: string;
  rollback?: string;
  health?: string;
  url?: string;
  timeoutMs: number;
}

export type { AnalysisPlan, CanaryPlan, CanaryStepPlan, GuardPlan, MetricRef } from '../rollout/rollout-plan.js';

/** When a stage may start deploying: on `days`, from `from` to `to` (HH:MM) in `timeZone`; `to` <= `from` runs past midnight. */
export interface DeployWindowPlan {
  days: Weekday[];
  from: string;
  to: string;
  timeZone: string;
}

/** A span (epoch ms, `to` excluded) in which the stage starts no deploy, and why. */
export interface FreezePlan {
  from: number;
  to: number;
  reason: string;
}

/** A stage's protection rules. Absent in plans recorded before they existed, and when the file sets none. */
export interface ProtectionPlan {
  /** Roles that may promote into the stage besides admin; any role when absent. */
  promote?: Role[];
  /** Roles that may approve or reject at the stage besides admin; any role when absent. */
  approve?: Role[];
  /** Distinct tokens that must approve at each approval gate of the stage. */
  approvals: number;
  /** The token that created the release may not approve it. */
  separateApprover: boolean;
  /** When not empty, the stage starts deploying only inside one of them. */
  windows: DeployWindowPlan[];
  freezes: FreezePlan[];
}

export type { Weekday } from './pipeline-schema.js';

/** A stage after layering `defaults` and `extends`: everything the engine needs, with no references left. */
export interface StagePlan {
  name: string;
  after: string[];
  target: 'local' | 'command';
  env: Record<string, string>;
  /** Names of the stage's secrets (their values are in the secret store); absent when it has none. */
  secrets?: string[];
  config: Record<string, unknown>;
  local?: LocalTargetPlan;
  command?: CommandTargetPlan;
  verify: CommandSpec[];
  /** A person approves after verify and bake. */
  approval: boolean;
  /** A person approves before the stage deploys (absent in older plans: false). */
  approvalBeforeDeploy?: boolean;
  protection?: ProtectionPlan;
  bakeMs: number;
  autoPromote: boolean;
  /** Present when the stage rolls out as a canary; absent for all-at-once. */
  canary?: CanaryPlan;
}

/** The resolved pipeline. A journey keeps the plan it started with, so editing the file never changes a running journey. */
export interface NotifyTarget {
  kind: 'webhook' | 'slack';
  url: string;
  /** Only notifications about these stages ('commit' for the commit checks); all when absent. */
  stages?: string[];
  /** Only notifications of these kinds; all when absent. */
  on?: NotificationKind[];
}

export interface Plan {
  app: string;
  /** Absent in plans recorded before notifications existed. */
  notify?: NotifyTarget[];
  /** The Prometheus server that `{ prometheus: query }` metrics ask. */
  prometheusUrl?: string;
  /** How often that server scrapes (ms); {{window}} is never shorter than four scrapes. Absent in older plans: 15 s. */
  prometheusScrapeIntervalMs?: number;
  artifact: { build?: string; output: string };
  commit: { budgetMs: number; steps: CommandSpec[] };
  /** In a topological order of `after`, ties kept in file order. */
  stages: StagePlan[];
}

/** One problem in a pipeline file, located by line and column (1-based). */
export interface PipelineIssue {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

const DEFAULT_COMMIT_BUDGET_MS = 5 * 60_000;
const DEFAULT_STEP_TIMEOUT_MS = 10 * 60_000;
const RESERVED_STAGE_NAMES = new Set(['commit']);

/** Renders issues as `file:line:col: path: message` lines. */
export function formatIssues(issues: readonly PipelineIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

/**
 * Parses and validates a pipeline file and resolves it to a Plan.
 * Throws a SluiceError PIPELINE_INVALID whose details.issues locate every problem found.
 */
export function parsePipeline(text: string, file = 'sluice.yaml'): Plan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const fail = (issues: PipelineIssue[]): never => {
    throw new SluiceError('PIPELINE_INVALID', `${file} is invalid:\n${formatIssues(issues)}`, { issues });
  };

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
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    fail([{ file, line: 1, col: 1, path: '', message: (e as Error).message }]);
  }
  if (raw === null || raw === undefined) fail([{ file, line: 1, col: 1, path: '', message: 'the file is empty' }]);

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
  const issue = (path: readonly PropertyKey[], message: string, key?: string): PipelineIssue => ({
    file,
    ...locate(path, key),
    path: [...path, ...(key !== undefined ? [key] : [])].map(String).join('.'),
    message,
  });

  const parsed = pipelineSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // A misspelt key says it all: the "one of" rule of the same object would only repeat it.
    const misspelt = new Set(parsed.error.issues.filter((i) => i.code === 'unrecognized_keys').map((i) => i.path.join('.')));
    const issues = parsed.error.issues.filter((i) => i.code !== 'custom' || !misspelt.has(i.path.join('.')));
    fail(issues.flatMap((i) => zodIssueToPipelineIssues(i, issue)));
  }
  const pf = parsed.data as PipelineFile;

  const issues: PipelineIssue[] = [];
  const names = Object.keys(pf.stages);
  if (names.length === 0) issues.push(issue(['stages'], 'declare at least one stage'));
  for (const name of names) {
    if (RESERVED_STAGE_NAMES.has(name))
      issues.push(issue(['stages'], `"${name}" is reserved for the commit stage`, name));
    const st = pf.stages[name]!;
    const after = st.after === undefined ? [] : Array.isArray(st.after) ? st.after : [st.after];
    after.forEach((parent, idx) => {
      const path = Array.isArray(st.after) ? ['stages', name, 'after', idx] : ['stages', name, 'after'];
      if (parent === name) issues.push(issue(path, `stage "${name}" cannot come after itself`));
      else if (!Object.hasOwn(pf.stages, parent)) issues.push(issue(path, unknownName('stage', parent, names)));
    });
    if (st.extends !== undefined) {
      if (st.extends === name) issues.push(issue(['stages', name, 'extends'], `stage "${name}" cannot extend itself`));
      else if (!Object.hasOwn(pf.stages, st.extends))
        issues.push(issue(['stages', name, 'extends'], unknownName('stage', st.extends, names)));
    }
  }
  (pf.notify ?? []).forEach((n, i) =>
    n.stages?.forEach((stage, j) => {
      if (!Object.hasOwn(pf.stages, stage) && !RESERVED_STAGE_NAMES.has(stage))
        issues.push(issue(['notify', i, 'stages', j], unknownName('stage', stage, [...names, ...RESERVED_STAGE_NAMES])));
    }),
  );
  const scrapeInterval = pf.metrics?.prometheus?.scrapeInterval;
  const scrapeIntervalMs = scrapeInterval === undefined ? DEFAULT_SCRAPE_INTERVAL_MS : parseDuration(scrapeInterval);
  // A literal range under rate() cannot be widened the way {{window}} is: one shorter than four scrapes is refused.
  const checkRanges = (a: AnalysisInput, path: PropertyKey[]) => {
    if (!pf.metrics?.prometheus) return; // an analysis asking Prometheus without one is reported by itself
    for (const kind of ['thresholds', 'compare'] as const)
      (a[kind] ?? []).forEach((m, i) => {
        if (typeof m.metric === 'string') return;
        for (const r of literalRanges(m.metric.prometheus)) {
          if (r.ms >= windowFloorMs(scrapeIntervalMs)) continue;
          const said = scrapeInterval === undefined ? "Prometheus' default scrape interval; set metrics.prometheus.scrapeInterval if yours scrapes more often" : 'metrics.prometheus.scrapeInterval';
          const floor = formatPromDuration(windowFloorMs(scrapeIntervalMs));
          issues.push(
            issue(
              [...path, kind, i, 'metric', 'prometheus'],
              `${r.fn}() over [${r.text}] is shorter than ${SCRAPES_PER_WINDOW} scrape intervals of ${formatPromDuration(scrapeIntervalMs)} (${said}), and has no value whenever it holds fewer than two samples: ` +
                `write [{{window}}], which Sluice widens to at least ${floor}, or a range of ${floor} or more`,
            ),
          );
        }
      });
  };
  for (const [name, a] of Object.entries(pf.analyses ?? {})) checkRanges(a, ['analyses', name]);
  if (issues.length > 0) fail(issues);

  const cycle = findCycle(names, (n) => toList(pf.stages[n]!.after));
  if (cycle) fail([issue(['stages', cycle[0]!, 'after'], `stages form a cycle: ${cycle.join(' → ')}`)]);
  const extCycle = findCycle(names, (n) => toList(pf.stages[n]!.extends));
  if (extCycle) fail([issue(['stages', extCycle[0]!, 'extends'], `extends forms a cycle: ${extCycle.join(' → ')}`)]);

  const stages: StagePlan[] = [];
  for (const name of topoOrder(names, (n) => toList(pf.stages[n]!.after))) {
    const fields = layered(pf, name);
    const target = fields.target ?? 'local';
    const stagePath = ['stages', name];
    const plan: StagePlan = {
      name,
      after: toList(pf.stages[name]!.after),
      target,
      env: Object.fromEntries(Object.entries(fields.env ?? {}).map(([k, v]) => [k, String(v)])),
      config: fields.config ?? {},
      verify: commandSpecs(fields.verify),
      approval: typeof fields.approval === 'object' ? fields.approval.after === 'verify' : (fields.approval ?? false),
      bakeMs: fields.bake === undefined ? 0 : parseDuration(fields.bake),
      autoPromote: fields.autoPromote ?? true,
      ...(typeof fields.approval === 'object' && fields.approval.before === 'deploy' ? { approvalBeforeDeploy: true } : {}),
      ...(fields.protection ? { protection: protectionPlan(fields.protection) } : {}),
    };
    if (fields.secrets?.length) {
      plan.secrets = [...new Set(fields.secrets)];
      fields.secrets.forEach((n, i) => {
        if (n in plan.env) issues.push(issue([...stagePath, 'secrets', i], `${n} is both in env and in secrets; keep it in one`));
      });
    }
    const strategy = fields.strategy;
    if (strategy?.canary) {
      const c = strategy.canary;
      const resolve = (ref: string | AnalysisInput, path: PropertyKey[]): AnalysisPlan | undefined => {
        if (typeof ref !== 'string') {
          checkRanges(ref, path);
          return analysisPlan(`${name}-analysis`, ref);
        }
        const a = pf.analyses?.[ref];
        if (!a) {
          issues.push(issue(path, unknownName('analysis', ref, Object.keys(pf.analyses ?? {}))));
          return undefined;
        }
        return analysisPlan(ref, a);
      };
      const steps: CanaryStepPlan[] = [];
      c.steps.forEach((st, i) => {
        const path = [...stagePath, 'strategy', 'canary', 'steps', i];
        if (st.setWeight !== undefined) steps.push({ kind: 'setWeight', weight: st.setWeight });
        else if (st.pause)
          steps.push({ kind: 'pause', ...(st.pause.duration !== undefined ? { durationMs: parseDuration(st.pause.duration) } : {}) });
        else if (st.analysis !== undefined) {
          const a = resolve(st.analysis, [...path, 'analysis']);
          if (a) steps.push({ kind: 'analysis', analysis: a });
        }
      });
      const needsPrometheus = (a: AnalysisPlan | undefined) => a !== undefined && [...a.thresholds, ...a.compare].some((m) => typeof m.metric !== 'string');
      const background = c.analysis === undefined ? undefined : resolve(c.analysis, [...stagePath, 'strategy', 'canary', 'analysis']);
      if (target !== 'local') issues.push(issue([...stagePath, 'strategy'], 'a canary needs target "local": the built-in router splits the traffic'));
      if (!pf.metrics?.prometheus && [background, ...steps.map((x) => (x.kind === 'analysis' ? x.analysis : undefined))].some(needsPrometheus))
        issues.push(issue([...stagePath, 'strategy'], 'an analysis asks Prometheus, but metrics.prometheus.url is not set'));
      const guard = guardPlan(c.guard);
      const canary: CanaryPlan = { preview: false, instances: c.instances ?? 1, sticky: c.sticky ?? 'cookie', steps, ...(background ? { background } : {}), ...(guard ? { guard } : {}) };
      plan.canary = canary;
    } else if (strategy?.blueGreen) {
      if (target !== 'local') issues.push(issue([...stagePath, 'strategy'], 'blue-green needs target "local": the built-in router switches the traffic'));
      plan.canary = {
        preview: true,
        instances: fields.local?.instances ?? 1,
        sticky: 'none',
        steps: strategy.blueGreen.autoSwitch === false ? [{ kind: 'pause' }] : [],
      };
    }
    if (target === 'local') {
      if (!fields.local?.start) {
        issues.push(
          issue(stagePath, 'target "local" needs local.start, the command that starts one instance on $PORT'),
        );
      } else {
        plan.local = {
          start: fields.local.start,
          instances: fields.local.instances ?? 1,
          healthPath: fields.local.health?.path ?? '/healthz',
          healthTimeoutMs: parseDuration(fields.local.health?.timeout ?? '30s'),
          stopTimeoutMs: parseDuration(fields.local.stopTimeout ?? '10s'),
          ...(fields.local.user ? { user: fields.local.user } : {}),
        };
      }
    } else if (!fields.command?.deploy) {
      issues.push(issue(stagePath, 'target "command" needs command.deploy'));
    } else {
      plan.command = {
        deploy: fields.command.deploy,
        timeoutMs: parseDuration(fields.command.timeout ?? '10m'),
        ...(fields.command.rollback ? { rollback: fields.command.rollback } : {}),
        ...(fields.command.health ? { health: fields.command.health } : {}),
        ...(fields.command.url ? { url: fields.command.url } : {}),
      };
    }
    stages.push(plan);
  }
  if (issues.length > 0) fail(issues);

  return {
    app: pf.app,
    ...(pf.metrics?.prometheus ? { prometheusUrl: pf.metrics.prometheus.url, prometheusScrapeIntervalMs: scrapeIntervalMs } : {}),
    notify: (pf.notify ?? []).map((n) => ({
      ...(n.webhook !== undefined ? { kind: 'webhook' as const, url: n.webhook } : { kind: 'slack' as const, url: n.slack! }),
      ...(n.stages ? { stages: n.stages } : {}),
      ...(n.on ? { on: n.on } : {}),
    })),
    artifact: { output: pf.artifact.output, ...(pf.artifact.build ? { build: pf.artifact.build } : {}) },
    commit: {
      budgetMs: pf.commit?.budget === undefined ? DEFAULT_COMMIT_BUDGET_MS : parseDuration(pf.commit.budget),
      steps: commandSpecs(pf.commit?.steps),
    },
    stages,
  };
}

type StageFields = Omit<StageInput, 'after' | 'extends'>;

function protectionPlan(p: NonNullable<StageInput['protection']>): ProtectionPlan {
  return {
    ...(p.promote ? { promote: [...new Set(p.promote)] } : {}),
    ...(p.approve ? { approve: [...new Set(p.approve)] } : {}),
    approvals: p.approvals ?? 1,
    separateApprover: p.separateApprover ?? false,
    windows: (p.windows ?? []).map((w) => ({ days: [...new Set(w.days)], from: w.from, to: w.to, timeZone: w.timeZone ?? 'UTC' })),
    freezes: (p.freezes ?? []).map((f) => ({ from: Date.parse(f.from), to: Date.parse(f.to), reason: f.reason })),
  };
}

function layered(pf: PipelineFile, name: string): StageFields {
  const chain: StageInput[] = [];
  for (let cur: string | undefined = name; cur !== undefined; cur = pf.stages[cur]?.extends)
    chain.unshift(pf.stages[cur]!);
  let out: Record<string, unknown> = { ...(pf.defaults ?? {}) };
  for (const st of chain) {
    const { after: _a, extends: _e, ...own } = st;
    out = deepMerge(out, own);
  }
  return out as StageFields;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else in `over` replaces what `base` had. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function commandSpecs(
  steps: Record<string, string | { run: string; timeout?: string | number }> | undefined,
): CommandSpec[] {
  return Object.entries(steps ?? {}).map(([name, s]) =>
    typeof s === 'string'
      ? { name, run: s, timeoutMs: DEFAULT_STEP_TIMEOUT_MS }
      : { name, run: s.run, timeoutMs: s.timeout === undefined ? DEFAULT_STEP_TIMEOUT_MS : parseDuration(s.timeout) },
  );
}

function toList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function unknownName(kind: string, name: string, known: string[]): string {
  const hint = closest(name, known);
  const listed = known.length ? `known: ${known.join(', ')}` : `none is declared${kind === 'analysis' ? ' (name them under analyses: at the top of the file)' : ''}`;
  return `unknown ${kind} "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; ${listed}`;
}

/** Returns one cycle (as a list of names, first repeated at the end) or undefined. */
export function findCycle(names: string[], edges: (n: string) => string[]): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges(n)) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of names) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/** Kahn's algorithm; among ready nodes the earlier in `names` goes first. Assumes no cycle. */
export function topoOrder(names: string[], parents: (n: string) => string[]): string[] {
  const done = new Set<string>();
  const out: string[] = [];
  while (out.length < names.length) {
    const next = names.find((n) => !done.has(n) && parents(n).every((p) => done.has(p)));
    if (next === undefined) break;
    done.add(next);
    out.push(next);
  }
  return out;
}

type IssueAt = (path: readonly PropertyKey[], message: string, key?: string) => PipelineIssue;

function zodIssueToPipelineIssues(i: z.core.$ZodIssue, issue: IssueAt): PipelineIssue[] {
  const path = i.path;
  switch (i.code) {
    case 'unrecognized_keys':
      return i.keys.map((k) => {
        const known = knownKeysAt(path);
        const hint = closest(k, known);
        return issue(
          path,
          `unknown key "${k}"${hint ? ` (did you mean "${hint}"?)` : ''}${known.length ? `; allowed: ${known.join(', ')}` : ''}`,
          k,
        );
      });
    case 'invalid_type':
      if ((i as { input?: unknown }).input === undefined) return [issue(path, `is required (${i.expected})`)];
      return [issue(path, `expected ${i.expected}, got ${describe((i as { input?: unknown }).input)}`)];
    case 'invalid_union': {
      // Report the branch that got furthest: its issues are the most specific.
      const branches = i.errors.filter((b) => b.length > 0);
      const specific = branches.find((b) => b.some((x) => x.code !== 'invalid_type' || x.path.length > 0));
      if (specific)
        return specific.flatMap((x) => zodIssueToPipelineIssues({ ...x, path: [...path, ...x.path] }, issue));
      const expected = branches.flatMap((b) => b.map((x) => (x.code === 'invalid_type' ? x.expected : x.code)));
      return [issue(path, `expected ${[...new Set(expected)].join(' or ')}`)];
    }
    case 'invalid_key':
      // Point at the key itself, not at its value.
      return [
        issue(
          path.slice(0, -1),
          `"${String(path.at(-1))}": ${i.issues.map((x) => x.message).join('; ')}`,
          String(path.at(-1)),
        ),
      ];
    default:
      return [issue(path, i.message)];
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

interface ZodDefLike {
  type: string;
  shape?: Record<string, { _zod: { def: ZodDefLike } }>;
  valueType?: { _zod: { def: ZodDefLike } };
  innerType?: { _zod: { def: ZodDefLike } };
  options?: { _zod: { def: ZodDefLike } }[];
  element?: { _zod: { def: ZodDefLike } };
}

/** The keys the schema allows at `path`, for "did you mean" hints. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let def: ZodDefLike | undefined = (pipelineSchema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
  const unwrap = (d: ZodDefLike | undefined): ZodDefLike | undefined => {
    while (d && (d.type === 'optional' || d.type === 'default' || d.type === 'nullable')) d = d.innerType?._zod.def;
    if (d?.type === 'union') return d.options?.map((o) => unwrap(o._zod.def)).find((o) => o?.type === 'object');
    return d;
  };
  for (const seg of path) {
    def = unwrap(def);
    if (!def) return [];
    if (def.type === 'object') def = def.shape?.[String(seg)]?._zod.def;
    else if (def.type === 'record') def = def.valueType?._zod.def;
    else if (def.type === 'array') def = def.element?._zod.def;
    else return [];
  }
  def = unwrap(def);
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
