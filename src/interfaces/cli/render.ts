import type { Board, StageJourneyView } from '../../journeys/board.js';
import { formatDuration } from '../../kernel/duration.js';
import type { JourneyStatus, StageStatus } from '../../journeys/journey-reducer.js';
import type { Output } from '../http/contract/route.js';
import type { notificationsApi } from '../http/contract/notifications.js';

type NotificationRecord = Output<typeof notificationsApi.list>['notifications'][number];
import { pad, type Style, width } from './style.js';

const ICON: Record<StageStatus | JourneyStatus, string> = {
  running: '⟳',
  succeeded: '✓',
  superseded: '⤳',
  waiting: '·',
  'awaiting-promotion': '⏸',
  ready: '…',
  deploying: '⟳',
  'rolling-out': '◔',
  paused: '⏸',
  verifying: '⟳',
  baking: '◷',
  'awaiting-approval': '⏸',
  passed: '✓',
  'rolling-back': '↺',
  'rolled-back': '↺',
  failed: '✗',
  skipped: '-',
};

export function colourStatus(st: Style, status: string): string {
  const label = `${ICON[status as StageStatus | JourneyStatus] ?? ''} ${status}`.trim();
  if (status === 'passed' || status === 'succeeded') return st.green(label);
  if (status === 'failed' || status === 'rolled-back' || status === 'rolling-back') return st.red(label);
  if (status === 'awaiting-approval' || status === 'awaiting-promotion' || status === 'superseded')
    return st.yellow(label);
  if (status === 'waiting' || status === 'skipped') return st.dim(label);
  return st.cyan(label);
}

/** What a stage awaiting approval waits for: "approval", or "waiting for approval before deploy (1 of 2)". */
export function approvalWait(v: Pick<StageJourneyView, 'approvals'>): string {
  const a = v.approvals;
  if (!a || (a.required === 1 && a.gate === 'after-verify')) return 'approval';
  return `waiting for approval${a.gate === 'before-deploy' ? ' before deploy' : ''} (${a.received} of ${a.required}${a.by.length ? `, by ${a.by.join(', ')}` : ''})`;
}

function gates(st: Style, v: StageJourneyView, now: number): string {
  const parts = v.steps.map((s) => {
    const d = s.durationMs !== undefined ? st.dim(` ${formatDuration(s.durationMs)}`) : '';
    // Canary steps say what they did (e.g. "20% of users on 2.0.0").
    const said = s.name.startsWith('canary:') && s.reason ? st.dim(` ${s.reason}`) : '';
    if (s.status === 'passed') return `${st.green('✓')} ${s.name}${said}${d}`;
    if (s.status === 'inconclusive') return `${st.yellow('?')} ${s.name}${s.reason ? st.yellow(` (${s.reason})`) : ''}`;
    if (s.status === 'cancelled') return st.dim(`- ${s.name} cancelled`);
    if (s.status === 'failed') return `${st.red('✗')} ${s.name}${s.reason ? st.red(` (${s.reason})`) : ''}`;
    return `${st.cyan('⟳')} ${s.name}`;
  });
  if (v.status === 'baking' && v.bakeUntil !== undefined)
    parts.push(st.cyan(`◷ bake ${formatDuration(Math.max(0, v.bakeUntil - now))} left`));
  if (v.status === 'awaiting-approval') parts.push(st.yellow(`⏸ ${approvalWait(v)}: sluice approve ${v.version}`));
  if (v.hold) parts.push(v.hold.kind === 'freeze' ? st.yellow(`❄ ${v.hold.message}`) : st.yellow(`◷ ${v.hold.message}`));
  if (v.status === 'awaiting-promotion') parts.push(st.yellow(`⏸ promotion: sluice promote ${v.version}`));
  if (v.status === 'paused') parts.push(st.yellow(`⏸ paused: sluice resume ${v.version} or sluice abort ${v.version}`));
  return parts.join('  ');
}

export interface StatusExtras {
  /** The end of the failing step's log, per stage name. */
  failureLogs: Record<string, string>;
  urls: Record<string, string | null>;
}

/** The pipeline board as text. */
export function renderBoard(st: Style, board: Board, extras: StatusExtras, now: number): string {
  const lines: string[] = [];
  lines.push(st.bold(`${board.app}`));
  lines.push('');
  const rows = board.stages.map((s) => [
    s.name,
    s.live?.version ?? '—',
    s.latest?.version ?? '—',
    s.latest ? colourStatus(st, s.latest.status) : st.dim('· idle'),
  ]);
  const head = ['STAGE', 'LIVE', 'LATEST', 'STATE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => width(r[i]!))) + 2);
  lines.push(st.dim(head.map((h, i) => pad(h, widths[i]!)).join('') + 'GATES'));
  board.stages.forEach((s, idx) => {
    const r = rows[idx]!;
    lines.push(r.map((c, i) => pad(c, widths[i]!)).join('') + (s.latest ? gates(st, s.latest, now) : ''));
    const url = extras.urls[s.name];
    const sub: string[] = [];
    if (url) sub.push(st.dim(url));
    if (s.latest?.failure) sub.push(st.red(s.latest.failure));
    for (const w of s.latest?.warnings ?? []) sub.push(st.yellow(`⚠ ${w}`));
    for (const x of sub) lines.push(' '.repeat(widths[0]!) + x);
    const log = extras.failureLogs[s.name];
    if (log) for (const l of log.trimEnd().split('\n')) lines.push(' '.repeat(widths[0]! + 2) + st.dim('│ ') + l);
  });
  if (board.journeys.length > 0) {
    lines.push('');
    lines.push(st.dim('RELEASES'));
    for (const j of board.journeys.slice(0, 8)) {
      const why = j.failure ? st.red(`  ${j.failure.stage}: ${j.failure.reason}`) : '';
      const commitWarn = j.commit.warnings.length ? st.yellow(`  ⚠ ${j.commit.warnings.join('; ')}`) : '';
      const queued = j.lane ? st.yellow(`  ⧗ queued for ${j.lane.stage} behind ${[...j.lane.ahead, ...j.lane.before].join(', ')}`) : '';
      lines.push(
        `${pad(j.version, widths[0]!)}${pad(colourStatus(st, j.status), 16)}${st.dim(j.digest.slice(0, 19))}${why}${commitWarn}${queued}`,
      );
      const log = j === board.journeys[0] && j.failure?.stage === 'commit' ? extras.failureLogs.commit : undefined;
      if (log) for (const l of log.split('\n')) lines.push(' '.repeat(widths[0]! + 2) + st.dim('│ ') + l);
    }
  }
  return lines.join('\n');
}

/** One line of `sluice notifications`: when, what, where it goes, and how delivery went. */
export function renderNotification(st: Style, n: NotificationRecord): string {
  const b = n.body;
  const state =
    n.status === 'delivered'
      ? st.green(`delivered${n.attempts > 1 ? ` after ${n.attempts} attempts` : ''}`)
      : n.status === 'failed'
        ? st.red(`gave up after ${n.attempts} attempt(s): ${n.lastError ?? ''}`)
        : st.yellow(`pending${n.attempts ? `, ${n.attempts} failed attempt(s), next at ${n.nextAt !== undefined ? new Date(n.nextAt).toISOString() : '?'}: ${n.lastError ?? ''}` : ''}`);
  return `${b.at}  ${b.kind.padEnd(15)} ${b.release} at ${b.stage}${b.step ? ` (${b.step})` : ''} → ${n.target.kind} ${n.target.url}  ${state}`;
}
