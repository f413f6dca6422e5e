import { mayCall, ROLES, type Role, type TokenActor } from '../kernel/actor.js';

export { mayCall } from '../kernel/actor.js';
import { SluiceError } from '../kernel/errors.js';

/** The roles that may call something open to `allowed`, admin included, in the order of ROLES. */
export function rolesAllowed(allowed: readonly Role[] | undefined): Role[] {
  return ROLES.filter((r) => mayCall(r, allowed));
}

/** Refuses a token whose role may not do `what` (e.g. `POST /api/v1/tokens`) with FORBIDDEN naming the roles needed and the role held. */
export function authorize(token: TokenActor, allowed: readonly Role[] | undefined, what: string): void {
  if (mayCall(token.role, allowed)) return;
  const need = rolesAllowed(allowed);
  throw new SluiceError(
    'FORBIDDEN',
    `${what} needs the role ${need.length > 1 ? `${need.slice(0, -1).join(', ')} or ${need.at(-1)}` : need[0]}; the token "${token.name}" has the role ${token.role}`,
    { needed: need, held: token.role },
  );
}
