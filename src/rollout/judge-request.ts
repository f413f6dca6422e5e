import { z } from 'zod';
import { SluiceError } from '../kernel/errors.js';
import { badText, badTextMessage } from '../kernel/text.js';
import { evaluateThreshold, type JudgeResult, judge, type ThresholdResult } from './judge.js';

const value = z.union([z.number(), z.null(), z.literal('NaN')]).transform((v) => (v === 'NaN' ? Number.NaN : v));

/** How a metric is compared with its baseline; shared by judge requests and the pipeline's analyses. */
export const comparisonOptions = {
  name: z.string().min(1).max(200),
  group: z.string().min(1).max(200).optional(),
  direction: z.enum(['increase', 'decrease', 'either']).optional(),
  nanStrategy: z.enum(['remove', 'replace']).optional(),
  critical: z.boolean().optional(),
  mustHaveData: z.boolean().optional(),
  effectSize: z
    .strictObject({
      allowedIncrease: z.number().positive().optional(),
      allowedDecrease: z.number().positive().optional(),
      criticalIncrease: z.number().positive().optional(),
      criticalDecrease: z.number().positive().optional(),
    })
    .optional(),
};

/** The limits of a threshold check; shared by judge requests and the pipeline's analyses. */
export const thresholdOptions = {
  name: z.string().min(1).max(200),
  min: z.number().optional(),
  max: z.number().optional(),
  failureLimit: z.number().int().min(0).optional(),
  inconclusiveLimit: z.number().int().min(0).optional(),
  consecutiveErrorLimit: z.number().int().min(0).optional(),
  onEmpty: z.enum(['inconclusive', 'fail']).optional(),
};

const metricSchema = z.strictObject({
  ...comparisonOptions,
  outliers: z.strictObject({ remove: z.boolean(), factor: z.number().positive().optional() }).optional(),
  canary: z.array(value).max(5000),
  baseline: z.array(value).max(5000),
});

const thresholdSchema = z.strictObject({
  ...thresholdOptions,
  /** Leading measurements without data that are not counted (set by the analysis that recorded the request; see judge.ts). */
  warmup: z.number().int().min(0).optional(),
  measurements: z.array(z.union([value, z.strictObject({ error: z.string() })])).max(100_000),
});

/** What `sluice judge` reads and `POST /api/v1/judge` takes: recorded series to judge offline. */
export const judgeRequestSchema = z
  .strictObject({
    config: z
      .strictObject({
        confidenceLevel: z.number().gt(0).lt(1).optional(),
        tolerance: z.number().min(0).optional(),
        passThreshold: z.number().min(0).max(100).optional(),
        marginalThreshold: z.number().min(0).max(100).optional(),
        groupWeights: z.record(z.string(), z.number().min(0).max(100)).optional(),
      })
      .optional(),
    metrics: z.array(metricSchema).max(500).optional(),
    thresholds: z.array(thresholdSchema).max(500).optional(),
  })
  .refine((r) => (r.metrics?.length ?? 0) + (r.thresholds?.length ?? 0) > 0, { message: 'give at least one metric or threshold' });

export type JudgeRequest = z.input<typeof judgeRequestSchema>;

/**
 * The outcome of an analysis, as the journey acts on it:
 * - pass: the journey continues.
 * - inconclusive: a marginal score or a threshold without enough data; the rollout waits for a person.
 * - fail: roll back.
 */
export type AnalysisOutcome = 'pass' | 'inconclusive' | 'fail';

export interface JudgeResponse {
  outcome: AnalysisOutcome;
  reason: string;
  comparison: JudgeResult | null;
  thresholds: ThresholdResult[];
}

/** Judges a validated request. */
export function runJudgeRequest(req: z.output<typeof judgeRequestSchema>): JudgeResponse {
  const comparison = req.metrics && req.metrics.length > 0 ? judge(req.metrics, req.config ?? {}) : null;
  const thresholds = (req.thresholds ?? []).map((t) => {
    const { measurements, ...spec } = t;
    return evaluateThreshold(spec, measurements);
  });
  const failed = thresholds.filter((t) => t.outcome === 'Failed' || t.outcome === 'Error');
  const inconclusive = thresholds.filter((t) => t.outcome === 'Inconclusive');
  const reasons: string[] = [];
  if (comparison) reasons.push(`comparison ${comparison.verdict}: ${comparison.reason}`);
  for (const t of [...failed, ...inconclusive]) reasons.push(`${t.name} ${t.outcome}: ${t.reason}`);
  let outcome: AnalysisOutcome = 'pass';
  if (comparison?.verdict === 'Fail' || failed.length > 0) outcome = 'fail';
  else if (comparison?.verdict === 'Marginal' || inconclusive.length > 0) outcome = 'inconclusive';
  if (outcome === 'pass' && thresholds.length > 0 && !comparison) reasons.push(`${thresholds.length} threshold check(s) passed`);
  return { outcome, reason: reasons.join('; '), comparison, thresholds };
}

/** Validates and judges an already-parsed request; `where` names it in errors. */
export function judgeParsed(raw: unknown, where: string): JudgeResponse {
  const r = judgeRequestSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({
      path: i.path.join('.') || '(top)',
      message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
    }));
    throw new SluiceError('BAD_REQUEST', `${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  return judgeValid(r.data, where);
}

/** Judges a request already validated by `judgeRequestSchema`; a series the statistics cannot take is a BAD_REQUEST. */
export function judgeValid(req: z.output<typeof judgeRequestSchema>, where: string): JudgeResponse {
  try {
    return runJudgeRequest(req);
  } catch (e) {
    if (e instanceof RangeError) throw new SluiceError('BAD_REQUEST', `${where}: ${e.message}`);
    throw e;
  }
}

/** How many values a request holds: every canary, baseline and threshold measurement. */
export function judgeValueCount(req: JudgeRequest): number {
  let n = 0;
  for (const m of req.metrics ?? []) n += m.canary.length + m.baseline.length;
  for (const t of req.thresholds ?? []) n += t.measurements.length;
  return n;
}

/**
 * Judges a request given as JSON text, as a judge runner does off the event loop: parses it, refuses text with a NUL
 * or invalid UTF-16 (BAD_REQUEST), validates it (BAD_REQUEST naming each field), refuses more than `maxValues` values
 * (TOO_LARGE), and judges it. `where` names the request in errors.
 */
export function judgeJsonText(text: string, where: string, maxValues: number): JudgeResponse {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SluiceError('BAD_REQUEST', `${where} is not JSON: ${(e as Error).message}`);
  }
  const bad = badText(raw, where);
  if (bad) throw new SluiceError('BAD_REQUEST', badTextMessage(bad), { where: bad.where });
  const r = judgeRequestSchema.safeParse(raw);
  if (!r.success) return judgeParsed(raw, where);
  const values = judgeValueCount(r.data);
  if (values > maxValues)
    throw new SluiceError('TOO_LARGE', `${where} has ${values} values; the judge takes at most ${maxValues} per request (setting judgeMaxValues): judge fewer or shorter series`, {
      values,
      limit: maxValues,
    });
  return judgeValid(r.data, where);
}
