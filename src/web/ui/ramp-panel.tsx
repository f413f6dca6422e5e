import { useEffect, useState } from 'react';
import { formatPercent, rampStatusText, rampSteps } from '../model/flags-model.js';
import { formatDuration, formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { call } from './api.js';
import { SeriesChart } from './chart.js';
import type { FlagStage } from './flags-page.js';

type Ramp = NonNullable<FlagStage['ramp']>;
type Series = WebOutput<typeof routes.rampSeries>;
/** What a person can do to a ramp. */
export type RampVerb = 'start' | 'pause' | 'resume' | 'abort';

/** How often the charts of a running ramp are read again: the data plane counts every second, and no event says so. */
const SERIES_EVERY_MS = 2_000;

const STEP_WORD = { passed: 'passed', current: 'now', failed: 'failed', stopped: 'stopped', pending: 'to come' } as const;

/** What each verb does, for the confirmation. */
function describeVerb(verb: RampVerb, ramp: Ramp, flag: string, stage: string): string {
  const t = ramp.plan.treatment;
  switch (verb) {
    case 'start':
      return `${flag} in ${stage} serves ${t} to ${ramp.plan.steps[0]}% of users, then more at each step the judge passes (${ramp.plan.steps.map((p) => `${p}%`).join(' → ')}).`;
    case 'pause':
      return `The ramp keeps ${formatPercent(ramp.run?.percent ?? 0)} ${t} and is not judged until it is resumed.`;
    case 'resume':
      return `The ramp is judged again after the step's wait (${formatDuration(ramp.plan.waitMs)}), counted from now.`;
    case 'abort':
      return `${flag} in ${stage} gets back the default variant and targeting it had before the ramp.`;
  }
}

/** The verbs a ramp takes where it is (the decider refuses the others). */
function verbsOf(ramp: Ramp): RampVerb[] {
  switch (ramp.run?.status) {
    case undefined:
    case 'completed':
    case 'aborted':
      return ['start'];
    case 'running':
      return ['pause', 'abort'];
    case 'paused':
      return ['resume', 'abort'];
    case 'regressed':
      return ['start', 'abort'];
  }
}

/**
 * A flag's guarded ramp in one stage: where it is, its steps, the treatment's users against the control's on each
 * judged metric (charted live while it runs), its last verdicts, and for those allowed the controls.
 */
export function RampPanel(p: {
  flag: string;
  stage: string;
  ramp: Ramp;
  info: FlagStage['rampInfo'];
  now: number;
  canEdit: boolean;
  busy: boolean;
  onVerb: (verb: RampVerb, title: string, describe: string) => void;
}) {
  const { ramp, stage, flag } = p;
  const run = ramp.run;
  const id = `ramp-${stage}`;
  const verdicts = [...(run?.verdicts ?? [])].reverse();
  return (
    <section className="ramp" aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>Guarded ramp in {stage}</h3>
      <p className={`ramp-status ${run?.status ?? 'declared'}`}>{rampStatusText(ramp, p.info?.nextJudgementAt ?? null, p.now)}</p>
      <ol className="ramp-steps" aria-label={`Steps of the ramp in ${stage}`}>
        {rampSteps(ramp).map((s, i) => (
          <li key={i} className={`ramp-step ${s.state}`} aria-current={s.state === 'current' ? 'step' : undefined}>
            {s.percent}% <span className="small">{STEP_WORD[s.state]}</span>
          </li>
        ))}
      </ol>
      <div className="field">
        <label htmlFor={`${id}-share`} className="small">
          Share of {ramp.plan.treatment} in {stage}: {formatPercent(run?.percent ?? 0)}
        </label>
        <progress id={`${id}-share`} max={100} value={run?.percent ?? 0} />
      </div>
      <p className="small muted">
        {ramp.plan.treatment} against {ramp.plan.control}, measured by {p.info?.measurement ?? 'the data plane'}; each step judged after {formatDuration(ramp.plan.waitMs)}; on a regression,{' '}
        {ramp.plan.onRegression === 'zero' ? `back to 0% ${ramp.plan.treatment}` : 'the ramp pauses'}.
      </p>
      <RampCharts flag={flag} stage={stage} ramp={ramp} />
      {verdicts.length > 0 && (
        <>
          <h4 className="small">Verdicts, newest first</h4>
          <ol className="ramp-verdicts" aria-label={`Verdicts of the ramp in ${stage}, newest first`}>
            {verdicts.map((v) => (
              <li key={`${v.at}-${v.step}`}>
                <span className="nowrap small">{formatTime(v.at)}</span> at {formatPercent(v.percent)}: <span className={`verdict ${v.outcome}`}>{v.outcome}</span>
                {v.score !== null && ` (score ${v.score})`}
                <div className="small">{v.reason}</div>
              </li>
            ))}
          </ol>
        </>
      )}
      {p.canEdit && (
        <div className="actions">
          {verbsOf(ramp).map((verb) => {
            const label = `${verb[0]!.toUpperCase()}${verb.slice(1)} the ramp in ${stage}`;
            return (
              <button
                key={verb}
                type="button"
                className={`btn ${verb === 'abort' ? 'danger' : verb === 'start' ? 'primary' : ''}`}
                disabled={p.busy}
                onClick={() => p.onVerb(verb, `${label} (${flag})`, describeVerb(verb, ramp, flag, stage))}
              >
                {label}
              </button>
            );
          })}
        </div>
      )}
    </section>
  );
}

/** Each judged metric, the treatment's users against the control's, read again every 2 s while the ramp runs. */
function RampCharts({ flag, stage, ramp }: { flag: string; stage: string; ramp: Ramp }) {
  const [series, setSeries] = useState<Series | null>(null);
  const [error, setError] = useState<string | null>(null);
  const status = ramp.run?.status;
  const live = status === 'running' || status === 'paused';
  // A new step or verdict: the window moves (the step's start), so read again at once.
  const version = `${status}/${ramp.run?.step}/${ramp.run?.verdicts.length}`;
  useEffect(() => {
    let alive = true;
    const read = async () => {
      try {
        const s = await call(routes.rampSeries, { params: { stage, key: flag } });
        if (!alive) return;
        setSeries(s);
        setError(null);
      } catch (e) {
        if (alive) setError((e as Error).message);
      }
    };
    void read();
    const timer = live
      ? setInterval(() => {
        if (document.visibilityState === 'visible') void read();
      }, SERIES_EVERY_MS)
      : undefined;
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [flag, stage, live, version]);

  if (error) return <p className="warn-text small">The ramp’s metrics cannot be read now: {error}</p>;
  if (!series) return null;
  const window = live ? `this step, since ${formatTime(series.fromMs)}` : `the last ${formatDuration(series.toMs - series.fromMs)}`;
  return (
    <div className="charts" role="group" aria-label={`Metrics of the ramp in ${stage}, ${window}`}>
      {series.metrics.map((m) => (
        <div key={m.name}>
          <h4 className="small">
            {m.name} ({m.metric}), {window}
          </h4>
          <SeriesChart
            title={`${m.name} in ${stage}: ${ramp.plan.treatment} against ${ramp.plan.control}`}
            series={[
              { label: `${ramp.plan.treatment} (treatment)`, values: m.canary, kind: 'canary' },
              { label: `${ramp.plan.control} (control)`, values: m.baseline, kind: 'baseline' },
            ]}
            lines={[]}
          />
        </div>
      ))}
    </div>
  );
}
