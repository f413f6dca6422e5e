import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMigrations, migrate } from '../../src/adapters/store-sql/migrate.js';
import { openPglite } from '../../src/adapters/store-sql/pglite-driver.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { api, cli, copyExample } from '../helpers/sluice-process.js';
import { manualClock, startOn } from './access-helpers.js';

interface TokenView {
  id: string;
  name: string;
  role: string;
  status: string;
  expiresAt?: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

// Tokens through the API and the CLI of a real server on PGlite, whose clock the test moves.
describe('tokens: roles, unique names, list, revoke, expiry', { timeout: 300_000 }, () => {
  let app: string;
  const clock = manualClock();
  let running: Awaited<ReturnType<typeof startOn>>;
  let admin: string;
  let url: string;
  const sluice = (token: string, ...args: string[]) => cli([...args, '--url', url, '--token', token, '--dir', app]);
  const list = async () => (await api<TokenView[]>(url, 'GET', '/api/v1/tokens', undefined, admin)).json;

  before(async () => {
    app = copyExample();
    running = await startOn(app, '127.0.0.1', clock);
    url = running.sluice.apiUrl;
    admin = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await running.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  const created = async (name: string, role: string, ...more: string[]) => {
    const r = await sluice(admin, 'token', 'create', name, '--role', role, ...more);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n')[0]!.trim();
  };

  it('no token but an admin one makes tokens: a deployer, viewer or approver cannot mint an admin token', async () => {
    const before = await list();
    for (const role of ['viewer', 'deployer', 'approver']) {
      const t = await created(`can-${role}`, role);
      const viaApi = await api<{ code: string; message: string }>(url, 'POST', '/api/v1/tokens', { name: 'sneaky', role: 'admin' }, t);
      assert.equal(viaApi.status, 403);
      assert.equal(viaApi.json.code, 'FORBIDDEN');
      assert.equal(viaApi.json.message, `POST /api/v1/tokens needs the role admin; the token "can-${role}" has the role ${role}`);
      const viaCli = await sluice(t, 'token', 'create', 'sneaky', '--role', 'admin');
      assert.equal(viaCli.code, 1);
      assert.match(viaCli.stderr, /needs the role admin; the token "can-\w+" has the role \w+/);
      for (const [m, p] of [['GET', '/api/v1/tokens'], ['POST', `/api/v1/tokens/admin/revoke`]] as const)
        assert.equal((await api(url, m, p, m === 'POST' ? {} : undefined, t)).status, 403, `${role} ${m} ${p}`);
    }
    const after = await list();
    assert.deepEqual(after.map((t) => t.name).sort(), [...before.map((t) => t.name), 'can-approver', 'can-deployer', 'can-viewer'].sort());
    assert.equal(after.find((t) => t.name === 'admin')?.status, 'valid', 'nobody revoked the admin token');
  });

  it('a token needs a role, one of four; a name is taken once, and a second one is a clear 409 that keeps nothing', async () => {
    const none = await sluice(admin, 'token', 'create', 'ci');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /a token needs --role: viewer, deployer, approver, admin/);
    const bad = await sluice(admin, 'token', 'create', 'ci', '--role', 'root');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--role root: use one of viewer, deployer, approver, admin/);
    assert.equal((await api(url, 'POST', '/api/v1/tokens', { name: 'ci' }, admin)).status, 400);
    await created('ci', 'deployer');
    const again = await sluice(admin, 'token', 'create', 'ci', '--role', 'admin');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a token named "ci" exists; choose another name, or revoke it first \(sluice token revoke ci\)/);
    const viaApi = await api<{ code: string }>(url, 'POST', '/api/v1/tokens', { name: 'ci', role: 'viewer' }, admin);
    assert.equal(viaApi.status, 409);
    assert.equal(viaApi.json.code, 'TOKEN_NAME_TAKEN');
    assert.deepEqual((await list()).filter((t) => t.name === 'ci').map((t) => t.role), ['deployer']);
  });

  it('lists every token with id, name, role, created, expiry, last use and state, never the token or its hash', async () => {
    const t = await created('lister', 'viewer', '--expires', '90d');
    assert.equal((await api(url, 'POST', '/api/v1/releases', {}, t)).status, 403, 'a viewer cannot create releases');
    const r = await sluice(admin, 'token', 'list');
    assert.equal(r.code, 0, r.stderr);
    const [head, ...rows] = r.stdout.trim().split('\n');
    assert.match(head!, /^ID\s+NAME\s+ROLE\s+CREATED\s+EXPIRES\s+LAST USED\s+STATUS$/);
    const row = rows.find((l) => / lister /.test(l));
    assert.ok(row, r.stdout);
    assert.match(row, /^[0-9a-f-]{36}\s+lister\s+viewer\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+valid$/);
    assert.match(rows.find((l) => / admin /.test(l))!, /\sadmin\s.*\snever\s/);
    const json = await sluice(admin, 'token', 'list', '--json');
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    const mine = listed.find((x) => x.name === 'lister')!;
    assert.equal(mine.expiresAt, clock.t + 90 * 86_400_000);
    assert.equal(mine.lastUsedAt, clock.t, 'its use was recorded');
    assert.ok(!json.stdout.includes(t) && !/hash/.test(json.stdout), 'no token and no hash is shown');
  });

  it('revokes by name or id: the token gets a 401 saying it was revoked, at once; its name is free again; the last admin token stays', async () => {
    const t = await created('leaver', 'deployer');
    assert.equal((await api(url, 'POST', '/api/v1/releases', {}, t)).status, 400, 'it works: the body is what is wrong');
    const r = await sluice(admin, 'token', 'revoke', 'leaver');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /token "leaver" \(deployer, [0-9a-f-]{36}\) revoked/);
    const refused = await api<{ code: string; message: string; details: unknown }>(url, 'POST', '/api/v1/releases', { version: '1.0.0' }, t);
    assert.equal(refused.status, 401);
    assert.match(refused.json.message, /^the token "leaver" was revoked at \d{4}-\d\d-\d\dT.*; ask an admin for a new one$/);
    assert.deepEqual(refused.json.details, { reason: 'revoked', token: 'leaver' });
    const twice = await sluice(admin, 'token', 'revoke', 'leaver');
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already revoked at/);
    const second = await created('leaver', 'approver');
    const id = (await list()).find((x) => x.name === 'leaver' && x.status === 'valid')!.id;
    assert.equal((await sluice(admin, 'token', 'revoke', id)).code, 0);
    assert.equal((await api(url, 'POST', '/api/v1/releases/1.0.0/approve', {}, second)).status, 401);
    assert.equal((await sluice(admin, 'token', 'revoke', 'nobody')).code, 1);
    const last = await sluice(admin, 'token', 'revoke', 'admin');
    assert.equal(last.code, 1);
    assert.match(last.stderr, /the token "admin" is the last admin token that works; create another admin token first/);
    assert.equal((await api(url, 'GET', '/api/v1/tokens', undefined, admin)).status, 200);
    assert.equal((await api(url, 'POST', '/api/v1/releases', {}, t)).status, 401, 'creating a new "leaver" did not bring the old one back');
  });

  it('expires a token at its time: a 401 saying it expired, and the list says so', async () => {
    const t = await created('short', 'approver', '--expires', '1h');
    const made = await sluice(admin, 'token', 'create', 'short2', '--role', 'viewer', '--expires', '30m');
    assert.match(made.stdout, /token "short2" \(viewer\) created; it expires at \d{4}-/);
    assert.equal((await api(url, 'POST', '/api/v1/releases/1.0.0/approve', {}, t)).status, 404, 'it works until then');
    clock.t += 3_600_000;
    const r = await api<{ code: string; message: string }>(url, 'POST', '/api/v1/releases/1.0.0/approve', {}, t);
    assert.equal(r.status, 401);
    assert.match(r.json.message, /^the token "short" expired at \d{4}-\d\d-\d\dT[\d:.]+Z; ask an admin for a new one$/);
    assert.equal((await list()).find((x) => x.name === 'short')?.status, 'expired');
    for (const [bad, why] of [['soon', /invalid duration "soon"/], ['30s', /from 1m to 3650d/], ['4000d', /from 1m to 3650d/]] as const) {
      const x = await sluice(admin, 'token', 'create', `bad-${bad}`, '--role', 'viewer', '--expires', bad);
      assert.equal(x.code, 1, bad);
      assert.match(x.stderr, why);
    }
    assert.equal((await list()).filter((x) => x.name.startsWith('bad-')).length, 0);
  });
});

