import type { StageJourneyView, StepView } from '../../journeys/board.js';
import { formatNumber } from './format.js';
import type { AnalysisDetailView } from './analysis.js';
import { analysisOf } from './analysis.js';
import type { StageStatus } from './actions.js';

/** How a stage looks at a glance: its tone (colour) and a word for it. */
export interface Health {
  tone: 'ok' | 'busy' | 'wait' | 'bad' | 'idle';
  label: string;
}

const TONE: Record<StageStatus, Health['tone']> = {
  waiting: 'idle',
  skipped: 'idle',
  'awaiting-promotion': 'wait',
  'awaiting-approval': 'wait',
  ready: 'wait',
  paused: 'wait',
  deploying: 'busy',
  'rolling-out': 'busy',
  verifying: 'busy',
  baking: 'busy',
  passed: 'ok',
  'rolling-back': 'bad',
  'rolled-back': 'bad',
  failed: 'bad',
};

/** A stage's health: from its newest journey's status, and whether it serves anything. */
export function stageHealth(latest: Pick<StageJourneyView, 'status'> | null, serving: boolean): Health {
  if (!latest) return serving ? { tone: 'ok', label: 'healthy' } : { tone: 'idle', label: 'nothing deployed' };
  const tone = TONE[latest.status];
  if (latest.status === 'passed') return { tone, label: 'healthy' };
  return { tone, label: latest.status.replace(/-/g, ' ') };
}

/** The step running now, if any: the rollout's own step rather than the analysis that runs in the background beside it. */
export function stepInProgress(latest: Pick<StageJourneyView, 'steps'> | null): StepView | undefined {
  const running = latest?.steps.filter((s) => s.status === 'running') ?? [];
  return running.find((s) => !s.name.endsWith(':background')) ?? running[0];
}

/** A failed gate: the step, why, and what was measured. */
export interface FailedGate {
  step: string;
  reason: string;
  measured: string[];
}

/** Every failed step of a stage with its reason and the measured values behind it (an analysis's failing metrics). */
export function failedGates(latest: Pick<StageJourneyView, 'steps' | 'failure'> | null): FailedGate[] {
  if (!latest) return [];
  const gates: FailedGate[] = latest.steps
    .filter((s) => s.status === 'failed')
    .map((s) => ({ step: s.name, reason: s.reason ?? 'failed', measured: measuredValues(analysisOf(s.detail)) }));
  if (gates.length === 0 && latest.failure) gates.push({ step: 'stage', reason: latest.failure, measured: [] });
  return gates;
}

/** The values that failed an analysis, for people: "latency: canary 120 vs baseline 80 (ratio 1.5, High)". */
export function measuredValues(a: AnalysisDetailView | undefined): string[] {
  if (!a) return [];
  const out: string[] = [];
  for (const m of a.response.comparison?.metrics ?? []) {
    if (m.classification === 'Pass') continue;
    out.push(`${m.name}: canary ${formatNumber(m.canary.mean)} vs baseline ${formatNumber(m.baseline.mean)} (ratio ${formatNumber(m.ratio)}, ${m.classification})`);
  }
  for (const t of a.response.thresholds) {
    if (t.outcome === 'Successful') continue;
    const req = a.request.thresholds?.find((r) => r.name === t.name);
    const last = req?.measurements.filter((v): v is number => typeof v === 'number').at(-1);
    out.push(`${t.name}: ${last !== undefined ? `last ${formatNumber(last)}, ` : ''}${t.counts.failed} failed of ${t.counts.successful + t.counts.failed} (${t.outcome})`);
  }
  return out;
}

/** What a stage should serve, from `GET /api/v1/stages`. */
export interface DesiredView {
  stage: string;
  stable: { release: { version: string } } | null;
  canary: { release: { version: string }; weight: number } | null;
}

/** During a canary: both versions and the canary's weight (percent of traffic). */
export function canarySplit(d: DesiredView | undefined): { stable: string | null; canary: string; weight: number } | undefined {
  if (!d?.canary) return undefined;
  return { stable: d.stable?.release.version ?? null, canary: d.canary.release.version, weight: d.canary.weight };
}

