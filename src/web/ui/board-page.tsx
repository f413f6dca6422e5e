import { useEffect, useRef, useState } from 'react';
import type { Role } from '../../kernel/actor.js';
import { protectionByStage, stageActions } from '../model/actions.js';
import type { StoredEvent } from '../../journeys/journey-events.js';
import { patchBoard } from '../model/board-patch.js';
import { canarySplit, failedGates, inconclusiveGate, lane, servingSince, stageHealth, stepInProgress } from '../model/board-model.js';
import { dagColumns } from '../model/dag-layout.js';
import { formatAgo, formatDuration, formatTime } from '../model/format.js';
import { routes, type WebOutput } from '../model/routes.js';
import { ActionBar } from './actions.js';
import { call } from './api.js';
import { onLive, useLiveRefresh } from './live.js';
import { Link } from './router.js';

type Board = WebOutput<typeof routes.status>;
type Desired = WebOutput<typeof routes.stages>;
type BoardStage = Board['stages'][number];

/** Re-renders every `ms` so "5 min ago" stays true. */
export function useNow(ms = 5000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The pipeline board: stages laid out by the DAG, each with what it serves and the newest journey there; the lane below. */
export function BoardPage({ role }: { role: Role }) {
  const [board, setBoard] = useState<Board | null>(null);
  const [desired, setDesired] = useState<Desired>([]);
  const [plan, setPlan] = useState<unknown>(null);
  const [since, setSince] = useState<Record<string, number>>({});
  const [error, setError] = useState<string | null>(null);
  const [system, setSystem] = useState<WebOutput<typeof routes.health> | null>(null);
  const sinceKey = useRef('');
  const now = useNow();

  const refresh = async () => {
    try {
      const [b, d, h] = await Promise.all([call(routes.status), call(routes.stages), call(routes.health).catch(() => null)]);
      setSystem(h);
      setBoard(b);
      setDesired(d);
      setError(null);
      if (plan === null) setPlan(await call(routes.pipeline));
      // Since when each stage serves its release: from the live journeys' events, fetched when what is live changes.
      const key = b.stages.map((s) => `${s.name}=${s.live?.version ?? ''}`).join(',');
      if (key !== sinceKey.current) {
        sinceKey.current = key;
        const versions = [...new Set(b.stages.flatMap((s) => (s.live ? [s.live.version] : [])))];
        const events = await Promise.all(versions.map((v) => call(routes.releaseEvents, { params: { version: v } }).catch(() => [])));
        const out: Record<string, number> = {};
        for (const s of b.stages) {
          if (!s.live) continue;
          const t = servingSince(events[versions.indexOf(s.live.version)] as never[], s.name);
          if (t !== undefined) out[s.name] = t;
        }
        setSince(out);
      }
    } catch (e) {
      // Keep the last view: the control plane may be restarting.
      setError((e as Error).message);
    }
  };
  useLiveRefresh(refresh, []);
  // Each event shows at once where the board can place it; the refetch it also triggers then brings the rest.
  useEffect(() => onLive((e) => e && setBoard((b) => (b ? patchBoard(b, e as unknown as StoredEvent) : b))), []);

  if (!board)
    return (
      <section>
        <h1>Board</h1>
        <p aria-live="polite">{error ? `Cannot load the board: ${error}` : 'Loading…'}</p>
      </section>
    );

  const protection = protectionByStage(plan);
  const columns = dagColumns(board.stages);
  const order = board.stages.map((s) => s.name);
  const queued = lane(board.journeys, order);
  const recent = board.journeys.filter((j) => j.status !== 'running').slice(0, 8);
  return (
    <section aria-labelledby="board-h">
      <div className="page-head">
        <h1 id="board-h">Board{board.app ? <span className="sub"> · {board.app}</span> : null}</h1>
        {error && <p className="warn-text">Showing the last view: {error}</p>}
      </div>
      {system && !system.dataPlane.ok && (
        <p className="gate-failed">The data plane (router) is down{system.dataPlane.error ? `: ${system.dataPlane.error}` : ''}; stages serve nothing until it is back.</p>
      )}
      {system && !system.database.ok && <p className="gate-failed">The database does not answer{system.database.error ? `: ${system.database.error}` : ''}.</p>}
      <div className="board" style={{ ['--cols' as string]: String(columns.length) }}>
        {columns.map((col, i) => (
          <div className="column" key={i}>
            {col.map((s) => (
              <StageCard
                key={s.name}
                stage={s}
                desired={desired.find((d) => d.stage === s.name)}
                since={since[s.name]}
                now={now}
                role={role}
                info={protection.get(s.name)}
                onDone={() => void refresh()}
              />
            ))}
          </div>
        ))}
      </div>
      <div className="lists">
        <section aria-labelledby="lane-h" className="card">
          <h2 id="lane-h">Lane</h2>
          {queued.length === 0 ? (
            <p className="muted">No release in flight.</p>
          ) : (
            <ol className="lane">
              {queued.map((j) => {
                // A release waiting behind the one a stage card shows gets its buttons here (never twice for one release).
                const card = board.stages.find((s) => s.name === j.stage);
                const acts =
                  j.stage && card?.latest?.version !== j.version
                    ? stageActions({
                      role,
                      stage: j.stage,
                      status: j.stageStatus ?? null,
                      ...(protection.get(j.stage)?.protection ? { protection: protection.get(j.stage)!.protection! } : {}),
                      ...(protection.get(j.stage)?.production !== undefined ? { production: protection.get(j.stage)!.production! } : {}),
                      canary: protection.get(j.stage)?.canary ?? false,
                    })
                    : [];
                return (
                  <li key={j.version} aria-label={`Release ${j.version}`}>
                    <Link to={`/releases/${encodeURIComponent(j.version)}`}>{j.version}</Link> <span className="muted">{j.at}</span>{' '}
                    <span className="muted">· created {formatAgo(j.createdAt, now)}</span>
                    <ActionBar actions={acts} version={j.version} onDone={() => void refresh()} />
                  </li>
                );
              })}
            </ol>
          )}
        </section>
        <section aria-labelledby="recent-h" className="card">
          <h2 id="recent-h">Recent releases</h2>
          {recent.length === 0 ? (
            <p className="muted">None yet.</p>
          ) : (
            <ul className="lane">
              {recent.map((j) => (
                <li key={j.id}>
                  <Link to={`/releases/${encodeURIComponent(j.version)}`}>{j.version}</Link> <span className={`badge ${j.status}`}>{j.status}</span>
                  {j.failure && (
                    <span className="muted">
                      {' '}
                      at {j.failure.stage}: {j.failure.reason}
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </section>
  );
}

function StageCard(p: {
  stage: BoardStage;
  desired: Desired[number] | undefined;
  since: number | undefined;
  now: number;
  role: Role;
  info: ReturnType<ReturnType<typeof protectionByStage>['get']>;
  onDone: () => void;
}) {
  const { stage: s, now } = p;
  const latest = s.latest;
  const health = stageHealth(latest, !!s.live);
  const running = stepInProgress(latest);
  const split = canarySplit(p.desired);
  const gates = failedGates(latest);
  const undecided = inconclusiveGate(latest);
  const actions = stageActions({
    role: p.role,
    stage: s.name,
    status: latest?.status ?? null,
    ...(p.info?.protection ? { protection: p.info.protection } : {}),
    ...(p.info?.production !== undefined ? { production: p.info.production } : {}),
    canary: p.info?.canary ?? !!split,
    serving: !!s.live,
  });
  const failedShown = latest && (latest.status === 'failed' || latest.status === 'rolled-back' || latest.status === 'rolling-back');
  return (
    <section role="region" aria-label={`Stage ${s.name}`} className={`stage tone-${health.tone}`}>
      <header>
        <h2>{s.name}</h2>
        <span className={`health tone-${health.tone}`}>{health.label}</span>
      </header>
      <dl>
        <dt>Serves</dt>
        <dd>
          {s.live ? (
            <>
              <Link to={`/releases/${encodeURIComponent(s.live.version)}`}>{s.live.version}</Link>
              {p.since !== undefined && (
                <span className="muted" title={formatTime(p.since)}>
                  {' '}
                  since {formatAgo(p.since, now)}
                </span>
              )}
            </>
          ) : (
            <span className="muted">nothing</span>
          )}
        </dd>
        {split && (
          <>
            <dt>Canary</dt>
            <dd className="canary">
              <span>
                {split.canary} <strong>{split.weight}%</strong>
              </span>{' '}
              <span className="muted">
                / {split.stable ?? 'none'} {100 - split.weight}%
              </span>
              <span className="meter" role="img" aria-label={`canary weight ${split.weight}%`}>
                <span style={{ width: `${split.weight}%` }} />
              </span>
            </dd>
          </>
        )}
        {latest && (
          <>
            <dt>Release</dt>
            <dd>
              <Link to={`/releases/${encodeURIComponent(latest.version)}`}>{latest.version}</Link> <span className="muted">{latest.status.replace(/-/g, ' ')}</span>
            </dd>
          </>
        )}
        {running && (
          <>
            <dt>Step</dt>
            <dd>
              <span className="spinner" aria-hidden="true" /> {running.name}
            </dd>
          </>
        )}
        {latest?.approvals && (
          <>
            <dt>Approvals</dt>
            <dd>
              {latest.approvals.received} of {latest.approvals.required}
              {latest.approvals.by.length > 0 && <span className="muted"> ({latest.approvals.by.join(', ')})</span>}
            </dd>
          </>
        )}
        {latest?.bakeUntil !== undefined && latest.status === 'baking' && (
          <>
            <dt>Bake</dt>
            <dd>{latest.bakeUntil > now ? `${formatDuration(latest.bakeUntil - now)} left` : 'ending'}</dd>
          </>
        )}
        {latest?.hold && (
          <>
            <dt>Held</dt>
            <dd>{latest.hold.message}</dd>
          </>
        )}
      </dl>
      {failedShown && gates.length > 0 && (
        <ul className="gates" aria-label="Failed gates">
          {gates.map((g) => (
            <li key={g.step} className="gate-failed">
              <strong>{g.step}</strong> failed: {g.reason}
              {g.measured.map((m) => (
                <div key={m} className="measured">
                  {m}
                </div>
              ))}
            </li>
          ))}
        </ul>
      )}
      {undecided && (
        <div className="warn-box">
          <strong>{undecided.step}</strong> inconclusive: {undecided.reason}. Resume goes on; Abort rolls back.
          {undecided.measured.map((m) => (
            <div key={m} className="measured">
              {m}
            </div>
          ))}
        </div>
      )}
      {latest?.warnings.map((w) => (
        <p key={w} className="warn-text">
          {w}
        </p>
      ))}
      <ActionBar actions={actions} version={latest?.version ?? s.live?.version} onDone={p.onDone} />
    </section>
  );
}
