import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROLES, type Role } from '../../src/kernel/actor.js';
import { api, copyExample } from '../helpers/sluice-process.js';
import { loginSession, manualClock, rawCall, startOn, type Who } from './access-helpers.js';

interface Op {
  method: 'GET' | 'POST';
  path: string;
  auth: 'none' | 'token' | 'public' | 'login' | 'session';
  roles: readonly Role[] | undefined;
}

/**
 * What a caller should get from a route, worked out here from the route's own definition (not from the registrar's
 * code): `allowed` (the call may then fail validation or find nothing, but is never refused for who made it), 401 or 403.
 */
function expected(op: Op, who: Who, beyondLoopback: boolean): 'allowed' | 401 | 403 {
  // A login's credential is its body (here `{}`: refused as a bad request, never for who sent it).
  if (op.auth === 'public' || op.auth === 'login') return 'allowed';
  // A browser session's routes take its cookie only: a Bearer token is no session.
  if (op.auth === 'session') return 401;
  if (op.auth === 'none' && !beyondLoopback) return 'allowed';
  if (who === 'no token' || who === 'expired' || who === 'revoked') return 401;
  if (who === 'admin' || op.roles === undefined || op.roles.includes(who)) return 'allowed';
  return 403;
}

const CALLERS: Who[] = ['no token', ...ROLES, 'expired', 'revoked'];
/** A value for every path parameter that names nothing: an allowed call finds nothing and changes nothing. */
const concrete = (path: string) => path.replace(/\{(\w+)\}/g, 'no-such-$1');

