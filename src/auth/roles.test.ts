import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROLES, type Role } from '../kernel/actor.js';
import { SluiceError } from '../kernel/errors.js';
import { authorize, mayCall, rolesAllowed } from './roles.js';

const token = (role: Role) => ({ kind: 'token' as const, id: 'id-1', name: 'ci', role });

describe('roles', () => {
  it('admin may call everything; absent means every role; a list means those roles and admin; roles are not ranked', () => {
    const cases: [readonly Role[] | undefined, Role[]][] = [
      [undefined, ['viewer', 'deployer', 'approver', 'admin']],
      [[], ['admin']],
      [['deployer'], ['deployer', 'admin']],
      [['approver'], ['approver', 'admin']],
      [['viewer'], ['viewer', 'admin']],
      [['deployer', 'approver'], ['deployer', 'approver', 'admin']],
      [['admin'], ['admin']],
    ];
    for (const [allowed, who] of cases) {
      for (const role of ROLES) assert.equal(mayCall(role, allowed), who.includes(role), `${role} on ${JSON.stringify(allowed)}`);
      assert.deepEqual(rolesAllowed(allowed), who);
    }
  });

  it('refuses with FORBIDDEN naming the roles needed and the role held', () => {
    assert.doesNotThrow(() => authorize(token('deployer'), ['deployer'], 'POST /x'));
    assert.doesNotThrow(() => authorize(token('admin'), [], 'POST /x'));
    const refused = (role: Role, allowed: readonly Role[]) => {
      try {
        authorize(token(role), allowed, 'POST /api/v1/releases/:version/approve');
      } catch (e) {
        assert.ok(e instanceof SluiceError);
        assert.equal(e.code, 'FORBIDDEN');
        return e;
      }
      return assert.fail(`${role} was let through`);
    };
    const e = refused('deployer', ['approver']);
    assert.equal(e.message, 'POST /api/v1/releases/:version/approve needs the role approver or admin; the token "ci" has the role deployer');
    assert.deepEqual(e.details, { needed: ['approver', 'admin'], held: 'deployer' });
    assert.match(refused('viewer', []).message, /needs the role admin; the token "ci" has the role viewer$/);
    assert.match(refused('viewer', ['deployer', 'approver']).message, /needs the role deployer, approver or admin;/);
  });
});
