import { useEffect, useRef, useState } from 'react';
import { reconnectDelay } from '../model/backoff.js';
import { EVENT_TYPES } from '../model/event-types.js';
import { routes } from '../model/routes.js';

/** A journey event as the stream carries it (the fields the views use). */
export interface LiveEvent {
  id: number;
  type: string;
  journeyId: string;
  stage?: string;
  step?: string;
}

type Listener = (e: LiveEvent | null) => void;
const listeners = new Set<Listener>();

/** A saved flag change, as the stream's `flags.changed` frames carry it. */
export interface FlagsEvent {
  stages: string[];
  flags: string[];
}
const flagListeners = new Set<(e: FlagsEvent) => void>();

/** Environments written, made or removed, as the stream's `environments.changed` frames carry them (ADR 27). */
export interface EnvironmentsEvent {
  names: string[];
}
const envListeners = new Set<(e: EnvironmentsEvent) => void>();

/**
 * Subscribes to journey events: `f(event)` for each, and `f(null)` on every (re)connect, when events may have been
 * missed and views should refetch.
 */
export function onLive(f: Listener): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** Hands each frame's data, read as JSON, to every listener of `to`; a frame that is not JSON is dropped. */
function relay<T>(to: ReadonlySet<(e: T) => void>) {
  return (m: MessageEvent<string>) => {
    let e: T;
    try {
      e = JSON.parse(m.data) as T;
    } catch {
      return;
    }
    for (const l of to) l(e);
  };
}

/**
 * Keeps one EventSource on the API's event stream while logged in, reconnecting with backoff when it drops (the
 * control plane restarting); says whether it is connected.
 */
export function useLiveConnection(enabled: boolean): boolean {
  const [connected, setConnected] = useState(false);
  const attempt = useRef(0);
  useEffect(() => {
    if (!enabled) return;
    let es: EventSource | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const connect = () => {
      es = new EventSource(routes.events.path);
      es.onopen = () => {
        attempt.current = 0;
        setConnected(true);
        for (const l of listeners) l(null);
      };
      const deliver = relay<LiveEvent>(listeners);
      for (const t of EVENT_TYPES) es.addEventListener(t, deliver);
      es.addEventListener('flags.changed', relay<FlagsEvent>(flagListeners));
      es.addEventListener('environments.changed', relay<EnvironmentsEvent>(envListeners));
      es.onmessage = deliver;
      es.onerror = () => {
        // Our own backoff instead of EventSource's: it gives up for good on an HTTP error (a 503 while restarting).
        es?.close();
        setConnected(false);
        if (stopped) return;
        timer = setTimeout(connect, reconnectDelay(attempt.current++, Math.random()));
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
      setConnected(false);
    };
  }, [enabled]);
  return connected;
}

/**
 * Calls `refresh` now and again after every journey event that `matters` (all, by default), every flag change that
 * `flagsMatter` (none, by default), every environment change that `envsMatter` (none, by default), and on every reconnect, coalescing bursts: at most one refresh in flight, and one
 * more after it if events came meanwhile.
 */
export function useLiveRefresh(
  refresh: () => Promise<void>,
  deps: readonly unknown[],
  matters: (e: LiveEvent) => boolean = () => true,
  flagsMatter: (e: FlagsEvent) => boolean = () => false,
  envsMatter: (e: EnvironmentsEvent) => boolean = () => false,
): void {
  const latest = useRef({ refresh, matters, flagsMatter, envsMatter });
  latest.current = { refresh, matters, flagsMatter, envsMatter };
  useEffect(() => {
    let running = false;
    let again = false;
    let alive = true;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          await latest.current.refresh().catch(() => {});
        } while (again && alive);
      } finally {
        running = false;
      }
    };
    void run();
    const off = onLive((e) => {
      if (e === null || latest.current.matters(e)) void run();
    });
    const flagsListener = (e: FlagsEvent) => {
      if (latest.current.flagsMatter(e)) void run();
    };
    flagListeners.add(flagsListener);
    const envsListener = (e: EnvironmentsEvent) => {
      if (latest.current.envsMatter(e)) void run();
    };
    envListeners.add(envsListener);
    return () => {
      alive = false;
      off();
      flagListeners.delete(flagsListener);
      envListeners.delete(envsListener);
    };
  }, deps);
}

/**
 * Calls `refresh` when the window gets the focus back or the tab becomes visible again: for views of changes the event
 * stream may not carry (flags changed through another replica), so a person coming back sees what others changed.
 */
export function useFocusRefresh(refresh: () => Promise<void>): void {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    let last = 0;
    const run = () => {
      // Focus and visibility often change together: one refresh for both.
      if (document.visibilityState !== 'visible' || Date.now() - last < 1000) return;
      last = Date.now();
      void latest.current().catch(() => {});
    };
    addEventListener('focus', run);
    document.addEventListener('visibilitychange', run);
    return () => {
      removeEventListener('focus', run);
      document.removeEventListener('visibilitychange', run);
    };
  }, []);
}
