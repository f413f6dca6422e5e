/** What a token may do. Every read needs at least `viewer`; `admin` may do everything. */
export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A caller that presented a valid token: the token's id and name, and its role. */
export interface TokenActor {
  kind: 'token';
  id: string;
  name: string;
  role: Role;
}

/** Who caused something: a token, or Sluice itself with the reason (a guard tripped, a timer fired, a restart). */
export type Actor = TokenActor | { kind: 'system'; reason: string };

export const systemActor = (reason: string): Actor => ({ kind: 'system', reason });

/** How an actor is shown to people. */
export const actorLabel = (a: Actor): string => (a.kind === 'token' ? a.name : `sluice (${a.reason})`);

/**
 * Whether a token with `role` may do something open to `allowed`: admin may do everything; `undefined` means every
 * role; an empty list means admin only. Roles are not ranked: a deployer does not approve, an approver does not deploy.
 */
export function mayCall(role: Role, allowed: readonly Role[] | undefined): boolean {
  return role === 'admin' || allowed === undefined || allowed.includes(role);
}
