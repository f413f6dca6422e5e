import type { AnalysisGap } from '../../rollout/analysis-runner.js';
import type { JudgeRequest, JudgeResponse } from '../../rollout/judge-request.js';

/** What an analysis step stores as its detail (AnalysisDetail): the judge request it built and the verdict. */
export interface AnalysisDetailView {
  analysis: string;
  stage?: string;
  canary?: string;
  baseline?: string;
  fromMs?: number;
  toMs?: number;
  gaps?: AnalysisGap[];
  request: JudgeRequest;
  response: JudgeResponse;
}

/** The analysis behind a step, when its detail is one. */
export function analysisOf(detail: unknown): AnalysisDetailView | undefined {
  const d = detail as Partial<AnalysisDetailView> | null | undefined;
  if (!d || typeof d !== 'object' || !d.request || !d.response || typeof d.response !== 'object') return undefined;
  if (typeof d.response.outcome !== 'string') return undefined;
  return { ...d, analysis: typeof d.analysis === 'string' ? d.analysis : 'analysis' } as AnalysisDetailView;
}

type Value = number | null | 'NaN' | { error: string };

/** A series as numbers, with NaN for a point without data (null, "NaN", or a query error). */
export function seriesValues(values: readonly Value[] | undefined): number[] {
  return (values ?? []).map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN));
}

/** A line to draw across a chart: a threshold and what it means. */
export interface ThresholdLine {
  value: number;
  label: string;
}

/**
 * The thresholds of a compared metric, as values on its chart: the effect sizes are ratios to the baseline's mean,
 * so `allowedIncrease: 1.2` draws a line at 1.2 × the baseline mean.
 */
export function comparisonLines(metric: NonNullable<JudgeRequest['metrics']>[number], baselineMean: number | null): ThresholdLine[] {
  const e = metric.effectSize;
  if (!e || baselineMean === null || !Number.isFinite(baselineMean)) return [];
  const out: ThresholdLine[] = [];
  if (e.allowedIncrease !== undefined) out.push({ value: baselineMean * e.allowedIncrease, label: `allowed increase ×${e.allowedIncrease}` });
  if (e.criticalIncrease !== undefined) out.push({ value: baselineMean * e.criticalIncrease, label: `critical increase ×${e.criticalIncrease}` });
  if (e.allowedDecrease !== undefined) out.push({ value: baselineMean * e.allowedDecrease, label: `allowed decrease ×${e.allowedDecrease}` });
  if (e.criticalDecrease !== undefined) out.push({ value: baselineMean * e.criticalDecrease, label: `critical decrease ×${e.criticalDecrease}` });
  return out;
}

/** A threshold check's limits as lines. */
export function thresholdLines(t: { min?: number; max?: number }): ThresholdLine[] {
  return [...(t.max !== undefined ? [{ value: t.max, label: `max ${t.max}` }] : []), ...(t.min !== undefined ? [{ value: t.min, label: `min ${t.min}` }] : [])];
}

/** A chart's geometry: SVG path data per series and the y of each line, in a `width` × `height` box with `pad` inside. */
export interface ChartGeometry {
  paths: string[];
  lines: Array<ThresholdLine & { y: number }>;
  yMin: number;
  yMax: number;
}

/**
 * Lays series and threshold lines out in a box: x by index (each series spread over the full width), y scaled to
 * cover every value and line. A point without data breaks its line; the scale never collapses to zero height.
 */
export function chartGeometry(
  series: readonly (readonly number[])[],
  lines: readonly ThresholdLine[],
  width: number,
  height: number,
  pad = 4,
): ChartGeometry {
  const values = [...series.flat(), ...lines.map((l) => l.value)].filter((v) => Number.isFinite(v));
  let yMin = values.length ? Math.min(...values) : 0;
  let yMax = values.length ? Math.max(...values) : 1;
  if (yMin > 0 && yMin < yMax / 2) yMin = 0;
  if (yMax === yMin) {
    yMax += Math.abs(yMax) * 0.1 || 1;
    yMin -= Math.abs(yMin) * 0.1 || 0;
  }
  const y = (v: number) => pad + (height - 2 * pad) * (1 - (v - yMin) / (yMax - yMin));
  const round = (n: number) => Math.round(n * 10) / 10;
  const paths = series.map((s) => {
    const step = s.length > 1 ? (width - 2 * pad) / (s.length - 1) : 0;
    let d = '';
    let pen = false;
    s.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${round(pad + i * step)} ${round(y(v))}`;
      pen = true;
    });
    return d;
  });
  return { paths, lines: lines.map((l) => ({ ...l, y: round(y(l.value)) })), yMin, yMax };
}