describe('token names made unique on upgrade', () => {
  it('keeps the oldest token its name, and gives later ones with that name their id added', async () => {
    const db = await openPglite('memory://');
    try {
      await migrate(db, loadMigrations().filter((m) => m.version <= 4));
      const add = (id: string, name: string, at: string) =>
        db.query(`INSERT INTO tokens (id, name, hash, created_at) VALUES ($1, $2, $3, $4)`, [id, name, `h-${id}`, new Date(at)]);
      await add('bbbbbbbb-2', 'ci', '2026-01-02');
      await add('aaaaaaaa-1', 'ci', '2026-01-01');
      await add('cccccccc-3', 'ci', '2026-01-03');
      await add('dddddddd-4', 'other', '2026-01-01');
      const store = await SqlStore.open(db);
      assert.deepEqual((await store.listTokens()).map((t) => [t.id, t.name, t.role]), [
        ['aaaaaaaa-1', 'ci', 'admin'],
        ['dddddddd-4', 'other', 'admin'],
        ['bbbbbbbb-2', 'ci-bbbbbbbb', 'admin'],
        ['cccccccc-3', 'ci-cccccccc', 'admin'],
      ]);
      assert.equal(await store.createToken({ id: 'e', name: 'ci', role: 'viewer', hash: 'h-e', createdAt: 1 }), 'name-taken');
    } finally {
      await db.close();
    }
  });
});