/** A journey summary as the board lists it. */
export interface LaneJourney {
  version: string;
  status: 'running' | 'succeeded' | 'failed' | 'superseded';
  stages: Record<string, StageStatus>;
  createdAt: number;
  /** Waiting for a stage with a lane (see `lane` in sluice.yaml). */
  lane?: { stage: string; ahead: string[]; before: string[] };
}

const SETTLED: ReadonlySet<StageStatus> = new Set(['passed', 'skipped', 'waiting']);

/**
 * The lane: running journeys, oldest first, each with where it is (the first stage, in pipeline order, that is
 * neither waiting, passed nor skipped; "queued" before it reaches any), and behind whom when a stage's lane holds it.
 */
export function lane(
  journeys: readonly LaneJourney[],
  stageOrder: readonly string[],
): Array<LaneJourney & { at: string; stage?: string; stageStatus?: StageStatus }> {
  return journeys
    .filter((j) => j.status === 'running')
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((j) => {
      const here = stageOrder.find((s) => j.stages[s] !== undefined && !SETTLED.has(j.stages[s]!));
      if (!here) return { ...j, at: 'queued' };
      const l = j.lane?.stage === here ? j.lane : undefined;
      const at = l
        ? `${here}: queued in its lane behind ${[...l.ahead.map((v) => `${v} (on its way to the end)`), ...l.before.map((v) => `${v} (queued)`)].join(', ')}`
        : `${here}: ${j.stages[here]!.replace(/-/g, ' ')}`;
      return { ...j, at, stage: here, stageStatus: j.stages[here]! };
    });
}

/** An event of a release's journey, as `GET /api/v1/releases/:version/events` answers (the fields read here). */
export interface JourneyEventLite {
  at: number;
  type: string;
  stage?: string;
  step?: string;
  ok?: boolean;
}

/**
 * Since when a stage serves the release: when its traffic last moved to it (the deploy step, or a canary's promote
 * step, finishing well), else when the journey entered the stage.
 */
export function servingSince(events: readonly JourneyEventLite[], stage: string): number | undefined {
  let since: number | undefined;
  let entered: number | undefined;
  for (const e of events) {
    if (e.stage !== stage) continue;
    if (e.type === 'stage.entered') entered = e.at;
    if (e.type === 'step.finished' && e.ok && (e.step === 'deploy' || e.step === 'promote')) since = e.at;
  }
  return since ?? entered;
}

/** When each step last started, by `stage/step` (a retried journey runs a step again; the newest start counts). */
export function stepStarts(events: readonly JourneyEventLite[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) if (e.type === 'step.started' && e.stage !== undefined && e.step !== undefined) out.set(`${e.stage}/${e.step}`, e.at);
  return out;
}

/** A person's decision on a stage, for the timeline: who, what, when, and their comment or reason. */
export interface Decision {
  at: number;
  what: string;
  by: string;
  comment?: string;
}

const DECISIONS: Record<string, string> = {
  'stage.promoted': 'promoted',
  'stage.promoted-full': 'promoted to all traffic',
  'stage.approved': 'approved',
  'stage.rejected': 'rejected',
  'stage.paused': 'paused',
  'stage.resumed': 'resumed',
  'stage.rollback-requested': 'asked to roll back',
};

/** The decisions people took at a stage, oldest first. */
export function decisionsAt(events: ReadonlyArray<JourneyEventLite & { by?: string; comment?: string; reason?: string }>, stage: string): Decision[] {
  return events
    .filter((e) => e.stage === stage && DECISIONS[e.type] !== undefined)
    .map((e) => {
      const comment = e.comment ?? e.reason;
      return { at: e.at, what: DECISIONS[e.type]!, by: e.by ?? 'sluice', ...(comment ? { comment } : {}) };
    });
}

/** Why a paused rollout waits for a person: its inconclusive analysis (resume goes on, abort rolls back), if any. */
export function inconclusiveGate(latest: Pick<StageJourneyView, 'steps' | 'status'> | null): FailedGate | undefined {
  if (!latest || latest.status !== 'paused') return undefined;
  const s = latest.steps.findLast((x) => x.status === 'inconclusive');
  return s ? { step: s.name, reason: s.reason ?? 'inconclusive', measured: measuredValues(analysisOf(s.detail)) } : undefined;
}
