import { parseDuration } from '../kernel/duration.js';
import type { JudgeConfig, MetricSpec, ThresholdSpec } from './judge.js';
import type { AnalysisInput, BUILTIN_METRICS, GuardInput } from './rollout-schema.js';

export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];
/** What an analysis measures: a built-in router metric, or a PromQL query template. */
export type MetricRef = BuiltinMetric | { prometheus: string };

/** An analysis, resolved: threshold checks on the canary every interval, then a comparison with the stable version. */
export interface AnalysisPlan {
  name: string;
  intervalMs: number;
  /** Measurements an analysis step takes; a background analysis runs until the rollout ends. */
  count: number;
  thresholds: (ThresholdSpec & { metric: MetricRef })[];
  compare: (MetricSpec & { metric: MetricRef })[];
  judge: JudgeConfig;
  /** Synthetic requests per second to each of stable and canary, over these paths. */
  traffic?: { paths: string[]; rate: number };
}

export type CanaryStepPlan =
  | { kind: 'setWeight'; weight: number }
  /** Without a duration, waits for a person (sluice resume). */
  | { kind: 'pause'; durationMs?: number }
  | { kind: 'analysis'; analysis: AnalysisPlan };

/**
 * The data plane's hard limit on a canary: when at least `minRequests` of its last `requests` answers are known and
 * `errorRate` or more of them are 5xx (or failed), the router sends the canary's users back to stable at once.
 */
export interface GuardPlan {
  errorRate: number;
  requests: number;
  minRequests: number;
}

/** The guard every canary gets unless its strategy says otherwise. */
export const DEFAULT_GUARD: GuardPlan = { errorRate: 0.5, requests: 20, minRequests: 5 };

export interface CanaryPlan {
  /** Blue-green: the new version is verified at its preview host before any user reaches it. */
  preview: boolean;
  instances: number;
  sticky: { header: string } | 'cookie' | 'none';
  steps: CanaryStepPlan[];
  background?: AnalysisPlan;
  /** Absent: no guard (blue-green, or `guard: false`). */
  guard?: GuardPlan;
}

/** Resolves an analysis as written in the file. */
export function analysisPlan(name: string, a: AnalysisInput): AnalysisPlan {
  return {
    name,
    intervalMs: parseDuration(a.interval ?? '5s'),
    count: a.count ?? 6,
    ...(a.traffic ? { traffic: a.traffic } : {}),
    thresholds: a.thresholds ?? [],
    compare: a.compare ?? [],
    judge: {
      ...(a.confidenceLevel !== undefined ? { confidenceLevel: a.confidenceLevel } : {}),
      ...(a.passThreshold !== undefined ? { passThreshold: a.passThreshold } : {}),
      ...(a.marginalThreshold !== undefined ? { marginalThreshold: a.marginalThreshold } : {}),
    },
  };
}

/** Resolves a canary's guard: the default, the default with some limits changed, or none. */
export function guardPlan(g: GuardInput | undefined): GuardPlan | undefined {
  if (g === false) return undefined;
  return { ...DEFAULT_GUARD, ...(g ?? {}) };
}
