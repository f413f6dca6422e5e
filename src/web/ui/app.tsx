import { useCallback, useEffect, useRef, useState } from 'react';
import type { Session } from '../model/routes.js';
import { getSession, logout, setCsrf, setOnUnauthorized } from './api.js';
import { AuditPage } from './audit-page.js';
import { BoardPage } from './board-page.js';
import { EnvironmentsPage } from './environments-page.js';
import { FlagPage } from './flag-page.js';
import { FlagsPage } from './flags-page.js';
import { JourneyPage } from './journey-page.js';
import { useLiveConnection } from './live.js';
import { LoginPage } from './login-page.js';
import { Link, navigate, usePath } from './router.js';
import { TokensPage } from './tokens-page.js';

let returnTo: string | undefined;

/** The dashboard: the session decides between the login page and the app; the path picks the page. */
export function App() {
  const path = usePath();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);

  const adopt = useCallback((s: Session | null) => {
    setCsrf(s?.csrf);
    setSession(s);
  }, []);

  useEffect(() => {
    let tries = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      getSession().then(
        (s) => {
          setLoadError(null);
          adopt(s);
        },
        (e: Error) => {
          // The control plane may be restarting: say so and try again.
          setLoadError(`Cannot reach Sluice (${e.message}); retrying…`);
          timer = setTimeout(load, Math.min(5000, 500 * 2 ** tries++));
        },
      );
    void load();
    setOnUnauthorized(() => adopt(null));
    return () => clearTimeout(timer);
  }, [adopt]);

  useEffect(() => {
    if (session === null && path !== '/login') {
      // Back to where the user was going once logged in (a link to a release, say).
      returnTo = location.pathname + location.search;
      navigate('/login', true);
    }
    if (session && path === '/login') {
      navigate(returnTo && returnTo !== '/login' ? returnTo : '/', true);
      returnTo = undefined;
    }
  }, [session, path]);

  // A new page moves focus to its content, so keyboard and screen reader users start there, not in the header.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);

  const live = useLiveConnection(!!session);

  useEffect(() => {
    const page =
      path === '/login' ? 'Log in'
      : path === '/audit' ? 'Audit'
      : path === '/tokens' ? 'Tokens'
      : path === '/flags' ? 'Flags'
      : path === '/environments' ? 'Environments'
      : path.startsWith('/flags/') ? `Flag ${decodeURIComponent(path.slice(7))}`
      : path.startsWith('/releases/') ? `Release ${decodeURIComponent(path.slice(10))}`
      : 'Board';
    document.title = `${page} · Sluice`;
  }, [path]);

  if (session === undefined)
    return (
      <main className="page" id="main">
        <p aria-live="polite">{loadError ?? 'Loading…'}</p>
      </main>
    );
  if (session === null || path === '/login') return <LoginPage onLogin={adopt} />;

  const role = session.actor.role;
  let page;
  if (path === '/') page = <BoardPage role={role} />;
  else if (path.startsWith('/releases/')) page = <JourneyPage version={decodeURIComponent(path.slice('/releases/'.length))} role={role} />;
  else if (path === '/audit') page = <AuditPage />;
  else if (path === '/flags') page = <FlagsPage />;
  else if (path === '/environments') page = <EnvironmentsPage role={role} />;
  else if (path.startsWith('/flags/') && path.length > '/flags/'.length) {
    const key = decodeURIComponent(path.slice('/flags/'.length));
    page = <FlagPage key={key} flagKey={key} role={role} />;
  }
  else if (path === '/tokens' && role === 'admin') page = <TokensPage />;
  else
    page = (
      <section>
        <h1>Not found</h1>
        <p>
          There is no page at {path}. <Link to="/">Go to the board</Link>.
        </p>
      </section>
    );

  const navLink = (to: string, label: string) => (
    <li>
      <Link to={to} aria-current={(to === '/' ? path === '/' || path.startsWith('/releases/') : path === to || path.startsWith(`${to}/`)) ? 'page' : undefined}>
        {label}
      </Link>
    </li>
  );
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand" aria-hidden="true">
          Sluice
        </span>
        <nav aria-label="Main">
          <ul>
            {navLink('/', 'Board')}
            {navLink('/flags', 'Flags')}
            {navLink('/environments', 'Environments')}
            {navLink('/audit', 'Audit')}
            {role === 'admin' && navLink('/tokens', 'Tokens')}
          </ul>
        </nav>
        <div className="who">
          {/* The only role=status on the page: the connection to the event stream. */}
          <span role="status" className={`live ${live ? 'on' : 'off'}`}>
            <span className="dot" aria-hidden="true" />
            {live ? 'Live' : 'Reconnecting'}
          </span>
          <span className="actor">
            {session.actor.name} <span className="role">({role})</span>
          </span>
          <button
            type="button"
            className="btn"
            onClick={() =>
              void logout()
                .catch(() => {})
                .then(() => adopt(null))
            }
          >
            Log out
          </button>
        </div>
      </header>
      <main className="page" id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}
