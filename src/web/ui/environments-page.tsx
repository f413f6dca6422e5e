import { type FormEvent, useId, useRef, useState } from 'react';
import type { Role } from '../../kernel/actor.js';
import { type EnvironmentRow, environmentRights, reviewLabel, runState, sourceStages, ttlLeft } from '../model/environments-model.js';
import { formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { ConfirmDialog } from './actions.js';
import { call } from './api.js';
import { useNow } from './board-page.js';
import { useFocusRefresh, useLiveRefresh } from './live.js';

type Review = WebOutput<typeof routes.reviewEnvironment>;
/** A question asked before an action: the destructive ones, and reviews (which take a comment). */
type Pending = { kind: 'approve' | 'request-changes' | 'destroy'; env: EnvironmentRow };

/**
 * Answers only the newest of overlapping fetches: an older answer that arrives last is dropped, so two refreshes
 * (a live event and an action's own) cannot leave the page showing the older list.
 */
function useLatest() {
  const seq = useRef(0);
  return async function latest<T>(fetch: () => Promise<T>, apply: (value: T) => void, fail: (e: Error) => void): Promise<void> {
    const mine = ++seq.current;
    try {
      const value = await fetch();
      if (mine === seq.current) apply(value);
    } catch (e) {
      if (mine === seq.current) fail(e as Error);
    }
  };
}

/** What a review did, for people. */
function reviewOutcome(r: Review): string {
  const what = r.review.verdict === 'approved' ? `${r.name}: ${r.review.version} approved` : `${r.name}: changes requested to ${r.review.version}`;
  const promoted = r.promotion
    ? r.promotion.outcome === 'promoted'
      ? `; promoted to ${r.promotion.stage}${r.promotion.status === 'ready' ? ' (queued in its lane, or about to deploy)' : ''}`
      : `; already on its way to ${r.promotion.stage}`
    : '';
  return `${what}${promoted}${r.destroyed ? '; environment destroyed' : ''}.`;
}

/** On-demand environments (ADR 25, 27): each one's address, build, time left, state and review; actions by role. */
export function EnvironmentsPage({ role }: { role: Role }) {
  const [envs, setEnvs] = useState<EnvironmentRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const now = useNow(15_000);
  const rights = environmentRights(role);
  const latest = useLatest();

  const refresh = () =>
    latest(
      () => call(routes.environments),
      (list) => {
        setEnvs(list);
        setError(null);
      },
      (e) => setError(e.message),
    );
  // Every environment change and every reconnect; journey events change nothing shown here.
  useLiveRefresh(refresh, [], () => false, () => false, () => true);
  useFocusRefresh(refresh);

  /** Runs an action on one environment; the list follows through the event stream and is read again here too. */
  const act = async (name: string, what: string, fn: () => Promise<string | void>) => {
    setBusy(name);
    setActionError(null);
    setNotice(null);
    try {
      const said = await fn();
      if (said) setNotice(said);
      setPending(null);
    } catch (e) {
      setActionError(`${what} ${name}: ${(e as Error).message}`);
      setPending(null);
    } finally {
      setBusy(null);
      await refresh();
    }
  };

  const confirm = (p: Pending, comment: string) => {
    const text = comment.trim();
    const name = p.env.name;
    if (p.kind === 'destroy')
      return void act(name, 'Destroying', async () => {
        await call(routes.destroyEnvironment, { params: { name }, body: text ? { reason: text } : {} });
        return `${name} destroyed.`;
      });
    return void act(name, 'Reviewing', async () => {
      const verdict = p.kind === 'approve' ? 'approved' : 'changes-requested';
      return reviewOutcome(await call(routes.reviewEnvironment, { params: { name }, body: { verdict, ...(text ? { comment: text } : {}) } }));
    });
  };

  return (
    <section aria-labelledby="envs-h">
      <div className="page-head">
        <h1 id="envs-h">Environments</h1>
        {error && envs && <p className="warn-text">Showing the last view: {error}</p>}
      </div>
      <p aria-live="polite" className="notice">
        {notice}
      </p>
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}
      {rights.change && <CreateEnvironment onCreated={(said) => void (setNotice(said), refresh())} />}
      {envs === null ? (
        <p aria-live="polite">{error ? `Cannot load the environments: ${error}` : 'Loading…'}</p>
      ) : envs.length === 0 ? (
        <p>
          No environments. Make one here, or with <code>sluice env create &lt;name&gt; --from staging --ref &lt;release&gt;</code>.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="records environments">
            <caption className="sr-only">On-demand environments</caption>
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">Address</th>
                <th scope="col">Build</th>
                <th scope="col">State</th>
                <th scope="col">Time left</th>
                <th scope="col">Review</th>
                {(rights.change || rights.review) && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {envs.map((e) => {
                const state = runState(e);
                const destroying = e.status === 'destroying';
                const off = busy !== null || destroying;
                return (
                  <tr key={e.name}>
                    <th scope="row">
                      {e.name}
                      <div className="small muted">from {e.source}</div>
                    </th>
                    <td>
                      {e.url ? (
                        <a href={e.url} target="_blank" rel="noreferrer">
                          {e.url}
                        </a>
                      ) : (
                        <span className="muted">no address</span>
                      )}
                    </td>
                    <td>
                      <code>{e.release.version}</code>
                    </td>
                    <td>
                      <span className={`badge env-${state}`}>{state}</span>
                      {e.reason && <div className="small warn-text">{e.reason}</div>}
                    </td>
                    <td className="nowrap" title={e.expiresAt === null ? 'pinned: it never expires' : `expires ${formatTime(e.expiresAt)}`}>
                      {ttlLeft(e, now)}
                    </td>
                    <td>
                      <span className={e.review ? `review-${e.review.verdict}` : 'muted'}>{reviewLabel(e)}</span>
                      {e.review?.comment && <div className="small">“{e.review.comment}”</div>}
                    </td>
                    {(rights.change || rights.review) && (
                      <td>
                        <div className="actions">
                          {rights.review && (
                            <>
                              <button type="button" className="btn primary" disabled={off || e.status !== 'ready'} aria-label={`Approve ${e.name}`} onClick={() => setPending({ kind: 'approve', env: e })}>
                                Approve
                              </button>
                              <button type="button" className="btn" disabled={off} aria-label={`Request changes to ${e.name}`} onClick={() => setPending({ kind: 'request-changes', env: e })}>
                                Request changes
                              </button>
                            </>
                          )}
                          {rights.change && (
                            <>
                              <button
                                type="button"
                                className="btn"
                                disabled={off}
                                aria-label={`${e.pinned ? 'Unpin' : 'Pin'} ${e.name}`}
                                onClick={() => void act(e.name, e.pinned ? 'Unpinning' : 'Pinning', async () => void (await call(routes.pinEnvironment, { params: { name: e.name }, body: { pinned: !e.pinned } })))}
                              >
                                {e.pinned ? 'Unpin' : 'Pin'}
                              </button>
                              <button
                                type="button"
                                className="btn"
                                disabled={off || e.pinned}
                                aria-label={`Extend ${e.name}`}
                                title="Start its time to live again from now"
                                onClick={() => void act(e.name, 'Extending', async () => void (await call(routes.extendEnvironment, { params: { name: e.name }, body: {} })))}
                              >
                                Extend
                              </button>
                              <button type="button" className="btn danger" disabled={off} aria-label={`Destroy ${e.name}`} onClick={() => setPending({ kind: 'destroy', env: e })}>
                                Destroy
                              </button>
                            </>
                          )}
                        </div>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pending && (
        <ConfirmDialog
          title={
            pending.kind === 'approve'
              ? `Approve ${pending.env.name} (${pending.env.release.version})`
              : pending.kind === 'request-changes'
                ? `Request changes to ${pending.env.name} (${pending.env.release.version})`
                : `Destroy ${pending.env.name}`
          }
          text={
            pending.kind === 'approve'
              ? `Records your approval of ${pending.env.release.version}. As the pipeline says (by default), the build then goes to ${pending.env.source} and the environment is destroyed.`
              : pending.kind === 'request-changes'
                ? 'Records your verdict and what to change; nothing is promoted.'
                : `Takes ${pending.env.name} down and removes everything it made: instances, address, folders.`
          }
          commentRequired={pending.kind === 'request-changes'}
          {...(pending.kind === 'destroy' ? { commentLabel: 'Reason', commentMaxLength: 1000 } : {})}
          busy={busy !== null}
          onConfirm={(c) => confirm(pending, c)}
          onCancel={() => setPending(null)}
        />
      )}
    </section>
  );
}

/** The form that makes an environment: a name, the stage it clones, the release it runs. */
function CreateEnvironment({ onCreated }: { onCreated: (said: string) => void }) {
  const id = useId();
  const [stages, setStages] = useState<string[]>([]);
  const [releases, setReleases] = useState<string[]>([]);
  const [name, setName] = useState('');
  const [from, setFrom] = useState('');
  const [ref, setRef] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const latest = useLatest();

  const load = () =>
    latest(
      () => Promise.all([call(routes.status), call(routes.releases)]),
      ([board, list]) => {
        const sources = sourceStages(board.stages);
        setStages(sources);
        setFrom((f) => (f && sources.includes(f) ? f : (sources.find((s) => s === 'staging') ?? sources[0] ?? '')));
        const versions = [...list].sort((a, b) => b.createdAt - a.createdAt).map((r) => r.version);
        setReleases(versions);
        setRef((r) => (r && versions.includes(r) ? r : (versions[0] ?? '')));
      },
      (e) => setError(`Cannot load the stages and releases: ${e.message}`),
    );
  // A new release (its journey's first event) is a new choice.
  useLiveRefresh(load, [], (e) => e.type === 'journey.created');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await call(routes.createEnvironment, { body: { name: name.trim(), from, ref } });
      setName('');
      onCreated(made.status === 'failed' ? `${made.name} was made, but its deploy of ${made.release.version} failed: ${made.reason ?? ''}` : `${made.name} serves ${made.release.version} at ${made.url ?? '(no address)'}.`);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="env-create" aria-labelledby={`${id}-h`} onSubmit={(e) => void submit(e)}>
      <h2 id={`${id}-h`}>New environment</h2>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${id}-n`}>Name</label>
          <input
            id={`${id}-n`}
            required
            maxLength={63}
            pattern="[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?"
            title="A DNS label: lower-case letters, digits and -, at most 63"
            placeholder="pr-42"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-f`}>Clone of</label>
          <select id={`${id}-f`} required value={from} onChange={(e) => setFrom(e.target.value)}>
            {stages.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-r`}>Release</label>
          <select id={`${id}-r`} required value={ref} onChange={(e) => setRef(e.target.value)}>
            {releases.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn primary" disabled={busy || !from || !ref}>
          {busy ? 'Creating…' : 'Create environment'}
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
