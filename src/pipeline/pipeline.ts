import type { z } from 'zod';
import { parseDuration } from '../kernel/duration.js';
import { type AnalysisPlan, analysisPlan, type CanaryPlan, type CanaryStepPlan, guardPlan } from '../rollout/rollout-plan.js';
import type { AnalysisInput } from '../rollout/rollout-schema.js';
import { DEFAULT_SCRAPE_INTERVAL_MS, SCRAPES_PER_WINDOW, windowFloorMs } from '../rollout/ports/metrics-provider.js';
import { formatPromDuration, literalRanges } from '../rollout/promql-ranges.js';
import { type NotificationKind, type PipelineFile, pipelineSchema, type StageInput, type Weekday } from './pipeline-schema.js';
import type { Role } from '../kernel/actor.js';
import { closest } from '../kernel/suggest.js';
import { checkFileSize, failWith, type FileIssue, readYamlSource, type YamlReport } from '../kernel/yaml-source.js';

export { formatBytes, formatIssues } from '../kernel/yaml-source.js';

/** How a pipeline file's problems are reported. */
const PIPELINE_REPORT: YamlReport = { code: 'PIPELINE_INVALID', what: 'a pipeline file', limitsName: "the server's pipelineLimits" };

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
  /** At most `maxAhead` releases may be in the stage without having reached the pipeline's last stages (ADR 24). */
  lane?: { maxAhead: number };
  /** The stage's PostgreSQL database; its URL is in `env` under `database.env` (ADR 26). */
  database?: DatabasePlan;
  /** The pipeline's `migrate` command, run before new instances start on each deploy (ADR 26); absent: none. */
  migrate?: CommandSpec;
}

