import { useEffect, useRef, useState } from 'react';
import type { Role } from '../../kernel/actor.js';
import { journeyActions, protectionByStage, stageActions } from '../model/actions.js';
import { analysisOf } from '../model/analysis.js';
import { type Decision, decisionsAt, type JourneyEventLite, stepStarts } from '../model/board-model.js';
import { formatDuration, formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { ActionBar } from './actions.js';
import { AnalysisView } from './analysis-view.js';
import { call, open } from './api.js';
import { useLiveRefresh } from './live.js';
import { Link } from './router.js';

type Release = WebOutput<typeof routes.release>;
type Journey = Release['journey'];
type StageDetail = Journey['stageDetails'][number];
type Step = StageDetail['steps'][number];

/** A release's journey: every stage's steps on a timeline, their logs, the analyses behind decisions, and the actions. */
export function JourneyPage({ version, role }: { version: string; role: Role }) {
  const [data, setData] = useState<Release | null>(null);
  const [live, setLive] = useState<Record<string, string>>({});
  const [plan, setPlan] = useState<unknown>(null);
  const [events, setEvents] = useState<Array<JourneyEventLite & { by?: string; comment?: string; reason?: string }>>([]);
  const [error, setError] = useState<string | null>(null);
  const journeyId = useRef<string | undefined>(undefined);

  const refresh = async () => {
    try {
      const [r, b, ev] = await Promise.all([
        call(routes.release, { params: { version } }),
        call(routes.status),
        call(routes.releaseEvents, { params: { version } }).catch(() => null),
      ]);
      if (ev) setEvents(ev as never);
      journeyId.current = r.journey.id;
      setData(r);
      setLive(Object.fromEntries(b.stages.flatMap((s) => (s.live ? [[s.name, s.live.version]] : []))));
      setError(null);
      if (plan === null) setPlan(await call(routes.pipeline));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useLiveRefresh(refresh, [version], (e) => journeyId.current === undefined || e.journeyId === journeyId.current || e.type === 'journey.created');

  if (!data)
    return (
      <section>
        <h1>Release {version}</h1>
        <p aria-live="polite">{error ? `Cannot load release ${version}: ${error}` : 'Loading…'}</p>
        <p>
          <Link to="/">Back to the board</Link>
        </p>
      </section>
    );
  const j = data.journey;
  const info = protectionByStage(plan);
  const starts = stepStarts(events);
  const retry = journeyActions(role, j.status, j.failure?.stage, j.failure ? info.get(j.failure.stage)?.production : undefined);
  return (
    <section aria-labelledby="journey-h">
      <div className="page-head">
        <h1 id="journey-h">
          Release {j.version} <span className={`badge ${j.status}`}>{j.status}</span>
        </h1>
        {error && <p className="warn-text">Showing the last view: {error}</p>}
      </div>
      <p className="muted">
        digest <code>{j.digest.slice(0, 19)}</code> · journey <code>{j.id}</code> · created {formatTime(j.createdAt)}
        {data.release.createdBy && ` by ${data.release.createdBy.name}`}
        {data.release.sourceRef && ` · ${data.release.sourceRef}`}
      </p>
      {j.failure && (
        <p className="gate-failed">
          Failed at <strong>{j.failure.stage}</strong>: {j.failure.reason}
        </p>
      )}
      <ActionBar actions={retry} version={j.version} onDone={() => void refresh()} />
      <ol className="timeline">
        <StageBlock
          version={j.version}
          name="commit"
          detail={{ ...j.commit, name: 'commit', url: null }}
          actionsFor={null}
          starts={starts}
          decisions={[]}
          onDone={() => void refresh()}
        />
        {j.stageDetails.map((s) => (
          <StageBlock
            key={s.name}
            version={j.version}
            name={s.name}
            detail={s}
            starts={starts}
            decisions={decisionsAt(events, s.name)}
            onDone={() => void refresh()}
            actionsFor={stageActions({
              role,
              stage: s.name,
              status: s.status,
              ...(info.get(s.name)?.protection ? { protection: info.get(s.name)!.protection! } : {}),
              ...(info.get(s.name)?.production !== undefined ? { production: info.get(s.name)!.production! } : {}),
              canary: info.get(s.name)?.canary ?? false,
              serving: live[s.name] === j.version,
            })}
          />
        ))}
      </ol>
    </section>
  );
}

type StageBlockProps = {
  version: string;
  name: string;
  detail: StageDetail;
  actionsFor: ReturnType<typeof stageActions> | null;
  starts: Map<string, number>;
  decisions: Decision[];
  onDone: () => void;
};
function StageBlock(p: StageBlockProps) {
  const s = p.detail;
  const total = s.steps.reduce((n, x) => n + (x.durationMs ?? 0), 0);
  return (
    <li className={`tl-stage st-${s.status}`}>
      <h2>
        {p.name} <span className={`badge ${s.status}`}>{s.status.replace(/-/g, ' ')}</span>
        {total > 0 && <span className="muted small"> {formatDuration(total)}</span>}
      </h2>
      {s.url && (
        <p className="small">
          <a href={s.url}>{s.url}</a>
        </p>
      )}
      {s.failure && <p className="gate-failed">{s.failure}</p>}
      {s.approvals && (
        <p>
          Approvals {s.approvals.received} of {s.approvals.required} ({s.approvals.gate})
          {s.approvals.by.length > 0 && `: ${s.approvals.by.join(', ')}`}
        </p>
      )}
      {s.hold && <p className="warn-text">{s.hold.message}</p>}
      {s.warnings.map((w) => (
        <p key={w} className="warn-text">
          {w}
        </p>
      ))}
      {p.decisions.length > 0 && (
        <ul className="decisions">
          {p.decisions.map((d) => (
            <li key={`${d.at}-${d.what}-${d.by}`}>
              <span className="muted small">{formatTime(d.at)}</span> {d.by} {d.what}
              {d.comment && <q>{d.comment}</q>}
            </li>
          ))}
        </ul>
      )}
      {p.actionsFor && <ActionBar actions={p.actionsFor} version={p.version} onDone={p.onDone} />}
      {s.steps.length === 0 ? (
        <p className="muted small">No steps yet.</p>
      ) : (
        <ol className="steps">
          {s.steps.map((st) => (
            <StepRow key={st.name} version={p.version} stage={p.name} step={st} started={p.starts.get(`${p.name}/${st.name}`)} />
          ))}
        </ol>
      )}
    </li>
  );
}

const STATUS_ICON: Record<Step['status'], string> = { running: '◌', passed: '✓', failed: '✗', inconclusive: '?', cancelled: '–' };

function StepRow({ version, stage, step, started }: { version: string; stage: string; step: Step; started: number | undefined }) {
  const analysis = analysisOf(step.detail);
  const failed = step.status === 'failed';
  return (
    <li className={`step s-${step.status}`}>
      <div className="step-line">
        <span className="icon" aria-hidden="true">
          {STATUS_ICON[step.status]}
        </span>
        <span className="step-name">{step.name}</span>
        <span className={`badge ${step.status}`}>{step.status}</span>
        <span className="muted small">{step.status === 'running' ? 'running…' : formatDuration(step.durationMs)}</span>
        {started !== undefined && <span className="muted small">started {formatTime(started)}</span>}
      </div>
      {step.reason && <p className={failed ? 'gate-failed small' : 'muted small'}>{step.reason}</p>}
      {analysis && <AnalysisView a={analysis} where={`${stage} ${step.name}`} />}
      <details className="logs" open={failed || undefined}>
        <summary>
          Logs of {step.name}
          {failed ? ' (end of output)' : ''}
        </summary>
        <LogView version={version} stage={stage} step={step.name} follow={step.status === 'running'} />
      </details>
    </li>
  );
}

/** A step's log: its end (last 64 KiB), followed live while the step runs. Loaded when shown. */
function LogView({ version, stage, step, follow }: { version: string; stage: string; step: string; follow: boolean }) {
  const [text, setText] = useState('');
  const [state, setState] = useState<'loading' | 'live' | 'done' | 'error'>('loading');
  const pre = useRef<HTMLPreElement>(null);
  const host = useRef<HTMLDivElement>(null);
  const [visible, setVisible] = useState(false);

  useEffect(() => {
    const details = host.current?.closest('details');
    if (!details) return;
    const update = () => setVisible(details.open);
    update();
    details.addEventListener('toggle', update);
    return () => details.removeEventListener('toggle', update);
  }, []);

  useEffect(() => {
    if (!visible) return;
    const ac = new AbortController();
    setText('');
    setState(follow ? 'live' : 'loading');
    (async () => {
      const res = await open(
        routes.logs,
        { params: { version, stage }, query: { step, tail: '65536', ...(follow ? { follow: '1' } : {}) } },
        ac.signal,
      );
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let all = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        all += dec.decode(value, { stream: true });
        // Keep the end in view; a long log keeps only its last 256 KiB in the page.
        if (all.length > 262_144) all = all.slice(-262_144);
        setText(all);
      }
      setState('done');
    })().catch((e: Error) => {
      if (ac.signal.aborted) return;
      setText((t) => `${t}\n[${e.message}]`);
      setState('error');
    });
    return () => ac.abort();
  }, [visible, version, stage, step, follow]);

  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);

  return (
    <div ref={host}>
      {visible && (
        <>
          <pre ref={pre} className="log" tabIndex={0} aria-label={`Log of ${stage} ${step}`} aria-busy={state === 'loading' || state === 'live'}>
            {text || (state === 'done' ? '(no output)' : state === 'loading' ? 'Loading…' : '')}
          </pre>
          {state === 'live' && <p className="small muted">Following the log while the step runs…</p>}
        </>
      )}
    </div>
  );
}