// Every route the server registered × every caller, on loopback and beyond it, against a real server on PGlite.
describe('role matrix: every registered route × every caller', { timeout: 300_000 }, () => {
  let app: string;
  const clock = manualClock();
  let running: Awaited<ReturnType<typeof startOn>>;
  const tokens = {} as Record<Who, string | undefined>;
  let ops: Op[];

  before(async () => {
    app = copyExample();
    running = await startOn(app, '127.0.0.1', clock);
    const admin = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
    tokens['no token'] = undefined;
    tokens.admin = admin;
    const make = async (name: string, role: Role, expires?: string) => {
      const r = await api<{ token: string; id: string }>(running.sluice.apiUrl, 'POST', '/api/v1/tokens', { name, role, ...(expires ? { expires } : {}) }, admin);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json;
    };
    for (const role of ['viewer', 'deployer', 'approver'] as const) tokens[role] = (await make(`matrix-${role}`, role)).token;
    // Both were admin tokens: what stops them is their state, not their role.
    tokens.expired = (await make('matrix-expired', 'admin', '1h')).token;
    const revoked = await make('matrix-revoked', 'admin');
    tokens.revoked = revoked.token;
    assert.equal((await api(running.sluice.apiUrl, 'POST', `/api/v1/tokens/${revoked.id}/revoke`, {}, admin)).status, 200);
    clock.t += 2 * 3_600_000;

    const doc = await api<{ paths: Record<string, Record<string, { 'x-sluice-auth': Op['auth']; 'x-sluice-roles'?: Role[] }>> }>(running.sluice.apiUrl, 'GET', '/api/openapi.json');
    ops = Object.entries(doc.json.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => ({ method: m.toUpperCase() as Op['method'], path: concrete(path), auth: op['x-sluice-auth'], roles: op['x-sluice-roles'] })),
    );
  });
  after(async () => {
    await running.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('reads the route table from the server, and it holds the policy: changes need a token of the right role', () => {
    assert.ok(ops.length >= 20, `only ${ops.length} routes were read`);
    for (const op of ops) assert.ok(['none', 'token', 'public', 'login', 'session'].includes(op.auth), `${op.method} ${op.path}: auth ${op.auth}`);
    // A change that anyone could make is a route added without thought: only judging a request's own series is public,
    // a login takes its token in its body, logging out takes the session's cookie, and GitHub's webhook is
    // authenticated by its signature (ADR 28).
    assert.deepEqual(
      ops.filter((o) => o.method === 'POST' && o.auth !== 'token').map((o) => [o.method, o.path, o.auth]).sort(),
      [
        ['POST', '/api/v1/github/webhook', 'public'],
        ['POST', '/api/v1/judge', 'public'],
        ['POST', '/api/v1/session', 'login'],
        ['POST', '/api/v1/session/logout', 'session'],
      ],
    );
    assert.equal(ops.find((o) => o.method === 'GET' && o.path === '/api/v1/session')?.auth, 'session');
    const rolesOf = (method: string, path: string) => {
      const op = ops.find((o) => o.method === method && o.path === concrete(path));
      assert.ok(op, `${method} ${path} is registered`);
      assert.equal(op.auth, 'token', `${method} ${path} needs a token`);
      return op.roles;
    };
    assert.deepEqual(rolesOf('POST', '/api/v1/releases'), ['deployer']);
    for (const verb of ['pause', 'resume', 'abort', 'retry']) assert.deepEqual(rolesOf('POST', `/api/v1/releases/{version}/${verb}`), ['deployer'], verb);
    assert.deepEqual(rolesOf('POST', '/api/v1/stages/{stage}/rollback'), ['deployer']);
    for (const verb of ['promote', 'approve', 'reject']) assert.deepEqual(rolesOf('POST', `/api/v1/releases/{version}/${verb}`), ['deployer', 'approver'], verb);
    for (const [m, p] of [['POST', '/api/v1/tokens'], ['GET', '/api/v1/tokens'], ['POST', '/api/v1/tokens/{token}/revoke']] as const) assert.deepEqual(rolesOf(m, p), [], `${m} ${p} is admin only`);
    for (const p of ['/api/v1/health', '/api/openapi.json', '/api/v1/pipeline/schema'])
      assert.equal(ops.find((o) => o.method === 'GET' && o.path === p)?.auth, 'public', p);
    for (const p of ['/api/v1/status', '/api/v1/releases', '/api/v1/events', '/api/v1/pipeline', '/metrics', '/api/v1/notifications'])
      assert.equal(ops.find((o) => o.method === 'GET' && o.path === p)?.auth, 'none', `${p} is a read`);
  });

  const matrix = async (beyondLoopback: boolean) => {
    const apiUrl = running.sluice.apiUrl;
    const wrong: string[] = [];
    const seen = { allowed: 0, 401: 0, 403: 0 };
    for (const op of ops) {
      for (const who of CALLERS) {
        const res = await rawCall(apiUrl, op.method, op.path, { ...(tokens[who] ? { token: tokens[who] } : {}), ...(op.method === 'POST' ? { body: {} } : {}) });
        const want = expected(op, who, beyondLoopback);
        seen[want]++;
        const where = `${op.method} ${op.path} as ${who}: want ${want}, got ${res.status} ${res.text.slice(0, 200)}`;
        if (want === 'allowed') {
          if (res.status === 401 || res.status === 403 || res.status >= 500) wrong.push(where);
          continue;
        }
        const body = (res.contentType.startsWith('application/json') ? JSON.parse(res.text) : {}) as { code?: string; message?: string };
        if (res.status !== want || body.code !== (want === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN')) wrong.push(where);
        else if (op.auth === 'session' && !/needs the dashboard's session cookie/.test(body.message ?? '')) wrong.push(`${where}: does not say it needs the session cookie`);
        else if (op.auth === 'session') continue;
        else if (who === 'expired' && !/expired at/.test(body.message ?? '')) wrong.push(`${where}: does not say it expired`);
        else if (who === 'revoked' && !/was revoked at/.test(body.message ?? '')) wrong.push(`${where}: does not say it was revoked`);
        else if (want === 403 && !body.message?.includes(`has the role ${who}`)) wrong.push(`${where}: does not name the role held`);
      }
      // A page on a foreign name (DNS rebinding) gets nothing from any route, whatever token it carries.
      const foreign = await rawCall(apiUrl, op.method, op.path, { token: tokens.admin!, host: 'evil.example', ...(op.method === 'POST' ? { body: {} } : {}) });
      if (foreign.status !== 400 || !foreign.text.includes('HOST_NOT_ALLOWED')) wrong.push(`${op.method} ${op.path} with Host evil.example: got ${foreign.status} ${foreign.text.slice(0, 200)}`);
    }
    // The same through the dashboard: each role's session cookie (with its CSRF token on a POST) is held to what its
    // token is; the session's own routes take it; and the cookie alone, without the CSRF token, changes nothing.
    for (const who of ['viewer', 'deployer', 'approver', 'admin'] as const) {
      let session = await loginSession(apiUrl, tokens[who]!);
      for (const op of ops) {
        const post = op.method === 'POST';
        const res = await rawCall(apiUrl, op.method, op.path, { headers: { cookie: session.cookie, ...(post ? { 'x-sluice-csrf': session.csrf } : {}) }, ...(post ? { body: {} } : {}) });
        const want = op.auth === 'session' || op.auth === 'login' ? 'allowed' : expected(op, who, beyondLoopback);
        const where = `${op.method} ${op.path} with ${who}'s session: want ${want}, got ${res.status} ${res.text.slice(0, 200)}`;
        if (want === 'allowed' ? res.status === 401 || res.status === 403 || res.status >= 500 : res.status !== want) wrong.push(where);
        if (op.path === '/api/v1/session/logout' && res.status === 200) session = await loginSession(apiUrl, tokens[who]!);
        if (!post || op.auth === 'login' || op.auth === 'public') continue;
        const forged = await rawCall(apiUrl, op.method, op.path, { headers: { cookie: session.cookie }, body: {} });
        if (forged.status !== 403 || !/X-Sluice-CSRF/.test(forged.text)) wrong.push(`${op.method} ${op.path} with ${who}'s session and no CSRF token: got ${forged.status} ${forged.text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(wrong, []);
    // Each kind of answer was asked for: a matrix that expects only one kind proves little.
    assert.ok(seen.allowed > 0 && seen[401] > 0 && seen[403] > 0, JSON.stringify(seen));
    // Nothing any of it changed: no release, no journey, the same tokens.
    assert.deepEqual((await api<unknown[]>(apiUrl, 'GET', '/api/v1/releases', undefined, tokens.viewer)).json, []);
    assert.equal(running.sluice.executor.list().length, 0);
    const names = (await api<{ name: string; status: string }[]>(apiUrl, 'GET', '/api/v1/tokens', undefined, tokens.admin)).json.map((t) => `${t.name}:${t.status}`).sort();
    assert.deepEqual(names, ['admin:valid', 'matrix-approver:valid', 'matrix-deployer:valid', 'matrix-expired:expired', 'matrix-revoked:revoked', 'matrix-viewer:valid']);
    return seen;
  };

  it('on loopback: reads are open, changes take the roles their route names, and expired or revoked tokens get a 401 saying which', async () => {
    const seen = await matrix(false);
    assert.ok(seen[401] < ops.length * 3, 'reads were open');
  });

  it('beyond loopback (--api-host 0.0.0.0): reads need a token of any role too', async () => {
    await running.sluice.close();
    running = await startOn(app, '0.0.0.0', clock);
    const seen = await matrix(true);
    const reads = ops.filter((o) => o.auth === 'none').length;
    assert.ok(reads > 0);
    assert.ok(seen[401] >= (ops.length - ops.filter((o) => o.auth === 'public').length) * 3, JSON.stringify(seen));
    // The CLI's way in: a read without a token says what it needs.
    const r = await rawCall(running.sluice.apiUrl, 'GET', '/api/v1/status');
    assert.equal(r.status, 401);
    assert.match(r.text, /listens beyond loopback, so reads too need an Authorization: Bearer <token> header/);
  });
});
