import { z } from 'zod';
import { durationSchema, parseDuration } from '../kernel/duration.js';
import { closest } from '../kernel/suggest.js';
import { failWith, type FileIssue, readYamlSource, type YamlReport } from '../kernel/yaml-source.js';
import { FLAG_KEY, FLAG_LIMITS, type FlagDefinition, type StageFlag } from './flag-model.js';
import { checkRampPlan, RAMP_LIMITS, type RampPlanInput } from './flag-ramp.js';
import type { FlagsFileContent } from './flag-service.js';

/** The flags file's name, beside the pipeline file in the app's repository. */
export const FLAGS_FILE = 'sluice.flags.yaml';

const REPORT: YamlReport = { code: 'BAD_REQUEST', what: 'a flags file', limitsName: 'the flags limits' };
const LIMITS = { maxBytes: FLAG_LIMITS.documentBytes, maxDepth: FLAG_LIMITS.ruleDepth + 8, maxAliases: 100 };

const key = z.string().regex(FLAG_KEY, 'a key of letters, digits, "-", "_" or ".", starting with a letter or digit');
const rule = z.unknown();
const rampMetric = z.strictObject({
  metric: z.enum(['error-rate', 'latency-mean']),
  direction: z.enum(['increase', 'decrease', 'either']).default('increase'),
  critical: z.boolean().default(false),
  effectSize: z
    .strictObject({
      allowedIncrease: z.number().positive().optional(),
      criticalIncrease: z.number().positive().optional(),
      allowedDecrease: z.number().positive().optional(),
      criticalDecrease: z.number().positive().optional(),
    })
    .optional(),
});
/** A guarded ramp of the flag in the stage (ADR 23); started with `sluice flags ramp start`. */
export const rampConfigSchema = z.strictObject({
  treatment: z.string().min(1).max(FLAG_LIMITS.keyLength),
  control: z.string().min(1).max(FLAG_LIMITS.keyLength),
  steps: z.array(z.number()).min(1).max(RAMP_LIMITS.maxSteps),
  wait: durationSchema,
  compare: z.array(rampMetric).min(1).max(RAMP_LIMITS.maxMetrics).optional(),
  judge: z
    .strictObject({
      confidenceLevel: z.number().gt(0).lt(1).optional(),
      passThreshold: z.number().min(0).max(100).optional(),
      marginalThreshold: z.number().min(0).max(100).optional(),
    })
    .optional(),
  bucketBy: z.string().min(1).max(128).optional(),
  variantKey: z.string().min(1).max(140).optional(),
  onRegression: z.enum(['zero', 'pause']).optional(),
  maxHolds: z.number().int().min(0).max(RAMP_LIMITS.maxHolds).optional(),
});
const stageConfig = z.strictObject({
  enabled: z.boolean(),
  /** The variant served when targeting matches nothing; default: the first variant. */
  default: z.string().min(1).max(FLAG_LIMITS.keyLength).optional(),
  targeting: rule.optional(),
  ramp: rampConfigSchema.optional(),
});
const flagEntry = z.strictObject({
  type: z.enum(['boolean', 'string', 'number', 'object']),
  variants: z.record(z.string().min(1).max(FLAG_LIMITS.keyLength), z.unknown()),
  description: z.string().max(1000).default(''),
  owner: z.string().max(1000).default(''),
  stages: z.record(z.string(), stageConfig).default({}),
});
/** The flags file: flags (declaration and per-stage config), segments for every stage, and per-stage segments. */
export const flagsFileSchema = z.strictObject({
  segments: z.record(key, rule).default({}),
  flags: z.record(key, flagEntry).default({}),
  stages: z.record(z.string(), z.strictObject({ segments: z.record(key, rule).default({}) })).default({}),
});

/** A ramp as the file (or the API, which takes the same shape) writes it → the plan's input: `wait` in ms, each metric named after itself. */
export function rampInputOf(c: z.output<typeof rampConfigSchema>): RampPlanInput {
  const { wait, compare, judge, ...r } = c;
  return {
    ...r,
    waitMs: parseDuration(wait),
    ...(compare ? { compare: compare.map((m) => ({ ...m, name: m.metric })) } : {}),
    ...(judge ? { judge } : {}),
  };
}

const unescape = (t: string) => t.replace(/~1/g, '/').replace(/~0/g, '~');

