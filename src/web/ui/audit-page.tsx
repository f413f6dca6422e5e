import { useState } from 'react';
import { formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { call } from './api.js';
import { useLiveRefresh } from './live.js';
import { Link } from './router.js';

type Records = WebOutput<typeof routes.audit>;
type Verify = WebOutput<typeof routes.auditVerify>;
const FILTERS = ['actor', 'action', 'release', 'stage'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** Who did what, when and why: the audit trail, filtered as the API filters it, with the chain's verification. */
export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(() => fromLocation());
  const [filters, setFilters] = useState<Filters>(draft);
  const [records, setRecords] = useState<Records | null>(null);
  const [verify, setVerify] = useState<Verify | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = async () => {
    try {
      const query = { ...Object.fromEntries(FILTERS.map((k) => [k, filters[k].trim() || undefined])), limit: '500' };
      const [r, v] = await Promise.all([call(routes.audit, { query }), call(routes.auditVerify)]);
      setRecords(r);
      setVerify(v);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  // Steps and engine decisions come often and say nothing new to the trail's people-facing records; verifying the
  // chain on each would be wasted work for the server. A reconnect refetches too.
  useLiveRefresh(refresh, [filters], (e) => !e.type.startsWith('step.'));

  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">Audit</h1>
      {verify && (
        <p role="note" className={verify.ok ? 'ok-text' : 'gate-failed'}>
          {verify.ok
            ? `Chain verified: ${verify.count} records, head #${verify.head.seq}.`
            : `Chain broken at record #${verify.firstBad?.seq ?? '?'} (${verify.firstBad?.problem ?? 'unknown'}): ${verify.firstBad?.message ?? ''}`}
        </p>
      )}
      <form
        className="filters card"
        role="search"
        aria-label="Filter the audit trail"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          const q = new URLSearchParams(Object.entries(draft).filter(([, v]) => v.trim()));
          history.replaceState(null, '', `/audit${[...q].length ? `?${q}` : ''}`);
        }}
      >
        {FILTERS.map((k) => (
          <div className="field" key={k}>
            <label htmlFor={`f-${k}`}>{k[0]!.toUpperCase() + k.slice(1)}</label>
            <input id={`f-${k}`} type="search" value={draft[k]} onChange={(e) => setDraft({ ...draft, [k]: e.target.value })} />
          </div>
        ))}
        <div className="field buttons">
          <button type="submit" className="btn primary">
            Search
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              const empty = { actor: '', action: '', release: '', stage: '' };
              setDraft(empty);
              setFilters(empty);
              history.replaceState(null, '', '/audit');
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {error && <p className="error">{error}</p>}
      {records === null ? (
        <p aria-live="polite">Loading…</p>
      ) : records.length === 0 ? (
        <p>No records match.</p>
      ) : (
        <div className="table-wrap">
          <table className="records">
            <caption className="sr-only">Audit records, newest first</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When (UTC)</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">About</th>
                <th scope="col">Why</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {[...records].reverse().map((r) => (
                <tr key={r.seq} className={r.outcome === 'refused' ? 'refused' : undefined}>
                  <td>{r.seq}</td>
                  <td className="nowrap">{formatTime(r.at)}</td>
                  <td>{r.actor.kind === 'token' ? `${r.actor.name} (${r.actor.role})` : `sluice (${r.actor.reason})`}</td>
                  <td>
                    <code>{r.action}</code>
                  </td>
                  <td>
                    <Links links={r.links} />
                  </td>
                  <td>{r.reason}</td>
                  <td>{r.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Links({ links }: { links: Record<string, string> }) {
  const release = links.release;
  return (
    <ul className="links">
      {Object.entries(links).map(([k, v]) => (
        <li key={k}>
          {k}:{' '}
          {k === 'release' ? (
            <Link to={`/releases/${encodeURIComponent(v)}`}>{v}</Link>
          ) : k === 'journey' && release ? (
            <Link to={`/releases/${encodeURIComponent(release)}`} aria-label={`journey ${v} of release ${release}`}>
              {v}
            </Link>
          ) : (
            v
          )}
        </li>
      ))}
    </ul>
  );
}

function fromLocation(): Filters {
  const q = new URLSearchParams(location.search);
  return { actor: q.get('actor') ?? '', action: q.get('action') ?? '', release: q.get('release') ?? '', stage: q.get('stage') ?? '' };
}
