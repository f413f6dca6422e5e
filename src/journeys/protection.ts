import { mayCall, type Role, type TokenActor } from '../kernel/actor.js';
import { SluiceError } from '../kernel/errors.js';
import type { DeployWindowPlan, ProtectionPlan, Weekday } from '../pipeline/pipeline.js';

/**
 * A stage's protection rules, evaluated: who may promote into it and approve there, and whether it may start deploying
 * at a given instant (deploy windows and freezes). Pure: time comes in as an argument.
 */

const DAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_LABEL: Record<Weekday, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** A local date and time in some time zone. `day` is 0 for Monday. */
interface WallClock {
  year: number;
  month: number;
  date: number;
  day: number;
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock in `timeZone` at instant `t`. */
function wallClock(t: number, timeZone: string): WallClock & { seconds: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const year = parts.year!;
  const month = parts.month!;
  const date = parts.day!;
  // The weekday of a calendar date does not depend on the zone: take it from the same date in UTC.
  const day = (new Date(Date.UTC(year, month - 1, date)).getUTCDay() + 6) % 7;
  return { year, month, date, day, minutes: parts.hour! * 60 + parts.minute!, seconds: parts.second! };
}

/** How far `timeZone` is ahead of UTC at instant `t` (ms). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.date, 0, w.minutes, w.seconds);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** The instant at which the wall clock in `timeZone` shows that date and minute (the later one across a DST gap). */
function instantOf(year: number, month: number, date: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, date, 0, minutes);
  const first = wall - offsetAt(wall, timeZone);
  return wall - offsetAt(first, timeZone);
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** True when instant `t` lies inside window `w`. */
export function insideWindow(w: DeployWindowPlan, t: number): boolean {
  const c = wallClock(t, w.timeZone);
  const from = minutesOf(w.from);
  const to = minutesOf(w.to);
  const today = DAYS[c.day]!;
  if (from < to) return w.days.includes(today) && c.minutes >= from && c.minutes < to;
  // Past midnight: from `from` on a listed day to `to` on the day after it.
  const yesterday = DAYS[(c.day + 6) % 7]!;
  return (w.days.includes(today) && c.minutes >= from) || (w.days.includes(yesterday) && c.minutes < to);
}

/** The first instant after `t` at which window `w` opens. */
function nextWindowStart(w: DeployWindowPlan, t: number): number {
  const c = wallClock(t, w.timeZone);
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k <= 8; k++) {
    const d = new Date(Date.UTC(c.year, c.month - 1, c.date + k));
    const weekday = DAYS[(d.getUTCDay() + 6) % 7]!;
    if (!w.days.includes(weekday)) continue;
    const start = instantOf(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), minutesOf(w.from), w.timeZone);
    if (start > t && start < best) best = start;
  }
  return best;
}

/** Why a stage may not start deploying now, and until when. */
export interface DeployHold {
  /** `freeze`: inside a freeze; `window`: outside every deploy window. */
  kind: 'freeze' | 'window';
  /** The next instant at which the stage may deploy (epoch ms). */
  until: number;
  /** For people: "frozen until … (reason)" or "waiting for deploy window (opens …)". */
  message: string;
  /** A freeze's reason. */
  reason?: string;
}

/** The first instant at or after `t` at which the stage may start deploying: inside a window (if any) and no freeze. */
export function nextOpening(p: ProtectionPlan, t: number): number {
  let cur = t;
  // Each turn moves past one freeze or to one window's start, so a few turns per freeze and window reach an opening.
  for (let turn = 0; turn < 4 * (p.freezes.length + 1) * (p.windows.length + 1) + 16; turn++) {
    const freeze = p.freezes.filter((f) => f.from <= cur && cur < f.to).sort((a, b) => b.to - a.to)[0];
    if (freeze) {
      cur = freeze.to;
      continue;
    }
    if (p.windows.length > 0 && !p.windows.some((w) => insideWindow(w, cur))) {
      cur = Math.min(...p.windows.map((w) => nextWindowStart(w, cur)));
      continue;
    }
    return cur;
  }
  return cur;
}

/** The instant `t` for people, in `timeZone`: "Mon 09:00 Europe/Berlin" within a week of `now`, else with the date. */
export function describeInstant(t: number, timeZone: string, now: number): string {
  const c = wallClock(t, timeZone);
  const hhmm = `${String(Math.floor(c.minutes / 60)).padStart(2, '0')}:${String(c.minutes % 60).padStart(2, '0')}`;
  const date = `${c.year}-${String(c.month).padStart(2, '0')}-${String(c.date).padStart(2, '0')}`;
  return `${DAY_LABEL[DAYS[c.day]!]}${t - now < 6 * DAY ? '' : ` ${date}`} ${hhmm} ${timeZone}`;
}

/** The windows in words: "mon,tue 09:00-17:00 Europe/Berlin; sat 10:00-12:00 UTC". */
export function describeWindows(windows: readonly DeployWindowPlan[]): string {
  return windows.map((w) => `${w.days.join(',')} ${w.from}-${w.to} ${w.timeZone}`).join('; ');
}

/** Whether the stage may start deploying at `now`; undefined when it may (or has no protection). */
export function deployHold(p: ProtectionPlan | undefined, now: number): DeployHold | undefined {
  if (!p || (p.windows.length === 0 && p.freezes.length === 0)) return undefined;
  const opens = nextOpening(p, now);
  if (opens <= now) return undefined;
  const zone = p.windows[0]?.timeZone ?? 'UTC';
  const when = describeInstant(opens, zone, now);
  const freeze = p.freezes.filter((f) => f.from <= now && now < f.to).sort((a, b) => b.to - a.to)[0];
  if (freeze) {
    const end = describeInstant(freeze.to, zone, now);
    return {
      kind: 'freeze',
      until: opens,
      reason: freeze.reason,
      message: `frozen until ${end} (${freeze.reason})${opens > freeze.to ? `; then waiting for deploy window (opens ${when})` : ''}`,
    };
  }
  return { kind: 'window', until: opens, message: `waiting for deploy window (opens ${when})` };
}

/** Who may promote into a stage, and approve or reject there, when its protection does not say. */
export const DEFAULT_PROMOTERS: readonly Role[] = ['deployer'];
export const DEFAULT_APPROVERS: readonly Role[] = ['approver'];

/** "deployer or approver or admin": the roles allowed, admin always among them. */
export function rolesAllowed(roles: readonly Role[]): string {
  return [...new Set([...roles, 'admin'])].join(' or ');
}

/** Throws FORBIDDEN unless the actor's role is allowed (admin always is). */
export function requireRole(actor: TokenActor, allowed: readonly Role[], act: string): void {
  if (mayCall(actor.role, allowed)) return;
  throw new SluiceError('FORBIDDEN', `only ${rolesAllowed(allowed)} tokens may ${act}; token "${actor.name}" is ${actor.role === 'approver' ? 'an' : 'a'} ${actor.role}`, {
    allowed: [...new Set([...allowed, 'admin'])],
    role: actor.role,
  });
}
