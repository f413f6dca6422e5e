import { useEffect, useState } from 'react';
import type { Role } from '../../kernel/actor.js';
import { mayChangeFlags, protectionByStage } from '../model/actions.js';
import { formatPercent, historyRows, parseTargeting, type Problem, problemsOf, rolloutOf, targetingText } from '../model/flags-model.js';
import { formatAgo, formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { ConfirmDialog } from './actions.js';
import { ApiError, call } from './api.js';
import { useNow } from './board-page.js';
import { type Flag, type FlagStage, stageOrderOf, StageSummary } from './flags-page.js';
import { useFocusRefresh, useLiveRefresh } from './live.js';
import { RampPanel, type RampVerb } from './ramp-panel.js';
import { Link } from './router.js';

type Board = WebOutput<typeof routes.status>;
type History = WebOutput<typeof routes.flagHistory>;
/** The parts of a flag in a stage that the page changes, each with its own control and its own error. */
type Field = 'state' | 'defaultVariant' | 'targeting' | 'ramp';
type Body = { state?: 'ENABLED' | 'DISABLED'; defaultVariant?: string; targeting?: unknown };
/** A change waiting for its reason. */
interface Pending {
  stage: string;
  field: Field;
  body: Body;
  title: string;
  describe: string;
  /** A ramp's verb instead of a change of the flag's config. */
  ramp?: RampVerb;
}
/** Why a change was refused: the server's message and each problem it names, or the client's own check. */
interface FieldError {
  message: string;
  problems: Problem[];
}
const errorKey = (stage: string, field: Field) => `${stage}/${field}`;
/** The reason a flag route keeps (its contract's limit). */
const REASON_MAX = 1000;
const HISTORY_LIMIT = '200';
const RAMP_ROUTES = { start: routes.rampStart, pause: routes.rampPause, resume: routes.rampResume, abort: routes.rampAbort } as const;

/** One flag: each stage's state, default variant and targeting, changed in place by those allowed, and its history. */
export function FlagPage({ flagKey, role }: { flagKey: string; role: Role }) {
  const [flag, setFlag] = useState<Flag | null>(null);
  const [board, setBoard] = useState<Board | null>(null);
  // Undefined until the pipeline is read: no control shows before its stages' protection is known.
  const [plan, setPlan] = useState<{ value: unknown } | undefined>(undefined);
  const [history, setHistory] = useState<History | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, FieldError>>({});
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const now = useNow();

  const refresh = async () => {
    try {
      const [f, h, b] = await Promise.all([
        call(routes.flag, { params: { key: flagKey } }),
        call(routes.flagHistory, { query: { flag: flagKey, limit: HISTORY_LIMIT } }),
        call(routes.status).catch(() => null),
      ]);
      setFlag(f);
      setHistory(h);
      if (b) setBoard(b);
      setLoadError(null);
      // Not read (the control plane restarting): no controls yet, and the next refresh asks again.
      if (plan === undefined) await call(routes.pipeline).then((value) => setPlan({ value }), () => {});
    } catch (e) {
      setLoadError((e as Error).message);
    }
  };
  useLiveRefresh(refresh, [flagKey], () => false, (e) => e.flags.includes(flagKey) || e.flags.length === 0);
  useFocusRefresh(refresh);

  if (!flag)
    return (
      <section>
        <h1>Flag {flagKey}</h1>
        <p aria-live="polite">{loadError ? `Cannot load flag ${flagKey}: ${loadError}` : 'Loading…'}</p>
        <p>
          <Link to="/flags">All flags</Link>
        </p>
      </section>
    );

  const protection = protectionByStage(plan?.value);
  const stages = stageOrderOf([flag], board);
  const setError = (stage: string, field: Field, e: FieldError | null) =>
    setErrors((all) => {
      const next = { ...all };
      if (e) next[errorKey(stage, field)] = e;
      else delete next[errorKey(stage, field)];
      return next;
    });

  const send = async (p: Pending, reason: string) => {
    setBusy(true);
    try {
      const params = { stage: p.stage, key: flag.key };
      if (p.ramp) await call(RAMP_ROUTES[p.ramp], { params, body: { reason: reason.trim() } });
      else await call(routes.setFlag, { params, body: { ...p.body, reason: reason.trim() } });
      setError(p.stage, p.field, null);
      if (p.field === 'targeting')
        setDrafts((d) => {
          const { [p.stage]: _done, ...rest } = d;
          return rest;
        });
      setSaved(`${p.title}: saved.`);
      await refresh();
    } catch (e) {
      // A refusal changes nothing: the server checked the stage's whole flag set and kept the last good one.
      setError(p.stage, p.field, { message: (e as Error).message, problems: e instanceof ApiError ? problemsOf(e.details) : [] });
      setSaved(null);
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  const rows = history ? historyRows(history) : [];
  const variants = Object.keys(flag.variants);
  return (
    <section aria-labelledby="flag-h">
      <p className="small">
        <Link to="/flags">All flags</Link>
      </p>
      <div className="page-head">
        <h1 id="flag-h">
          Flag <code>{flag.key}</code>
        </h1>
        {loadError && <p className="warn-text">Showing the last view: {loadError}</p>}
      </div>
      <dl className="card flag-facts">
        <dt>Type</dt>
        <dd>{flag.type}</dd>
        <dt>Owner</dt>
        <dd>{flag.owner || <span className="muted">none</span>}</dd>
        <dt>Description</dt>
        <dd>{flag.description || <span className="muted">none</span>}</dd>
        <dt>Variants</dt>
        <dd>
          {variants.map((v, i) => (
            <span key={v}>
              {i > 0 && ', '}
              <code>{v}</code> = <code>{JSON.stringify(flag.variants[v])}</code>
            </span>
          ))}
        </dd>
      </dl>
      <p aria-live="polite" className="small">
        {saved}
      </p>
      <div className="flag-stages">
        {stages.map((s) => {
          const st = flag.stages[s];
          if (!st) return null;
          return (
            <StageEditor
              key={s}
              flag={flag}
              stageName={s}
              stage={st}
              now={now}
              canEdit={plan !== undefined && mayChangeFlags(role, protection.get(s)?.protection)}
              busy={busy}
              draft={drafts[s]}
              onDraft={(text) => {
                setDrafts((d) => ({ ...d, [s]: text }));
                setError(s, 'targeting', null);
              }}
              errorOf={(field) => errors[errorKey(s, field)]}
              onInvalid={(field, message) => setError(s, field, { message, problems: [] })}
              onChange={(p) => {
                setSaved(null);
                setPending(p);
              }}
            />
          );
        })}
      </div>
      <section aria-labelledby="history-h">
        <h2 id="history-h">History</h2>
        {history === null ? (
          <p aria-live="polite">Loading…</p>
        ) : rows.length === 0 ? (
          <p>No changes recorded.</p>
        ) : (
          // It scrolls sideways on a phone, and holds nothing focusable to scroll it with: the wrapper takes the focus.
          <div className="table-wrap" tabIndex={0} role="region" aria-label={`History of flag ${flag.key}`}>
            <table className="records">
              <caption className="sr-only">Changes of flag {flag.key}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When (UTC)</th>
                  <th scope="col">Who</th>
                  <th scope="col">Where</th>
                  <th scope="col">What</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id}>
                    <td className="nowrap">{formatTime(r.at)}</td>
                    <td>{r.who}</td>
                    <td>{r.where}</td>
                    <td className="what">{r.what}</td>
                    <td>
                      {r.why}
                      {r.links.release && (
                        <div className="small">
                          release <Link to={`/releases/${encodeURIComponent(r.links.release)}`}>{r.links.release}</Link>
                        </div>
                      )}
                      {r.links.journey && <div className="small">journey {r.links.journey}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {pending && (
        <ConfirmDialog
          title={pending.title}
          text={pending.describe}
          commentLabel="Reason"
          commentRequired
          commentMaxLength={REASON_MAX}
          commentNote="Kept in the flag's history and the audit trail."
          busy={busy}
          onCancel={() => setPending(null)}
          onConfirm={(reason) => void send(pending, reason)}
        />
      )}
    </section>
  );
}

/** A flag in one stage: what it serves, and for those allowed the controls that change it. */
function StageEditor(p: {
  flag: Flag;
  stageName: string;
  stage: FlagStage;
  now: number;
  canEdit: boolean;
  busy: boolean;
  draft: string | undefined;
  onDraft: (text: string) => void;
  errorOf: (field: Field) => FieldError | undefined;
  onInvalid: (field: Field, message: string) => void;
  onChange: (p: Pending) => void;
}) {
  const { flag, stageName: s, stage } = p;
  const [variant, setVariant] = useState(stage.defaultVariant);
  // Another person (or this one) changed the default: the select shows what the stage serves now.
  useEffect(() => setVariant(stage.defaultVariant), [stage.defaultVariant]);
  const on = stage.state === 'ENABLED';
  const rollout = rolloutOf(flag, stage);
  const idBase = `st-${s}`;
  const targeting = p.draft ?? targetingText(stage.targeting);
  const evaluations = Object.entries(stage.evaluations);
  return (
    <section className="card flag-stage" aria-labelledby={`${idBase}-h`}>
      <h2 id={`${idBase}-h`}>Stage {s}</h2>
      <StageSummary flag={flag} stage={stage} />
      <dl className="flag-facts">
        <dt>Changed</dt>
        <dd>
          {formatTime(stage.changedAt)}
          {stage.fromFile && <span className="muted"> (as the flags file set it)</span>}
        </dd>
        <dt>Last evaluated</dt>
        <dd>{stage.lastEvaluatedAt === null ? 'never' : `${formatAgo(stage.lastEvaluatedAt, p.now)} (${formatTime(stage.lastEvaluatedAt)})`}</dd>
        {evaluations.length > 0 && (
          <>
            <dt>Evaluations</dt>
            <dd>{evaluations.map(([v, n]) => `${v}: ${n}`).join(', ')}</dd>
          </>
        )}
        {rollout && (
          <>
            <dt>Split</dt>
            <dd>{rollout.buckets.map((b) => `${b.variant ?? '(default)'} ${formatPercent(b.percent)}`).join(', ')}</dd>
          </>
        )}
      </dl>
      {stage.ramp && (
        <RampPanel
          flag={flag.key}
          stage={s}
          ramp={stage.ramp}
          info={stage.rampInfo}
          now={p.now}
          canEdit={p.canEdit}
          busy={p.busy}
          onVerb={(verb, title, describe) => p.onChange({ stage: s, field: 'ramp', body: {}, title, describe, ramp: verb })}
        />
      )}
      <FieldErrorText id={`${idBase}-ramp-err`} error={p.errorOf('ramp')} />
      {!p.canEdit ? (
        <>
          <h3 className="small">Targeting</h3>
          {stage.targeting === undefined ? <p className="muted">No targeting: everyone gets the default variant while the flag is on.</p> : <pre className="log">{targetingText(stage.targeting)}</pre>}
        </>
      ) : (
        <div className="flag-edit">
          <div className="field">
            <div className="actions">
              <button
                type="button"
                className={`btn ${on ? 'danger' : 'primary'}`}
                disabled={p.busy}
                aria-describedby={p.errorOf('state') ? `${idBase}-state-err` : undefined}
                onClick={() =>
                  p.onChange({
                    stage: s,
                    field: 'state',
                    body: { state: on ? 'DISABLED' : 'ENABLED' },
                    title: `Turn ${flag.key} ${on ? 'off' : 'on'} in ${s}`,
                    describe: on
                      ? `${flag.key} stops being evaluated in ${s}: every app there gets its own default value at once.`
                      : `${flag.key} is served in ${s} again, by its default variant and targeting.`,
                  })
                }
              >
                {on ? `Turn off in ${s}` : `Turn on in ${s}`}
              </button>
            </div>
            <FieldErrorText id={`${idBase}-state-err`} error={p.errorOf('state')} />
          </div>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              p.onChange({
                stage: s,
                field: 'defaultVariant',
                body: { defaultVariant: variant },
                title: `Default variant of ${flag.key} in ${s}`,
                describe: `${s} serves ${variant} (${JSON.stringify(flag.variants[variant])}) where no targeting rule decides, instead of ${stage.defaultVariant}.`,
              });
            }}
          >
            <div className="field">
              <label htmlFor={`${idBase}-default`}>Default variant in {s}</label>
              <select
                id={`${idBase}-default`}
                value={variant}
                aria-invalid={p.errorOf('defaultVariant') !== undefined}
                aria-describedby={p.errorOf('defaultVariant') ? `${idBase}-default-err` : undefined}
                onChange={(e) => setVariant(e.target.value)}
              >
                {Object.keys(flag.variants).map((v) => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
              <FieldErrorText id={`${idBase}-default-err`} error={p.errorOf('defaultVariant')} />
            </div>
            <div className="field buttons">
              <button type="submit" className="btn" disabled={p.busy || variant === stage.defaultVariant}>
                Save default in {s}
              </button>
            </div>
          </form>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const parsed = parseTargeting(targeting);
              if (!parsed.ok) {
                p.onInvalid('targeting', parsed.message);
                return;
              }
              p.onChange({
                stage: s,
                field: 'targeting',
                body: { targeting: parsed.targeting },
                title: `Targeting of ${flag.key} in ${s}`,
                describe:
                  parsed.targeting === null
                    ? `Remove the targeting in ${s}: everyone gets the default variant (${stage.defaultVariant}) while the flag is on.`
                    : `Replace the targeting in ${s}. The server checks it with the stage's whole flag set and changes nothing if it is invalid.`,
              });
            }}
          >
            <div className="field">
              <label htmlFor={`${idBase}-targeting`}>Targeting in {s} (JSON)</label>
              <textarea
                id={`${idBase}-targeting`}
                className="mono"
                rows={Math.min(16, Math.max(4, targeting.split('\n').length + 1))}
                spellCheck={false}
                value={targeting}
                aria-invalid={p.errorOf('targeting') !== undefined}
                aria-describedby={`${idBase}-targeting-hint${p.errorOf('targeting') ? ` ${idBase}-targeting-err` : ''}`}
                onChange={(e) => p.onDraft(e.target.value)}
              />
              <span id={`${idBase}-targeting-hint`} className="hint">
                flagd JSONLogic, e.g. {'{"fractional": [["on", 10], ["off", 90]]}'}; empty: no targeting.
              </span>
              <FieldErrorText id={`${idBase}-targeting-err`} error={p.errorOf('targeting')} />
            </div>
            <div className="actions">
              <button type="submit" className="btn" disabled={p.busy || p.draft === undefined}>
                Save targeting in {s}
              </button>
            </div>
          </form>
        </div>
      )}
    </section>
  );
}

/** A refused change, next to its field: the message, and each problem at its path. */
function FieldErrorText({ id, error }: { id: string; error: FieldError | undefined }) {
  if (!error) return null;
  return (
    <div id={id} className="error field-error" role="alert">
      {error.problems.length > 0 ? (
        <>
          <p>Refused, nothing changed:</p>
          <ul>
            {error.problems.map((pr, i) => (
              <li key={i}>
                {pr.path && <code>{pr.path}</code>}
                {pr.path && ': '}
                {pr.message}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>{error.message}</p>
      )}
    </div>
  );
}
