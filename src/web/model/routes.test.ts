import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api } from '../../interfaces/http/contract/index.js';
import type { RouteDef } from '../../interfaces/http/contract/route.js';
import { routes, urlOf } from './routes.js';

describe("the dashboard's routes are the contract's", () => {
  const defs: RouteDef[] = Object.values(api).flatMap((group) => Object.values(group) as RouteDef[]);
  for (const [name, r] of Object.entries(routes)) {
    it(`${name}: ${r.method} ${r.path}`, () => {
      const def = defs.find((d) => d.method === r.method && d.path === r.path);
      assert.ok(def, `no ${r.method} ${r.path} in the contract`);
      assert.equal(r.auth, def.auth);
      assert.deepEqual(r.roles === undefined ? undefined : [...r.roles], def.roles === undefined ? undefined : [...def.roles], 'the same roles');
    });
  }

  it('fills in path parameters, encoded, and leaves empty query values out', () => {
    assert.equal(urlOf(routes.logs.path, { version: '1.0.0+b/1', stage: 'prod' }, { step: 'verify:smoke', tail: '10', follow: undefined }),
      '/api/v1/releases/1.0.0%2Bb%2F1/stages/prod/logs?step=verify%3Asmoke&tail=10');
    assert.equal(urlOf(routes.audit.path, undefined, { actor: '', stage: 'prod' }), '/api/v1/audit?stage=prod');
  });
});