/** A stage's PostgreSQL database (ADR 26): environments cloned from the stage get a copy of their own. */
export interface DatabasePlan {
  /** Without a password. */
  url: string;
  clone: 'template' | 'dump' | 'empty';
  /** The variable workloads find the URL in. */
  env: string;
  /** The stage secret that holds the password, if the server asks for one. */
  password?: string;
  /** Where copies are made; absent: the server of `url`. */
  server?: string;
  seed?: string;
  /** template: the most age of the snapshot copies are made from. */
  snapshotMaxAgeMs: number;
  /** template: copies kept ready from the snapshot (absent: 1). */
  spares?: number;
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

/** An app this one depends on (`services.<name>`): the variable each stage gets its URL in. */
export interface ServicePlan {
  name: string;
  app: string;
  env: string;
  /** With {stage} and {app} still in it. */
  url: string;
  /** This app's stage → the dependency's stage, where their names differ. */
  stages: Record<string, string>;
}

/** Where a dependency is when sluice.yaml does not say: its stage on Sluice's router, at the router's default port. */
export const DEFAULT_SERVICE_URL = 'http://{stage}.{app}.localhost:7080';

/** The URL of `svc` that `stage` of this app calls: the dependency's stage of the same name, or the one mapped to it. */
export function serviceUrl(svc: Pick<ServicePlan, 'app' | 'url' | 'stages'>, stage: string): string {
  const theirs = Object.hasOwn(svc.stages, stage) ? svc.stages[stage]! : stage;
  return svc.url.replaceAll('{stage}', theirs).replaceAll('{app}', svc.app);
}

export interface Plan {
  app: string;
  /** Apps this one calls; absent when it has none (and in plans recorded before services existed). */
  services?: ServicePlan[];
  /** Absent in plans recorded before notifications existed. */
  notify?: NotifyTarget[];
  /** The Prometheus server that `{ prometheus: query }` metrics ask. */
  prometheusUrl?: string;
  /** How often that server scrapes (ms); {{window}} is never shorter than four scrapes. Absent in older plans: 15 s. */
  prometheusScrapeIntervalMs?: number;
  artifact: { build?: string; output: string };
  commit: { budgetMs: number; steps: CommandSpec[] };
  /** Run before new instances start on every deploy, with the stage's database URL (ADR 26); absent: none. */
  migrate?: CommandSpec;
  /** In a topological order of `after`, ties kept in file order. */
  stages: StagePlan[];
  /** `environments.idleAfter` (ms): an environment with no request for this long sleeps (docs/adr/0029); absent: the default. */
  envIdleAfterMs?: number;
  /** What a review's approve does with an environment (ADR 27); absent: promote, then destroy. */
  environments?: { onApprove: 'promote' | 'record'; destroyOnPromote: boolean };
}

/** One problem in a pipeline file, located by line and column (1-based). */
export type PipelineIssue = FileIssue;

/** Limits on a pipeline file; each is a setting of the server (`pipelineLimits` in the --config file). */
export interface PipelineLimits {
  /** The most bytes (UTF-8) a pipeline file may have. */
  maxBytes: number;
  /** The deepest nesting of mappings and lists, counting the top-level mapping as 1. */
  maxDepth: number;
  /** How much YAML aliases (`*name`) may expand, as the yaml package counts it (its maxAliasCount). */
  maxAliases: number;
}

/** 1 MiB holds some 10,000 stages; 64 levels are four times what the schema needs; 100 aliases is yaml's own default. */
export const DEFAULT_PIPELINE_LIMITS: Readonly<PipelineLimits> = { maxBytes: 1024 * 1024, maxDepth: 64, maxAliases: 100 };

export interface ParseOptions {
  /** Limits other than the defaults. */
  limits?: Partial<PipelineLimits>;
  /**
   * Counts the steps of the work on the stage graph (cycles, order, `extends` layering): it grows in proportion to the
   * stages and their links, which tests check by counting rather than by timing.
   */
  work?: { steps: number };
}

/** At most this many problems are located and listed; the rest are counted. */
const MAX_ISSUES = 100;
/** Known names listed in an "unknown name" message. */
const MAX_NAMES_LISTED = 20;

const DEFAULT_COMMIT_BUDGET_MS = 5 * 60_000;
const DEFAULT_STEP_TIMEOUT_MS = 10 * 60_000;
const RESERVED_STAGE_NAMES = new Set(['commit']);

/** Throws PIPELINE_INVALID when a file of `bytes` bytes is over the limit; the message names the file, its size and the limit. */
export function checkPipelineSize(file: string, bytes: number, maxBytes: number): void {
  checkFileSize(PIPELINE_REPORT, file, bytes, maxBytes);
}

/**
 * Parses and validates a pipeline file and resolves it to a Plan.
 * Throws a SluiceError PIPELINE_INVALID whose details.issues locate every problem found.
 */
export function parsePipeline(text: string, file = 'sluice.yaml', options: ParseOptions = {}): Plan {
  const limits = { ...DEFAULT_PIPELINE_LIMITS, ...options.limits };
  const work = options.work ?? { steps: 0 };
  const { value: raw, issue } = readYamlSource(text, file, limits, PIPELINE_REPORT);
  let more = 0;
  const fail = (issues: PipelineIssue[]): never => failWith(PIPELINE_REPORT, file, issues, more);

  const parsed = pipelineSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // A misspelt key says it all: the "one of" rule of the same object would only repeat it.
    const misspelt = new Set(parsed.error.issues.filter((i) => i.code === 'unrecognized_keys').map((i) => i.path.join('.')));
    const issues = parsed.error.issues.filter((i) => i.code !== 'custom' || !misspelt.has(i.path.join('.')));
    more = Math.max(0, issues.length - MAX_ISSUES);
    fail(issues.slice(0, MAX_ISSUES).flatMap((i) => zodIssueToPipelineIssues(i, issue)));
  }
  const pf = parsed.data as PipelineFile;
  // Names are looked up as own keys only: a stage called "constructor" is a stage like any other, and an unknown one
  // is unknown, never Object.prototype's.
  const stageNamed = (n: string): StageInput | undefined => (Object.hasOwn(pf.stages, n) ? pf.stages[n] : undefined);

