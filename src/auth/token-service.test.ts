import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import { isSluiceError } from '../kernel/errors.js';
import { TokenService, tokenState } from './token-service.js';

const clockAt = (t: number) => ({ t, now() { return this.t; } });
async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details: unknown }> {
  try {
    await p;
  } catch (e) {
    if (isSluiceError(e)) return { code: e.code, message: e.message, details: e.details };
    throw e;
  }
  return assert.fail('it was accepted');
}

describe('token service', () => {
  it('says whether a record works: revoked wins, expiry is at expiresAt', () => {
    assert.equal(tokenState({}, 5), 'valid');
    assert.equal(tokenState({ expiresAt: 10 }, 9), 'valid');
    assert.equal(tokenState({ expiresAt: 10 }, 10), 'expired');
    assert.equal(tokenState({ revokedAt: 3 }, 1), 'revoked');
    assert.equal(tokenState({ revokedAt: 3, expiresAt: 2 }, 5), 'revoked');
  });

  it('authenticates a new token with its role until it expires, then says it expired', async () => {
    const clock = clockAt(1_000_000);
    const tokens = new TokenService(new MemoryStore(), clock);
    const { token, record } = await tokens.create('ci', 'deployer', { expiresInMs: 3_600_000 });
    assert.equal(record.expiresAt, 1_000_000 + 3_600_000);
    assert.equal((await tokens.authenticate(token)).role, 'deployer');
    clock.t += 3_600_000;
    const r = await refusal(tokens.authenticate(token));
    assert.equal(r.code, 'UNAUTHORIZED');
    assert.equal(r.message, `the token "ci" expired at ${new Date(1_000_000 + 3_600_000).toISOString()}; ask an admin for a new one`);
    assert.deepEqual(r.details, { reason: 'expired', token: 'ci' });
    assert.deepEqual((await refusal(tokens.authenticate('slc_nothing'))).details, { reason: 'unknown' });
  });

  it('keeps nothing in memory: a token revoked through another service on the same store stops working at once', async () => {
    const store = new MemoryStore();
    const clock = clockAt(5_000);
    const a = new TokenService(store, clock);
    const b = new TokenService(store, clock);
    await a.create('root', 'admin');
    const { token } = await a.create('ci', 'viewer');
    assert.equal((await a.authenticate(token)).name, 'ci');
    assert.equal((await b.revoke('ci')).revokedAt, 5_000);
    const r = await refusal(a.authenticate(token));
    assert.match(r.message, /^the token "ci" was revoked at 1970-01-01T00:00:05\.000Z/);
    assert.deepEqual(r.details, { reason: 'revoked', token: 'ci' });
  });

  it('refuses a second token with a name in use, and frees the name once that one is revoked', async () => {
    const clock = clockAt(0);
    const tokens = new TokenService(new MemoryStore(), clock);
    await tokens.create('root', 'admin');
    clock.t = 10;
    const first = await tokens.create('ci', 'viewer', { expiresInMs: 60_000 });
    const taken = await refusal(tokens.create('ci', 'admin'));
    assert.equal(taken.code, 'TOKEN_NAME_TAKEN');
    assert.match(taken.message, /^a token named "ci" exists; choose another name, or revoke it first \(sluice token revoke ci\)$/);
    clock.t = 120_000;
    assert.match((await refusal(tokens.create('ci', 'admin'))).message, /\(it expired at 1970-01-01T00:01:00\.010Z; revoke it to free the name\)/);
    assert.equal((await tokens.list()).length, 2, 'nothing was kept of the refused ones');
    await tokens.revoke(first.record.id);
    const again = await tokens.create('ci', 'approver');
    assert.equal((await tokens.authenticate(again.token)).role, 'approver');
    assert.deepEqual((await tokens.list()).map((t) => [t.name, t.role, t.revokedAt]), [['root', 'admin', undefined], ['ci', 'viewer', 120_000], ['ci', 'approver', undefined]]);
  });

  it('refuses bad names, roles and lifetimes, keeping nothing', async () => {
    const tokens = new TokenService(new MemoryStore(), clockAt(0));
    for (const [name, role, opts, re] of [
      ['has space', 'viewer', {}, /letters, digits/],
      ['', 'viewer', {}, /letters, digits/],
      ['x'.repeat(65), 'viewer', {}, /at most 64/],
      ['0b8a3d0e-58e4-4c5b-9d0b-1a2b3c4d5e6f', 'viewer', {}, /looks like a token id/],
      ['ok', 'root', {}, /one of viewer, deployer, approver, admin/],
      ['ok', 'viewer', { expiresInMs: 59_999 }, /from 1m to 3650d/],
      ['ok', 'viewer', { expiresInMs: 3651 * 86_400_000 }, /from 1m to 3650d/],
    ] as const) {
      const r = await refusal(tokens.create(name, role as never, opts));
      assert.equal(r.code, 'BAD_REQUEST', name);
      assert.match(r.message, re);
    }
    assert.equal(await tokens.count(), 0);
  });

  it('revokes by id or name once, and never the last admin token that works', async () => {
    const clock = clockAt(0);
    const tokens = new TokenService(new MemoryStore(), clock);
    const root = await tokens.create('root', 'admin');
    assert.equal((await refusal(tokens.revoke('root'))).code, 'INVALID_STATE');
    assert.match((await refusal(tokens.revoke(root.record.id))).message, /the last admin token that works; create another admin token first/);
    const second = await tokens.create('second', 'admin', { expiresInMs: 60_000 });
    assert.equal((await tokens.revoke('root')).name, 'root');
    assert.match((await refusal(tokens.revoke('root'))).message, /^the token "root" \(.+\) was already revoked at 1970/);
    assert.equal((await refusal(tokens.revoke('nobody'))).code, 'NOT_FOUND');
    await tokens.authenticate(second.token);
    const third = await tokens.create('third', 'admin');
    clock.t = 60_000;
    // `second` expired: `third` is the only admin that works.
    assert.match((await refusal(tokens.revoke('third'))).message, /last admin token/);
    assert.equal((await tokens.revoke('second')).name, 'second', 'an expired admin token can be revoked');
    assert.equal((await tokens.authenticate(third.token)).name, 'third');
  });

  it('records when a token was last used, at most once a minute', async () => {
    const clock = clockAt(1_000);
    const tokens = new TokenService(new MemoryStore(), clock);
    const { token } = await tokens.create('ci', 'viewer');
    const used = async () => (await tokens.list())[0]!.lastUsedAt;
    assert.equal(await used(), undefined);
    await tokens.authenticate(token);
    assert.equal(await used(), 1_000);
    clock.t = 60_999;
    await tokens.authenticate(token);
    assert.equal(await used(), 1_000);
    clock.t = 61_000;
    await tokens.authenticate(token);
    assert.equal(await used(), 61_000);
  });
});
