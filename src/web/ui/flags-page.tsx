import { useRef, useState } from 'react';
import { flagStageOrder, formatPercent, rolloutOf } from '../model/flags-model.js';
import { formatAgo, formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { call } from './api.js';
import { useNow } from './board-page.js';
import { useFocusRefresh, useLiveRefresh } from './live.js';
import { Link } from './router.js';

export type Flag = WebOutput<typeof routes.flags>[number];
export type FlagStage = Flag['stages'][string];
type Stale = WebOutput<typeof routes.staleFlags>;
type Board = WebOutput<typeof routes.status>;

/** The stages in the board's order, from the board's stages (or, without them, the flags' own order). */
export function stageOrderOf(flags: readonly Flag[], board: Board | null): string[] {
  const names = [...new Set(flags.flatMap((f) => Object.keys(f.stages)))];
  return flagStageOrder(board?.stages ?? [], names);
}

/** The newest evaluation of a flag in any stage, or null: never. */
export function lastEvaluated(flag: Flag): number | null {
  const times = Object.values(flag.stages).flatMap((s) => (s.lastEvaluatedAt === null ? [] : [s.lastEvaluatedAt]));
  return times.length ? Math.max(...times) : null;
}

/** A flag in one stage, in short: on or off, the default variant, whether it targets, and a split's share. */
export function StageSummary({ flag, stage }: { flag: Flag; stage: FlagStage }) {
  const on = stage.state === 'ENABLED';
  const rollout = rolloutOf(flag, stage);
  return (
    <div className="flag-cell">
      <span className={`badge ${on ? 'flag-on' : 'flag-off'}`}>{on ? 'on' : 'off'}</span>{' '}
      <span>
        default <code>{stage.defaultVariant}</code>
      </span>
      <div className="small">
        {stage.targeting === undefined ? <span className="muted">no targeting</span> : <span>targeting</span>}
        {rollout && (
          <>
            {' · '}
            <span className="rollout" title={rollout.buckets.map((b) => `${b.variant ?? '(default)'} ${formatPercent(b.percent)}`).join(', ')}>
              {formatPercent(rollout.percent)} {rollout.treatment.join('/') || 'treatment'}
            </span>
          </>
        )}
      </div>
    </div>
  );
}

/** Every flag across the stages (one row a flag, one column a stage in the board's order), and the stale report. */
export function FlagsPage() {
  const [flags, setFlags] = useState<Flag[] | null>(null);
  const [board, setBoard] = useState<Board | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow();

  const refresh = async () => {
    try {
      const [f, b] = await Promise.all([call(routes.flags), call(routes.status).catch(() => null)]);
      setFlags(f);
      if (b) setBoard(b);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  // Every saved flag change, and every reconnect; and whenever the page is back in view (a change through another replica).
  useLiveRefresh(refresh, [], () => false, () => true);
  useFocusRefresh(refresh);

  const stages = flags ? stageOrderOf(flags, board) : [];
  return (
    <section aria-labelledby="flags-h">
      <div className="page-head">
        <h1 id="flags-h">Flags</h1>
        {error && flags && <p className="warn-text">Showing the last view: {error}</p>}
      </div>
      {flags === null ? (
        <p aria-live="polite">{error ? `Cannot load the flags: ${error}` : 'Loading…'}</p>
      ) : flags.length === 0 ? (
        <p>
          No flags yet. Declare them in <code>sluice.flags.yaml</code> beside the pipeline file, or with <code>sluice flags create</code>.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="records flags">
            <caption className="sr-only">Feature flags by stage</caption>
            <thead>
              <tr>
                <th scope="col">Flag</th>
                <th scope="col">Type</th>
                <th scope="col">Owner</th>
                {stages.map((s) => (
                  <th scope="col" key={s}>
                    {s}
                  </th>
                ))}
                <th scope="col">Last evaluated</th>
              </tr>
            </thead>
            <tbody>
              {flags.map((f) => {
                const last = lastEvaluated(f);
                return (
                  <tr key={f.key}>
                    <th scope="row">
                      <Link to={`/flags/${encodeURIComponent(f.key)}`}>{f.key}</Link>
                      {f.description && <div className="small muted">{f.description}</div>}
                    </th>
                    <td>{f.type}</td>
                    <td>{f.owner || <span className="muted">none</span>}</td>
                    {stages.map((s) => {
                      const st = f.stages[s];
                      return <td key={s}>{st ? <StageSummary flag={f} stage={st} /> : <span className="muted">not in this stage</span>}</td>;
                    })}
                    <td className="nowrap">{last === null ? 'never' : <time dateTime={new Date(last).toISOString()} title={formatTime(last)}>{formatAgo(last, now)}</time>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <StaleReport stages={stages} />
    </section>
  );
}

const REASONS: Record<Stale[number]['reasons'][number], string> = {
  'fully-on': 'on for everyone in every stage',
  untouched: 'unchanged everywhere',
  'never-evaluated': 'never evaluated',
};

/** The stale-flag report: flags fully on, or untouched, everywhere for N days, and flags never evaluated. */
function StaleReport({ stages }: { stages: string[] }) {
  const [days, setDays] = useState('30');
  const [report, setReport] = useState<{ days: string; flags: Stale } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // The days last asked for, and that request's number: a refresh on reconnect asks for the same days, and an answer
  // that arrives after a newer request was made is dropped (the table always shows what was asked last).
  const asked = useRef({ days, seq: 0 });
  const load = async (d: string) => {
    const seq = ++asked.current.seq;
    asked.current.days = d;
    setBusy(true);
    try {
      const flags = await call(routes.staleFlags, { query: { days: d } });
      if (seq !== asked.current.seq) return;
      setReport({ days: d, flags });
      setError(null);
    } catch (e) {
      if (seq === asked.current.seq) setError((e as Error).message);
    } finally {
      if (seq === asked.current.seq) setBusy(false);
    }
  };
  useLiveRefresh(() => load(asked.current.days), [], () => false);

  return (
    <section aria-labelledby="stale-h" className="card stale">
      <h2 id="stale-h">Stale flags</h2>
      <p className="hint">Flags on for everyone, or unchanged, in every stage for this many days, and flags never evaluated: candidates to remove from the code.</p>
      <form
        className="filters"
        aria-label="Stale flags"
        onSubmit={(e) => {
          e.preventDefault();
          const d = days.trim();
          if (!/^\d{1,4}$/.test(d) || Number(d) < 1 || Number(d) > 3650) {
            setError(`Days is a whole number from 1 to 3650, not "${d}".`);
            return;
          }
          void load(d);
        }}
      >
        <div className="field">
          <label htmlFor="stale-days">Days</label>
          <input
            id="stale-days"
            type="number"
            inputMode="numeric"
            min={1}
            max={3650}
            step={1}
            required
            value={days}
            aria-invalid={error !== null}
            aria-describedby={error ? 'stale-err' : undefined}
            onChange={(e) => setDays(e.target.value)}
          />
        </div>
        <div className="field buttons">
          <button type="submit" className="btn primary" disabled={busy}>
            Show stale flags
          </button>
        </div>
      </form>
      {error && (
        <p id="stale-err" className="error" role="alert">
          {error}
        </p>
      )}
      {report &&
        (report.flags.length === 0 ? (
          <p>
            No stale flags over {report.days} {report.days === '1' ? 'day' : 'days'}.
          </p>
        ) : (
          <div className="table-wrap">
            <table className="records">
              <caption className="sr-only">
                Stale flags over {report.days} {report.days === '1' ? 'day' : 'days'}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Flag</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Why</th>
                  <th scope="col">Last changed (UTC)</th>
                  <th scope="col">Last evaluated (UTC)</th>
                </tr>
              </thead>
              <tbody>
                {report.flags.map((f) => (
                  <tr key={f.key}>
                    <th scope="row">
                      <Link to={`/flags/${encodeURIComponent(f.key)}`}>{f.key}</Link>
                    </th>
                    <td>{f.owner || <span className="muted">none</span>}</td>
                    <td>{f.reasons.map((r) => REASONS[r]).join('; ')}</td>
                    <td className="nowrap">{formatTime(f.lastChangedAt)}</td>
                    <td>
                      <ul className="links">
                        {[...new Set([...stages.filter((s) => s in f.lastEvaluatedAt), ...Object.keys(f.lastEvaluatedAt)])].map((s) => {
                          const t = f.lastEvaluatedAt[s];
                          return (
                            <li key={s}>
                              {s}: {t === null || t === undefined ? 'never' : formatTime(t)}
                            </li>
                          );
                        })}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}
