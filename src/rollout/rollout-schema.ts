import { z } from 'zod';
import { boundedDuration, durationSchema } from '../kernel/duration.js';
import { comparisonOptions, thresholdOptions } from './judge-request.js';

/** Metrics the router measures for every stage and version, per interval. */
export const BUILTIN_METRICS = ['error-rate', 'latency-mean', 'request-rate'] as const;
/** A built-in metric, or a PromQL query ({{stage}}, {{version}} and {{window}} are filled in). */
const metricRef = z.union([
  z.enum(BUILTIN_METRICS, { error: (i) => `unknown metric ${JSON.stringify(i.input)}; built-in: ${BUILTIN_METRICS.join(', ')}, or { prometheus: <query> }` }),
  z.strictObject({ prometheus: z.string().min(1) }),
]);

const thresholdCheck = z.strictObject({ ...thresholdOptions, metric: metricRef });
const comparison = z.strictObject({ ...comparisonOptions, metric: metricRef });

/** An analysis: threshold checks every interval, and a comparison with the stable version at the end. */
export const analysisSchema = z.strictObject({
  /** How often the thresholds are measured, each over the interval that just ended (default 5s). */
  interval: boundedDuration({ ms: 1000, message: 'at least 1s: the router counts per second, so a shorter window has no whole second to measure' }).optional(),
  /** Measurements taken by an analysis step (a background analysis runs until the rollout ends). */
  count: z.number().int().min(1).max(10_000).optional(),
  thresholds: z.array(thresholdCheck).max(100).optional(),
  compare: z.array(comparison).max(100).optional(),
  confidenceLevel: z.number().gt(0).lt(1).optional(),
  passThreshold: z.number().min(0).max(100).optional(),
  marginalThreshold: z.number().min(0).max(100).optional(),
  /** Synthetic traffic during the analysis, for stages with too little real traffic: each path, to stable and canary alike. */
  traffic: z
    .strictObject({
      paths: z.array(z.string().startsWith('/')).min(1).max(100),
      /** Requests per second to each of stable and canary. */
      rate: z.number().positive().max(1000),
    })
    .optional(),
});
export type AnalysisInput = z.infer<typeof analysisSchema>;

/** A named analysis (from `analyses:`) or one written in place. */
export const analysisRef = z.union([z.string().min(1), analysisSchema]);

/** Exactly one of the keys must be present; the message names them. */
const exactlyOne = (keys: string[]) => (o: Record<string, unknown>) => keys.filter((k) => o[k] !== undefined).length === 1;

// One object with optional keys (not a union of objects), so that a misspelt key is reported as such, with a suggestion.
const canaryStep = z
  .strictObject({
    setWeight: z.number().int().min(0).max(100).optional(),
    pause: z.strictObject({ duration: durationSchema.optional() }).optional(),
    analysis: analysisRef.optional(),
  })
  .refine(exactlyOne(['setWeight', 'pause', 'analysis']), { message: 'a step is one of setWeight: N, pause: { duration }, analysis: <name>' });

const guardSchema = z.union([
  z.literal(false),
  z.strictObject({
    /** The share of errors (5xx or failed) among the canary's last `requests` answers that trips the guard. */
    errorRate: z.number().gt(0).max(1).optional(),
    requests: z.number().int().min(1).max(10_000).optional(),
    /** Answers needed before the guard may trip. */
    minRequests: z.number().int().min(1).max(10_000).optional(),
  }),
]);
export type GuardInput = z.infer<typeof guardSchema>;

export const strategySchema = z
  .strictObject({
    allAtOnce: z.strictObject({}).optional(),
    /** The new version starts at full size beside the old one, is verified at its preview host, then takes all traffic at once. */
    blueGreen: z
      .strictObject({
        /** false: after verification, wait for `sluice resume` before switching (default true). */
        autoSwitch: z.boolean().optional(),
      })
      .optional(),
    canary: z
      .strictObject({
        /** Instances of the new version during the canary (1: a one-box). */
        instances: z.number().int().min(1).max(32).optional(),
        /** Keeps a user on one side: a header's value, a cookie (default), or nothing. */
        sticky: z.union([z.strictObject({ header: z.string().min(1).max(100) }), z.enum(['cookie', 'none'])]).optional(),
        steps: z.array(canaryStep).min(1).max(100),
        /** Runs from the first step until the rollout ends; a failure rolls back at once. */
        analysis: analysisRef.optional(),
        /** The data plane's own limit on the canary's errors (default on: 50% of the last 20, from 5 answers); false turns it off. */
        guard: guardSchema.optional(),
      })
      .optional(),
  })
  .refine(exactlyOne(['allAtOnce', 'blueGreen', 'canary']), { message: 'a strategy is one of allAtOnce: {}, blueGreen: {...}, canary: {...}' });
