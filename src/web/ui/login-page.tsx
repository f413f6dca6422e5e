import { useState } from 'react';
import type { Session } from '../model/routes.js';
import { ApiError, login } from './api.js';

/** Logs in with an API token; the server keeps the session in an HttpOnly cookie, the page never stores the token. */
export function LoginPage({ onLogin }: { onLogin: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="login" id="main">
      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          login(token.trim()).then(
            (s) => {
              setToken('');
              onLogin(s);
            },
            (err: Error) => {
              setBusy(false);
              setError(err instanceof ApiError && err.status === 401 ? 'That token is not valid (wrong, expired or revoked).' : err.message);
            },
          );
        }}
      >
        <h1>Sluice</h1>
        <p>Log in with an API token (sluice token create).</p>
        <div className="field">
          <label htmlFor="token">Token</label>
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="off"
            required
            value={token}
            aria-invalid={!!error}
            aria-describedby={error ? 'login-error' : undefined}
            onChange={(e) => setToken(e.target.value)}
          />
        </div>
        {error && (
          <p id="login-error" className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}
