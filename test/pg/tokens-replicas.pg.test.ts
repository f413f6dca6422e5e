import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import { TokenService } from '../../src/auth/token-service.js';
import { isSluiceError } from '../../src/kernel/errors.js';
import { pgAdmin, pgUrlOf } from '../helpers/pg-databases.js';

// Two replicas on one PostgreSQL server, each with its own connection and its own TokenService: what one revokes or
// lets expire, the other refuses at its next call; one name goes to one token even when both create it at once.
const db = `sluice_test_tokens_${process.pid}_${Date.now()}`;
const url = () => pgUrlOf(db);
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('accepted'),
    (e: unknown) => {
      assert.ok(isSluiceError(e));
      return e;
    },
  );

describe('tokens across two replicas on one PostgreSQL', () => {
  after(() => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));

  it('a token revoked or expired through one replica is refused by the other at once', async () => {
    await pgAdmin(`CREATE DATABASE ${db}`);
    const [s1, s2] = [await openStore({ dataDir: 'unused', databaseUrl: url() }), await openStore({ dataDir: 'unused', databaseUrl: url() })];
    try {
      const clock = { t: Date.now(), now() { return this.t; } };
      const a = new TokenService(s1, clock);
      const b = new TokenService(s2, clock);
      await a.create('root', 'admin');
      const ci = await a.create('ci', 'deployer');
      const short = await a.create('short', 'viewer', { expiresInMs: 60_000 });
      assert.equal((await b.authenticate(ci.token)).role, 'deployer', 'the other replica knows it');
      assert.equal((await b.authenticate(short.token)).name, 'short');
      await a.revoke('ci');
      assert.match((await refusal(b.authenticate(ci.token))).message, /^the token "ci" was revoked at /);
      clock.t += 60_000;
      assert.match((await refusal(b.authenticate(short.token))).message, /^the token "short" expired at /);

      const both = await Promise.allSettled([a.create('race', 'viewer'), b.create('race', 'admin')]);
      assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1, 'one of them made it');
      const lost = both.find((r) => r.status === 'rejected');
      assert.equal((lost?.reason as { code?: string }).code, 'TOKEN_NAME_TAKEN');
      assert.equal((await a.list()).filter((t) => t.name === 'race').length, 1);
    } finally {
      await s1.close();
      await s2.close();
    }
  });
});
