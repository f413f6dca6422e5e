import { useState } from 'react';
import { ROLES, type Role } from '../../kernel/actor.js';
import { formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { ConfirmDialog } from './actions.js';
import { call } from './api.js';
import { useLiveRefresh } from './live.js';

type Tokens = WebOutput<typeof routes.listTokens>;
type Created = WebOutput<typeof routes.createToken>;

/** Admins list, create and revoke API tokens. A new token is shown once. */
export function TokensPage() {
  const [tokens, setTokens] = useState<Tokens | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Created | null>(null);
  const [revoking, setRevoking] = useState<Tokens[number] | null>(null);
  const [form, setForm] = useState<{ name: string; role: Role; expires: string }>({ name: '', role: 'viewer', expires: '90d' });
  const [busy, setBusy] = useState(false);

  const refresh = async () => {
    try {
      setTokens(await call(routes.listTokens));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useLiveRefresh(refresh, [], () => false);

  return (
    <section aria-labelledby="tokens-h">
      <h1 id="tokens-h">Tokens</h1>
      <form
        className="card create"
        aria-labelledby="create-h"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const expires = form.expires.trim();
          call(routes.createToken, { body: { name: form.name.trim(), role: form.role, ...(expires ? { expires } : {}) } })
            .then((t) => {
              setCreated(t);
              setForm({ ...form, name: '' });
              return refresh();
            })
            .catch((err: Error) => setError(err.message))
            .finally(() => setBusy(false));
        }}
      >
        <h2 id="create-h">Create token</h2>
        <div className="row">
          <div className="field">
            <label htmlFor="t-name">Name</label>
            <input id="t-name" required pattern="[A-Za-z0-9._@\-]{1,64}" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="t-role">Role</label>
            <select id="t-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="t-exp">Expires in</label>
            <input id="t-exp" value={form.expires} placeholder="never" aria-describedby="t-exp-h" onChange={(e) => setForm({ ...form, expires: e.target.value })} />
            <span id="t-exp-h" className="hint">
              e.g. 90d, 12h; empty: never
            </span>
          </div>
          <div className="field buttons">
            <button type="submit" className="btn primary" disabled={busy}>
              Create token
            </button>
          </div>
        </div>
      </form>
      {created && (
        <div className="card new-token" aria-live="polite">
          <p>
            Token <strong>{created.name}</strong> ({created.role}) created. Copy it now: it is not shown again.
          </p>
          <label htmlFor="new-token">New token</label>
          <input id="new-token" readOnly value={created.token} onFocus={(e) => e.currentTarget.select()} className="mono" />
          <button type="button" className="btn" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {tokens === null ? (
        <p aria-live="polite">Loading…</p>
      ) : (
        <div className="table-wrap">
          <table className="tokens">
            <caption className="sr-only">API tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  <td>{t.role}</td>
                  <td className="nowrap">{formatTime(t.createdAt)}</td>
                  <td className="nowrap">{t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td>
                  <td className="nowrap">{t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'}</td>
                  <td>
                    <span className={`badge ${t.status}`}>{t.status}</span>
                  </td>
                  <td>
                    {t.status === 'valid' && (
                      <button type="button" className="btn danger" onClick={() => setRevoking(t)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke token ${revoking.name}`}
          text={`Token ${revoking.name} (${revoking.role}) stops working at once, on every replica.`}
          withComment={false}
          busy={busy}
          onCancel={() => setRevoking(null)}
          onConfirm={() => {
            setBusy(true);
            call(routes.revokeToken, { params: { token: revoking.id }, body: {} })
              .then(() => refresh())
              .catch((err: Error) => setError(err.message))
              .finally(() => {
                setBusy(false);
                setRevoking(null);
              });
          }}
        />
      )}
    </section>
  );
}