  const issues: PipelineIssue[] = [];
  // Locating and suggesting cost a scan of the names each: only the first MAX_ISSUES problems get them.
  const report = (path: readonly PropertyKey[], message: string | (() => string), key?: string) => {
    if (issues.length >= MAX_ISSUES) more++;
    else issues.push(issue(path, typeof message === 'string' ? message : message(), key));
  };
  const names = Object.keys(pf.stages);
  if (names.length === 0) report(['stages'], 'declare at least one stage');
  for (const name of names) {
    if (RESERVED_STAGE_NAMES.has(name))
      report(['stages'], () => `"${name}" is reserved for the commit stage`, name);
    const st = pf.stages[name]!;
    const after = st.after === undefined ? [] : Array.isArray(st.after) ? st.after : [st.after];
    after.forEach((parent, idx) => {
      const path = Array.isArray(st.after) ? ['stages', name, 'after', idx] : ['stages', name, 'after'];
      if (parent === name) report(path, () => `stage "${name}" cannot come after itself`);
      else if (!stageNamed(parent)) report(path, () => unknownName('stage', parent, names));
    });
    if (st.extends !== undefined) {
      const ext = st.extends;
      if (ext === name) report(['stages', name, 'extends'], () => `stage "${name}" cannot extend itself`);
      else if (!stageNamed(ext)) report(['stages', name, 'extends'], () => unknownName('stage', ext, names));
    }
  }
  (pf.notify ?? []).forEach((n, i) =>
    n.stages?.forEach((stage, j) => {
      if (!stageNamed(stage) && !RESERVED_STAGE_NAMES.has(stage))
        report(['notify', i, 'stages', j], () => unknownName('stage', stage, [...names, ...RESERVED_STAGE_NAMES]));
    }),
  );
  const services = servicePlans(pf, names, report);
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
          report(
            [...path, kind, i, 'metric', 'prometheus'],
              `${r.fn}() over [${r.text}] is shorter than ${SCRAPES_PER_WINDOW} scrape intervals of ${formatPromDuration(scrapeIntervalMs)} (${said}), and has no value whenever it holds fewer than two samples: ` +
                `write [{{window}}], which Sluice widens to at least ${floor}, or a range of ${floor} or more`,
          );
        }
      });
  };
  for (const [name, a] of Object.entries(pf.analyses ?? {})) checkRanges(a, ['analyses', name]);
  if (issues.length > 0) fail(issues);

  const cycle = findCycle(names, (n) => toList(pf.stages[n]!.after), work);
  if (cycle) fail([issue(['stages', cycle[0]!, 'after'], `stages form a cycle: ${cycleText(cycle)}`)]);
  const extCycle = findCycle(names, (n) => toList(pf.stages[n]!.extends), work);
  if (extCycle) fail([issue(['stages', extCycle[0]!, 'extends'], `extends forms a cycle: ${cycleText(extCycle)}`)]);

  const layers = layeredStages(pf, names, work);
  const stages: StagePlan[] = [];
  for (const name of topoOrder(names, (n) => toList(pf.stages[n]!.after), work)) {
    const fields = layers.get(name)!;
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
      ...(fields.lane ? { lane: { maxAhead: fields.lane.maxAhead } } : {}),
    };
    if (fields.secrets?.length) {
      plan.secrets = [...new Set(fields.secrets)];
      fields.secrets.forEach((n, i) => {
        if (n in plan.env) issues.push(issue([...stagePath, 'secrets', i], `${n} is both in env and in secrets; keep it in one`));
        const svc = services.find((x) => x.env === n);
        if (svc) issues.push(issue([...stagePath, 'secrets', i], `${n} is the variable service ${svc.name} sets; rename the secret or give the service another env:`));
      });
    }
    // --- databases (ADR 26) ---
    if (fields.database) {
      const db = fields.database;
      const dbPath = [...stagePath, 'database'];
      const envName = db.env ?? 'DATABASE_URL';
      if (envName in plan.env) report([...dbPath, 'env'], `${envName} is set in env too; the database's URL is given to workloads as ${envName}: drop it from env, or name another variable with database.env`);
      else if (plan.secrets?.includes(envName)) report([...dbPath, 'env'], `${envName} is a secret of the stage too; name another variable with database.env`);
      if (db.password !== undefined && !plan.secrets?.includes(db.password))
        report([...dbPath, 'password'], `${db.password} is not one of the stage's secrets: add it to secrets (and set it with sluice secret set ${name} ${db.password})`);
      if (db.seed !== undefined && (db.clone ?? 'template') !== 'empty') report([...dbPath, 'seed'], 'a seed runs on an empty copy only: set clone: empty, or drop seed');
      if (db.snapshot !== undefined && (db.clone ?? 'template') !== 'template') report([...dbPath, 'snapshot'], 'snapshot is for clone: template only');
      if (db.spares !== undefined && (db.clone ?? 'template') !== 'template') report([...dbPath, 'spares'], 'spares are for clone: template only');
      plan.env[envName] = db.url;
      plan.database = {
        url: db.url,
        clone: db.clone ?? 'template',
        env: envName,
        snapshotMaxAgeMs: db.snapshot === undefined ? 5 * 60_000 : parseDuration(db.snapshot),
        ...(db.password !== undefined ? { password: db.password } : {}),
        ...(db.server !== undefined ? { server: db.server } : {}),
        ...(db.seed !== undefined ? { seed: db.seed } : {}),
        ...(db.spares !== undefined ? { spares: db.spares } : {}),
      };
    }
    if (pf.migrate !== undefined) plan.migrate = commandSpecs({ migrate: pf.migrate })[0]!;
    // --- end databases ---
    // A stage's own env: entry for a service's variable wins: that is how one stage calls another address.
    for (const svc of services) if (!Object.hasOwn(plan.env, svc.env)) plan.env[svc.env] = serviceUrl(svc, name);
    const strategy = fields.strategy;
    if (strategy?.canary) {
      const c = strategy.canary;
      const resolve = (ref: string | AnalysisInput, path: PropertyKey[]): AnalysisPlan | undefined => {
        if (typeof ref !== 'string') {
          checkRanges(ref, path);
          return analysisPlan(`${name}-analysis`, ref);
        }
        const a = pf.analyses && Object.hasOwn(pf.analyses, ref) ? pf.analyses[ref] : undefined;
        if (!a) {
          report(path, () => unknownName('analysis', ref, Object.keys(pf.analyses ?? {})));
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
      if (target !== 'local') report([...stagePath, 'strategy'], 'a canary needs target "local": the built-in router splits the traffic');
      if (!pf.metrics?.prometheus && [background, ...steps.map((x) => (x.kind === 'analysis' ? x.analysis : undefined))].some(needsPrometheus))
        report([...stagePath, 'strategy'], 'an analysis asks Prometheus, but metrics.prometheus.url is not set');
      const guard = guardPlan(c.guard);
      const canary: CanaryPlan = { preview: false, instances: c.instances ?? 1, sticky: c.sticky ?? 'cookie', steps, ...(background ? { background } : {}), ...(guard ? { guard } : {}) };
      plan.canary = canary;
    } else if (strategy?.blueGreen) {
      if (target !== 'local') report([...stagePath, 'strategy'], 'blue-green needs target "local": the built-in router switches the traffic');
      plan.canary = {
        preview: true,
        instances: fields.local?.instances ?? 1,
        sticky: 'none',
        steps: strategy.blueGreen.autoSwitch === false ? [{ kind: 'pause' }] : [],
      };
    }
    if (target === 'local') {
      if (!fields.local?.start) {
        report(stagePath, 'target "local" needs local.start, the command that starts one instance on $PORT');
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
      report(stagePath, 'target "command" needs command.deploy');
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
    ...(services.length > 0 ? { services } : {}),
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
    ...(pf.migrate !== undefined ? { migrate: commandSpecs({ migrate: pf.migrate })[0]! } : {}),
    stages,
    ...(pf.environments?.idleAfter !== undefined ? { envIdleAfterMs: parseDuration(pf.environments.idleAfter) } : {}),
    ...(pf.environments ? { environments: { onApprove: pf.environments.onApprove ?? 'promote', destroyOnPromote: pf.environments.destroyOnPromote ?? true } } : {}),
  };
}

type StageFields = Omit<StageInput, 'after' | 'extends'>;

/** `services:` resolved and checked: stages it maps exist, its URL is an http(s) URL, no two share a variable. */
type Report = (path: readonly PropertyKey[], message: string | (() => string), key?: string) => void;

function servicePlans(pf: PipelineFile, stages: string[], report: Report): ServicePlan[] {
  const out: ServicePlan[] = [];
  for (const [name, s] of Object.entries(pf.services ?? {})) {
    const path = ['services', name];
    const svc: ServicePlan = { name, app: s.app, env: s.env ?? `${name.toUpperCase().replaceAll('-', '_')}_URL`, url: s.url ?? DEFAULT_SERVICE_URL, stages: { ...s.stages } };
    for (const ours of Object.keys(svc.stages)) if (!stages.includes(ours)) report([...path, 'stages'], () => unknownName('stage', ours, stages), ours);
    let url: URL | undefined;
    try {
      url = new URL(serviceUrl(svc, stages[0] ?? 'staging'));
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol))
      report([...path, 'url'], `not an http(s) URL once {stage} and {app} are filled in: ${JSON.stringify(svc.url.slice(0, 200))}`);
    const twin = out.find((o) => o.env === svc.env);
    if (twin) report(s.env === undefined ? path : [...path, 'env'], `services ${twin.name} and ${name} both set ${svc.env}; give one another env:`);
    out.push(svc);
  }
  return out;
}

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

/**
 * Every stage's fields after layering: defaults, then the stage it extends (itself layered), then its own keys. Each
 * stage is merged once, onto its parent's result, so a chain of n stages costs n merges, not n²/2; a loop walks the
 * chain, so a long one cannot overflow the stack. Assumes no unknown name and no cycle.
 */
function layeredStages(pf: PipelineFile, names: readonly string[], work: { steps: number }): Map<string, StageFields> {
  const base: Record<string, unknown> = { ...(pf.defaults ?? {}) };
  const done = new Map<string, Record<string, unknown>>();
  for (const name of names) {
    const chain: string[] = [];
    for (let cur: string | undefined = name; cur !== undefined && !done.has(cur); cur = pf.stages[cur]!.extends) chain.push(cur);
    for (let i = chain.length - 1; i >= 0; i--) {
      const { after: _a, extends: parent, ...own } = pf.stages[chain[i]!]!;
      work.steps++;
      done.set(chain[i]!, deepMerge(parent === undefined ? base : done.get(parent)!, own));
    }
  }
  return done as Map<string, StageFields>;
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
  const shown = known.length > MAX_NAMES_LISTED ? `${known.slice(0, MAX_NAMES_LISTED).join(', ')} and ${known.length - MAX_NAMES_LISTED} more` : known.join(', ');
  const listed = known.length ? `known: ${shown}` : `none is declared${kind === 'analysis' ? ' (name them under analyses: at the top of the file)' : ''}`;
  return `unknown ${kind} "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; ${listed}`;
}

/** A cycle for a message: a long one shows its start and its end. */
function cycleText(cycle: readonly string[]): string {
  return cycle.length <= 12 ? cycle.join(' → ') : `${cycle.slice(0, 6).join(' → ')} → … (${cycle.length - 9} more) → ${cycle.slice(-3).join(' → ')}`;
}

/**
 * Returns one cycle (as a list of names, first repeated at the end) or undefined. A depth-first search with a stack
 * of its own, so a chain of any length is walked without recursion; each name and each edge is visited once.
 */
export function findCycle(names: readonly string[], edges: (n: string) => string[], work: { steps: number } = { steps: 0 }): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const root of names) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const next: { edges: string[]; i: number }[] = [{ edges: edges(root), i: 0 }];
    const at = new Map<string, number>([[root, 0]]);
    state.set(root, 'open');
    while (next.length > 0) {
      const top = next[next.length - 1]!;
      work.steps++;
      if (top.i < top.edges.length) {
        const m = top.edges[top.i++]!;
        const s = state.get(m);
        if (s === 'done') continue;
        if (s === 'open') return [...path.slice(at.get(m)), m];
        state.set(m, 'open');
        at.set(m, path.length);
        path.push(m);
        next.push({ edges: edges(m), i: 0 });
      } else {
        const n = path.pop()!;
        next.pop();
        at.delete(n);
        state.set(n, 'done');
      }
    }
  }
  return undefined;
}

/**
 * Kahn's algorithm; among ready nodes the earlier in `names` goes first (a heap of file positions). Parents that are
 * not in `names` are ignored. Assumes no cycle.
 */
export function topoOrder(names: readonly string[], parents: (n: string) => string[], work: { steps: number } = { steps: 0 }): string[] {
  const index = new Map(names.map((n, i) => [n, i]));
  const waiting = new Array<number>(names.length).fill(0);
  const children: number[][] = names.map(() => []);
  names.forEach((n, i) => {
    for (const p of parents(n)) {
      const j = index.get(p);
      if (j === undefined) continue;
      work.steps++;
      waiting[i]!++;
      children[j]!.push(i);
    }
  });
  const ready = new MinHeap();
  waiting.forEach((w, i) => w === 0 && ready.push(i));
  const out: string[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    work.steps++;
    out.push(names[i]!);
    for (const c of children[i]!) if (--waiting[c]! === 0) ready.push(c);
  }
  return out;
}

/** A binary heap of numbers, smallest first. */
class MinHeap {
  private readonly a: number[] = [];
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
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
