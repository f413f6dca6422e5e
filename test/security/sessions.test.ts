import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, copyExample } from '../helpers/sluice-process.js';
import { loginSession, manualClock, rawCall, startOn } from './access-helpers.js';

interface AuditView {
  action: string;
  outcome: string;
  actor: { name?: string };
}

const CLEARED = /^sluice_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/;

// The dashboard's sessions against a real server on PGlite (sockets on loopback), whose clock the test moves.
describe('browser sessions: an HttpOnly cookie for a token, and no change without the CSRF token', { timeout: 300_000 }, () => {
  let app: string;
  const clock = manualClock();
  let running: Awaited<ReturnType<typeof startOn>>;
  let admin: string;
  let url: string;
  let host: string;
  const make = async (name: string, role: string, expires?: string) => {
    const r = await api<{ token: string; id: string }>(url, 'POST', '/api/v1/tokens', { name, role, ...(expires ? { expires } : {}) }, admin);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return r.json;
  };
  const audit = async () => (await api<AuditView[]>(url, 'GET', '/api/v1/audit?limit=1000', undefined, admin)).json;
  const tokenNames = async () => (await api<{ name: string }[]>(url, 'GET', '/api/v1/tokens', undefined, admin)).json.map((t) => t.name).sort();
  const releases = async () => (await api<unknown[]>(url, 'GET', '/api/v1/releases', undefined, admin)).json;

  before(async () => {
    app = copyExample();
    running = await startOn(app, '127.0.0.1', clock);
    url = running.sluice.apiUrl;
    host = new URL(url).host;
    admin = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await running.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('a login with a token sets an HttpOnly, SameSite=Strict cookie (Secure only over https), answers who and the CSRF token, and is audited', async () => {
    const deployer = await make('dash-deployer', 'deployer');
    const r = await rawCall(url, 'POST', '/api/v1/session', { body: { token: deployer.token } });
    assert.equal(r.status, 200, r.text);
    const body = JSON.parse(r.text) as { actor: { id: string; name: string; role: string }; csrf: string; expiresAt: number };
    assert.deepEqual(body.actor, { id: deployer.id, name: 'dash-deployer', role: 'deployer' });
    assert.match(body.csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(body.expiresAt, clock.t + 12 * 3_600_000, 'a session lives 12 h from its last use');
    assert.equal(r.setCookie.length, 1);
    assert.match(r.setCookie[0]!, /^sluice_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/, 'no Secure on plain http');
    assert.ok(!r.setCookie[0]!.includes(deployer.token), 'the cookie is not the token');
    const viaTls = await rawCall(url, 'POST', '/api/v1/session', { body: { token: deployer.token }, headers: { 'x-forwarded-proto': 'https' } });
    assert.match(viaTls.setCookie[0]!, /; HttpOnly; SameSite=Strict; Secure$/);

    const session = await loginSession(url, deployer.token);
    const current = await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: session.cookie } });
    assert.equal(current.status, 200);
    assert.deepEqual(JSON.parse(current.text).actor, body.actor);
    assert.equal(JSON.parse(current.text).csrf, session.csrf);
    const logins = (await audit()).filter((a) => a.action === 'session.login');
    assert.deepEqual(logins.map((a) => [a.actor.name, a.outcome]), [['dash-deployer', 'done'], ['dash-deployer', 'done'], ['dash-deployer', 'done']]);
  });

  it('a refused login says 401 and no more, sets no cookie and records nothing; a token of the wrong shape or size is a 4xx', async () => {
    const expiring = await make('dash-expiring', 'viewer', '1h');
    const revoked = await make('dash-revoked', 'viewer');
    assert.equal((await api(url, 'POST', `/api/v1/tokens/${revoked.id}/revoke`, {}, admin)).status, 200);
    const auditBefore = (await audit()).length;
    clock.t += 2 * 3_600_000;
    const messages = new Set<string>();
    for (const token of ['slc_not-a-token', expiring.token, revoked.token]) {
      const r = await rawCall(url, 'POST', '/api/v1/session', { body: { token } });
      assert.equal(r.status, 401, r.text);
      assert.deepEqual(r.setCookie, []);
      const body = JSON.parse(r.text) as { code: string; message: string; details?: unknown };
      assert.equal(body.code, 'UNAUTHORIZED');
      assert.equal(body.details, undefined, 'no reason, no token name');
      messages.add(body.message);
    }
    assert.equal(messages.size, 1, 'unknown, expired and revoked tokens are refused alike');
    assert.doesNotMatch([...messages][0]!, /dash-/);
    assert.equal((await rawCall(url, 'POST', '/api/v1/session', { body: {} })).status, 400);
    assert.equal((await rawCall(url, 'POST', '/api/v1/session', { body: { token: admin, extra: 1 } })).status, 400);
    assert.equal((await rawCall(url, 'POST', '/api/v1/session', { body: { token: 'x'.repeat(201) } })).status, 400);
    assert.equal((await rawCall(url, 'POST', '/api/v1/session', { body: { token: 'x'.repeat(5000) } })).status, 413, 'a login body is at most 4 KiB');
    // A login posted by another site's page would log the browser in as the attacker.
    const foreign = await rawCall(url, 'POST', '/api/v1/session', { body: { token: admin }, headers: { origin: 'http://evil.example' } });
    assert.equal(foreign.status, 403);
    assert.deepEqual(foreign.setCookie, []);
    assert.equal((await audit()).length, auditBefore);
  });

  it('the cookie alone changes nothing: no CSRF token, a wrong one, a cross-site form post, another origin or a foreign Host are refused', async () => {
    const deployer = await make('dash-deployer2', 'deployer');
    const own = await loginSession(url, admin);
    const dep = await loginSession(url, deployer.token);
    const tokensBefore = await tokenNames();
    const auditBefore = await audit();
    const attempts: { what: string; status: number[]; call: () => ReturnType<typeof rawCall> }[] = [
      { what: 'no CSRF header', status: [403], call: () => rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie }, body: { name: 'forged', role: 'admin' } }) },
      {
        what: 'a wrong CSRF header',
        status: [403],
        call: () => rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, 'x-sluice-csrf': dep.csrf }, body: { name: 'forged', role: 'admin' } }),
      },
      {
        what: 'a cross-site form post (urlencoded, foreign Origin)',
        status: [403, 415],
        call: () =>
          rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, origin: 'http://evil.example' }, body: 'name=forged&role=admin', contentType: 'application/x-www-form-urlencoded' }),
      },
      {
        what: 'a cross-site form post (text/plain JSON, foreign Origin)',
        status: [403],
        call: () =>
          rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, origin: 'http://evil.example' }, body: '{"name":"forged","role":"admin"}', contentType: 'text/plain' }),
      },
      {
        what: 'a text/plain post without Origin',
        status: [403],
        call: () => rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie }, body: '{"name":"forged","role":"admin"}', contentType: 'text/plain' }),
      },
      {
        what: 'the right CSRF token from another origin (a stage app on the same machine)',
        status: [403],
        call: () =>
          rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, 'x-sluice-csrf': own.csrf, origin: 'http://prod.shop.localhost:7080' }, body: { name: 'forged', role: 'admin' } }),
      },
      {
        what: 'Origin null (a sandboxed page)',
        status: [403],
        call: () => rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, 'x-sluice-csrf': own.csrf, origin: 'null' }, body: { name: 'forged', role: 'admin' } }),
      },
      {
        what: 'Sec-Fetch-Site: same-site',
        status: [403],
        call: () => rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, 'x-sluice-csrf': own.csrf, 'sec-fetch-site': 'same-site' }, body: { name: 'forged', role: 'admin' } }),
      },
      {
        what: 'a foreign Host (DNS rebinding), with the CSRF token',
        status: [400],
        call: () => rawCall(url, 'POST', '/api/v1/tokens', { host: 'evil.example', headers: { cookie: own.cookie, 'x-sluice-csrf': own.csrf }, body: { name: 'forged', role: 'admin' } }),
      },
      { what: 'a release without the CSRF header', status: [403], call: () => rawCall(url, 'POST', '/api/v1/releases', { headers: { cookie: dep.cookie }, body: { version: '9.9.9' } }) },
      {
        what: 'a release by a cross-site form',
        status: [403, 415],
        call: () => rawCall(url, 'POST', '/api/v1/releases', { headers: { cookie: dep.cookie, origin: 'https://evil.example' }, body: 'version=9.9.9', contentType: 'application/x-www-form-urlencoded' }),
      },
      {
        what: 'a release from a foreign Host',
        status: [400],
        call: () => rawCall(url, 'POST', '/api/v1/releases', { host: 'rebound.example:7070', headers: { cookie: dep.cookie, 'x-sluice-csrf': dep.csrf }, body: { version: '9.9.9' } }),
      },
      {
        what: 'a logout without the CSRF header',
        status: [403],
        call: () => rawCall(url, 'POST', '/api/v1/session/logout', { headers: { cookie: own.cookie }, body: {} }),
      },
    ];
    for (const a of attempts) {
      const r = await a.call();
      assert.ok(a.status.includes(r.status), `${a.what}: got ${r.status} ${r.text}`);
      if (r.status === 403) assert.match(r.text, /CSRF|another origin|another site/, a.what);
    }
    // Nothing changed: no token, no release, no record, and both sessions still work.
    assert.deepEqual(await tokenNames(), tokensBefore);
    assert.deepEqual(await releases(), []);
    assert.equal(running.sluice.executor.list().length, 0);
    assert.deepEqual(await audit(), auditBefore);
    for (const s of [own, dep]) assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: s.cookie } })).status, 200);

    // And the dashboard's own call, from its own origin with the CSRF token, works: the refusals above were for cause.
    const made = await rawCall(url, 'POST', '/api/v1/tokens', { headers: { cookie: own.cookie, 'x-sluice-csrf': own.csrf, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, body: { name: 'via-dashboard', role: 'viewer' } });
    assert.equal(made.status, 201, made.text);
    const last = (await audit()).at(-1)!;
    assert.deepEqual([last.action, last.outcome, last.actor.name], ['token.create', 'done', 'admin']);
    // Reads with the cookie need no CSRF header; a role is held to its token's.
    assert.equal((await rawCall(url, 'GET', '/api/v1/tokens', { headers: { cookie: own.cookie } })).status, 200);
    assert.equal((await rawCall(url, 'GET', '/api/v1/tokens', { headers: { cookie: dep.cookie } })).status, 403);
  });

  it('revoking the token ends its sessions at once; logging out ends one and clears the cookie; a cookie of the wrong shape opens nothing', async () => {
    const viewer = await make('dash-viewer', 'viewer');
    const a = await loginSession(url, viewer.token);
    const b = await loginSession(url, viewer.token);
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: a.cookie } })).status, 200);
    const out = await rawCall(url, 'POST', '/api/v1/session/logout', { headers: { cookie: a.cookie, 'x-sluice-csrf': a.csrf }, body: {} });
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(JSON.parse(out.text), { ended: true });
    assert.match(out.setCookie[0] ?? '', CLEARED);
    const gone = await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: a.cookie } });
    assert.equal(gone.status, 401);
    assert.match(gone.setCookie[0] ?? '', CLEARED, 'the browser is told to forget a dead cookie');
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: b.cookie } })).status, 200, 'the other session lives on');
    assert.equal((await audit()).filter((r) => r.action === 'session.logout' && r.actor.name === 'dash-viewer').length, 1);

    assert.equal((await api(url, 'POST', `/api/v1/tokens/${viewer.id}/revoke`, {}, admin)).status, 200);
    const revoked = await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: b.cookie } });
    assert.equal(revoked.status, 401);
    assert.match(revoked.text, /was revoked at/);

    for (const cookie of ['sluice_session=short', `sluice_session=${'A'.repeat(43)}`, `sluice_session=${'A'.repeat(5000)}`, 'other=1']) {
      const r = await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie } });
      assert.equal(r.status, 401, cookie.slice(0, 40));
    }
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: `x=${'y'.repeat(20_000)}` } })).status, 431, 'a head past 16 KB');
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { authorization: `Bearer ${admin}` } })).status, 401, 'a Bearer token is no session');
  });

  it('a session slides 12 h from its last use, never past its token’s expiry; it survives a restart of the control plane', async () => {
    const short = await make('dash-short', 'viewer', '20h');
    const s = await loginSession(url, short.token);
    const at = async () => rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: s.cookie } });
    for (let i = 0; i < 3; i++) {
      clock.t += 6 * 3_600_000;
      const r = await at();
      assert.equal(r.status, 200, `after ${(i + 1) * 6} h of use`);
    }
    assert.equal(JSON.parse((await at()).text).expiresAt, clock.t + 2 * 3_600_000, 'capped by the token, which expires 20 h after it was made');

    const idle = await loginSession(url, admin);
    await running.sluice.close();
    running = await startOn(app, '127.0.0.1', clock);
    url = running.sluice.apiUrl;
    host = new URL(url).host;
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: idle.cookie } })).status, 200, 'a session kept in the store survives a restart');
    clock.t += 12 * 3_600_000 + 1;
    assert.equal((await rawCall(url, 'GET', '/api/v1/session', { headers: { cookie: idle.cookie } })).status, 401, '12 h unused: ended');
  });

  it('beyond loopback, the event stream and every read take the session cookie or a Bearer token, and nothing else', async () => {
    await running.sluice.close();
    running = await startOn(app, '0.0.0.0', clock);
    url = running.sluice.apiUrl;
    const s = await loginSession(url, admin);
    assert.equal((await rawCall(url, 'GET', '/api/v1/events')).status, 401);
    const viaCookie = await rawCall(url, 'GET', '/api/v1/events', { headers: { cookie: s.cookie } });
    assert.equal(viaCookie.status, 200);
    assert.match(viaCookie.contentType, /^text\/event-stream/);
    assert.equal((await rawCall(url, 'GET', '/api/v1/events', { token: admin })).status, 200);
    assert.equal((await rawCall(url, 'GET', '/api/v1/status', { headers: { cookie: s.cookie } })).status, 200);
    assert.equal((await rawCall(url, 'GET', '/api/v1/status', { headers: { cookie: 'sluice_session=nope' } })).status, 401);
  });
});
