import { mayCall, type Role } from '../../kernel/actor.js';
import { routes, type WebOutput } from './routes.js';

/** An environment as the API shows it. */
export type EnvironmentRow = WebOutput<typeof routes.environments>[number];

/** What a person may do with environments, by role (admin always may): the buttons shown. */
export interface EnvironmentRights {
  change: boolean;
  review: boolean;
}

export function environmentRights(role: Role): EnvironmentRights {
  return { change: mayCall(role, routes.createEnvironment.roles), review: mayCall(role, routes.reviewEnvironment.roles) };
}

/** How long an environment has left: "pinned", "expired", or "2 d 3 h", "5 h 10 min", "4 min", "under a minute". */
export function ttlLeft(e: Pick<EnvironmentRow, 'expiresAt' | 'pinned'>, now: number): string {
  if (e.pinned || e.expiresAt === null) return 'pinned';
  const ms = e.expiresAt - now;
  if (ms <= 0) return 'expired';
  const min = Math.floor(ms / 60_000);
  if (min < 1) return 'under a minute';
  const h = Math.floor(min / 60);
  const d = Math.floor(h / 24);
  if (d > 0) return `${d} d ${h % 24} h`;
  if (h > 0) return `${h} h ${min % 60} min`;
  return `${min} min`;
}

/** Whether it runs now: a ready environment is asleep or awake; any other shows its status. */
export function runState(e: Pick<EnvironmentRow, 'status' | 'asleep'>): string {
  if (e.status === 'ready') return e.asleep ? 'asleep' : 'awake';
  return e.status;
}

/** A review for people: "approved by lead", "changes requested by lead", or "not reviewed". */
export function reviewLabel(e: Pick<EnvironmentRow, 'review'>): string {
  if (!e.review) return 'not reviewed';
  return `${e.review.verdict === 'approved' ? 'approved' : 'changes requested'} by ${e.review.by}`;
}

/**
 * The stages an environment may be cloned from: every stage but the pipeline's last ones (production), whose secrets
 * never reach an environment; the server refuses the others anyway. With one stage, that stage.
 */
export function sourceStages(stages: readonly { name: string; after: readonly string[] }[]): string[] {
  const inner = new Set(stages.flatMap((s) => s.after));
  const out = stages.filter((s) => inner.has(s.name)).map((s) => s.name);
  return stages.length === 1 ? [stages[0]!.name] : out;
}