/**
 * Reads the flags file (`sluice.flags.yaml`): problems of YAML or of its shape are thrown (BAD_REQUEST) at
 * file:line:col, as stage names the pipeline does not have. Problems found later, when a stage's flag set is compiled,
 * are located in the file through `locate`.
 */
export function parseFlagsFile(text: string, file: string, stages: readonly string[]): FlagsFileContent {
  const src = readYamlSource(text, file, LIMITS, REPORT);
  const parsed = flagsFileSchema.safeParse(src.value);
  if (!parsed.success)
    failWith(
      REPORT,
      file,
      parsed.error.issues.slice(0, 100).flatMap((i): FileIssue[] =>
        i.code === 'unrecognized_keys' ? i.keys.map((k) => src.issue(i.path, `unknown key "${k}"`, k)) : [src.issue(i.path, i.message)],
      ),
    );
  const f = parsed.data;
  const issues: FileIssue[] = [];
  const stageKnown = (s: string, path: PropertyKey[]) => {
    if (stages.includes(s)) return true;
    const hint = closest(s, stages);
    issues.push(src.issue(path, `the pipeline has no stage ${s}${hint ? ` (did you mean ${hint}?)` : ''}; its stages: ${stages.join(', ')}`, s));
    return false;
  };
  const defs: FlagDefinition[] = [];
  const out: FlagsFileContent['stages'] = {};
  const segments: FlagsFileContent['segments'] = {};
  for (const s of stages) segments[s] = { ...f.segments };
  for (const [s, st] of Object.entries(f.stages)) if (stageKnown(s, ['stages'])) Object.assign(segments[s]!, st.segments);
  for (const [k, e] of Object.entries(f.flags)) {
    defs.push({ key: k, type: e.type, variants: e.variants as FlagDefinition['variants'], description: e.description, owner: e.owner });
    for (const [s, c] of Object.entries(e.stages)) {
      if (!stageKnown(s, ['flags', k, 'stages'])) continue;
      const config: StageFlag = {
        state: c.enabled ? 'ENABLED' : 'DISABLED',
        defaultVariant: c.default ?? Object.keys(e.variants)[0] ?? '',
        ...(c.targeting !== undefined ? { targeting: c.targeting } : {}),
      };
      if (c.ramp) {
        const checked = checkRampPlan(rampInputOf(c.ramp), Object.keys(e.variants), `flag ${k} in ${s}`);
        if ('problems' in checked) {
          const at = ['flags', k, 'stages', s, 'ramp'];
          for (const p of checked.problems) {
            const field = /: ramp (\w+)/.exec(p)?.[1];
            const name = field === 'waitMs' ? 'wait' : field;
            issues.push(src.issue(name && name in c.ramp ? [...at, name] : at, p));
          }
        } else config.ramp = { plan: checked.plan };
      }
      (out[s] ??= {})[k] = config;
    }
  }
  if (issues.length > 0) failWith(REPORT, file, issues);
  for (const s of stages) if (Object.keys(segments[s]!).length === 0) delete segments[s];

  /** Where a problem of a stage's compiled set (a JSON pointer) is in the file. */
  const locate = (stage: string, pointer: string): string | undefined => {
    const [top, name, field, ...rest] = pointer.split('/').slice(1).map(unescape);
    let path: PropertyKey[] | undefined;
    if (top === 'flags' && name !== undefined && Object.hasOwn(f.flags, name)) {
      const inStage = ['flags', name, 'stages', stage];
      if (field === 'variants') path = ['flags', name, 'variants', ...rest];
      else if (field === 'defaultVariant') path = [...inStage, 'default'];
      else if (field === 'state') path = [...inStage, 'enabled'];
      else if (field === 'targeting') path = [...inStage, 'targeting', ...rest];
      else path = ['flags', name];
    } else if (top === '$evaluators' && name !== undefined) {
      const own = f.stages[stage]?.segments;
      path = own && Object.hasOwn(own, name) ? ['stages', stage, 'segments', name, ...[field, ...rest].filter((x) => x !== undefined)] : ['segments', name, ...[field, ...rest].filter((x) => x !== undefined)];
      if (!own?.[name] && !Object.hasOwn(f.segments, name)) path = undefined;
    }
    if (!path) return undefined;
    const numeric = path.map((p) => (typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : p));
    const at = src.locate(numeric);
    return `${file}:${at.line}:${at.col}: ${path.map(String).join('.')} (stage ${stage})`;
  };
  return { defs, stages: out, segments, locate };
}
