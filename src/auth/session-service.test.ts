import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import { isSluiceError } from '../kernel/errors.js';
import { SESSION_LIFETIME, SessionService } from './session-service.js';
import { TokenService } from './token-service.js';

const H = 3_600_000;
const clockAt = (t: number) => ({ t, now() { return this.t; } });
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isSluiceError(e) && e.code === 'UNAUTHORIZED') return e.message;
    throw e;
  }
  return assert.fail('it was accepted');
}

function setup() {
  const clock = clockAt(1_000_000);
  const store = new MemoryStore();
  const tokens = new TokenService(store, clock);
  return { clock, store, tokens, sessions: new SessionService(store, tokens, clock) };
}

describe('session service', () => {
  it('a login makes a session for a token that works; its secret and CSRF token are random, and only the hash is kept', async () => {
    const { tokens, sessions, store } = setup();
    const { token, record } = await tokens.create('alice', 'approver');
    const a = await sessions.login(token);
    const b = await sessions.login(token);
    assert.equal(a.token.id, record.id);
    assert.notEqual(a.secret, b.secret);
    assert.notEqual(a.session.csrf, b.session.csrf);
    assert.notEqual(a.session.hash, a.secret);
    assert.equal((await store.findSessionByHash(a.session.hash))?.tokenId, record.id);
    assert.equal((await sessions.resolve(a.secret)).token.name, 'alice');
    assert.match(await refusal(sessions.login('slc_nope')), /not valid/);
  });

  it('checks the CSRF token exactly', async () => {
    const { tokens, sessions } = setup();
    const { session } = await sessions.login((await tokens.create('a', 'admin')).token);
    assert.equal(sessions.csrfMatches(session, session.csrf), true);
    assert.equal(sessions.csrfMatches(session, undefined), false);
    assert.equal(sessions.csrfMatches(session, ''), false);
    assert.equal(sessions.csrfMatches(session, `${session.csrf}x`), false);
    assert.equal(sessions.csrfMatches(session, session.csrf.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))), false);
  });

  it('slides with use, ends after 12 h idle, at 7 days however busy, and never outlives its token', async () => {
    const { clock, tokens, sessions } = setup();
    const t = await tokens.create('busy', 'viewer');
    const s = await sessions.login(t.token);
    assert.equal(s.session.expiresAt, clock.t + SESSION_LIFETIME.idleMs);
    for (let i = 0; i < 15; i++) {
      clock.t += 11 * H;
      await sessions.resolve(s.secret);
    }
    clock.t += 11 * H;
    assert.match(await refusal(sessions.resolve(s.secret)), /session has ended/, '7 days after the login');

    const idle = await sessions.login(t.token);
    clock.t += 12 * H;
    assert.match(await refusal(sessions.resolve(idle.secret)), /session has ended/);

    const short = await tokens.create('short', 'viewer', { expiresInMs: 2 * H });
    const s2 = await sessions.login(short.token);
    assert.equal(s2.session.expiresAt, short.record.expiresAt);
    clock.t += 2 * H;
    assert.match(await refusal(sessions.resolve(s2.secret)), /session has ended|expired/);
  });

  it('ends at once when its token is revoked or it logs out; a secret of the wrong shape opens nothing', async () => {
    const { tokens, sessions, store } = setup();
    await tokens.create('root', 'admin');
    const t = await tokens.create('bob', 'deployer');
    const s = await sessions.login(t.token);
    await tokens.revoke('bob');
    assert.match(await refusal(sessions.resolve(s.secret)), /was revoked at/);
    assert.equal(await store.findSessionByHash(s.session.hash), undefined, 'the session of a revoked token is forgotten');
    const u = await tokens.create('carol', 'viewer');
    const s3 = await sessions.login(u.token);
    assert.equal(await sessions.logout(s3.session), true);
    assert.equal(await sessions.logout(s3.session), false);
    assert.match(await refusal(sessions.resolve(s3.secret)), /session has ended/);
    for (const bad of ['', 'short', 'A'.repeat(44), `${'A'.repeat(42)}!`]) assert.match(await refusal(sessions.resolve(bad)), /not one this server made/);
  });
});
