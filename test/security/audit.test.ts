import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { openPglite } from '../../src/adapters/store-sql/pglite-driver.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { api as routes } from '../../src/interfaces/http/contract/index.js';
import type { RouteDef } from '../../src/interfaces/http/contract/route.js';
import { Registrar } from '../../src/interfaces/http/registrar.js';
import type { StoredEvent } from '../../src/journeys/journey-events.js';
import { api, cli, journeyEnd, startUp, type UpProcess } from '../helpers/sluice-process.js';

// A pipeline of command stages (nothing to start, so quick): prod waits for an approval; staging's verification fails
// for 2.0.0, which Sluice then rolls back by itself.
const PIPELINE = `app: audited
artifact:
  build: mkdir -p out && echo "$SLUICE_RELEASE_VERSION" > out/VERSION
  output: out
stages:
  staging:
    target: command
    command: { deploy: "true", rollback: "true" }
    verify:
      check: test "$SLUICE_RELEASE_VERSION" != 2.0.0
  prod:
    after: staging
    target: command
    command: { deploy: "true" }
    approval: true
`;

describe('audit declarations', () => {
  const all = Object.values(routes).flatMap((group) => Object.values(group) as RouteDef[]);

  it('every POST route says what it records, or why it records nothing; an audited route needs a token', () => {
    const posts = all.filter((d) => d.method === 'POST');
    assert.ok(posts.length >= 10);
    for (const d of posts) assert.ok(d.audit && ('none' in d.audit ? d.audit.none.length > 0 : d.audit.action.length > 0), `POST ${d.path}`);
    // A login's caller is the token its body carries; a session's, the token the session acts as.
    for (const d of all) if (d.audit && !('none' in d.audit)) assert.ok(['token', 'login', 'session'].includes(d.auth), `${d.method} ${d.path}`);
  });

  it('the registrar refuses a POST route that declares no audit', () => {
    const a = async () => ({ actor: 'a', token: { kind: 'token' as const, id: 'a', name: 'a', role: 'admin' as const }, session: { id: 's', csrf: 'c', expiresAt: 0 } });
    const r = new Registrar(Fastify(), { request: a, session: a, presented: a, csrfMatches: () => true }, async () => {});
    const def: RouteDef = { method: 'POST', path: '/api/v1/things', summary: 'x', tag: 'x', auth: 'token' };
    assert.throws(() => r.route(def, async () => {}), /POST \/api\/v1\/things declares no audit/);
    assert.throws(() => r.route({ ...def, auth: 'none', audit: { action: 'thing.make' } }, async () => {}), /audited but needs no token/);
    r.route({ ...def, audit: { none: 'it makes nothing' } }, async () => {});
    assert.deepEqual(r.defs.map((d) => d.path), ['/api/v1/things']);
  });
});

describe('audit: every mutation is a hash-chained record, and tampering with the database is found', { timeout: 240_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
  const app = join(root, 'app');
  const data = join(root, 'data');
  let up: UpProcess | undefined;
  let admin: string;
  let alice: string;
  const run = (...args: string[]) => cli([...args, '--dir', app, '--data-dir', data], { SLUICE_URL: up!.apiUrl });
  const list = async (query = '') => (await api<AuditRecord[]>(up!.apiUrl, 'GET', `/api/v1/audit${query}`, undefined, admin)).json;

  before(async () => {
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, data);
    admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    const a = await api<{ token: string }>(up.apiUrl, 'POST', '/api/v1/tokens', { name: 'alice', role: 'approver' }, admin);
    assert.equal(a.status, 201);
    alice = a.json.token;
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, admin)).status, 201);
    for (let i = 0; ; i++) {
      const r = await api<{ journey: { stages: Record<string, string> } }>(up.apiUrl, 'GET', '/api/v1/releases/1.0.0');
      if (r.json.journey.stages.prod === 'awaiting-approval') break;
      assert.ok(i < 600, `prod never waited for approval: ${JSON.stringify(r.json)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const approved = await api(up.apiUrl, 'POST', '/api/v1/releases/1.0.0/approve', { stage: 'prod', comment: 'change 42 reviewed' }, alice);
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0'), 'succeeded');
    // Refused: prod waits for nothing any more.
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases/1.0.0/approve', { stage: 'prod' }, alice)).status, 409);
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '2.0.0' }, admin)).status, 201);
    assert.equal(await journeyEnd(up.apiUrl, '2.0.0'), 'failed');
  });

  after(async () => {
    await up?.down();
    rmSync(root, { recursive: true, force: true });
  });

  it('records each mutation with its actor, reason and links: a person\'s with their token, Sluice\'s with its reason', async () => {
    const records = await list();
    const shown = records.map((r) => [r.action, r.outcome, r.actor.kind === 'token' ? r.actor.name : 'sluice', r.links.release ?? r.links.token, r.links.stage ?? '-']);
    assert.deepEqual(shown, [
      ['token.create', 'done', 'sluice', 'admin', '-'],
      ['token.create', 'done', 'admin', 'alice', '-'],
      ['release.create', 'done', 'admin', '1.0.0', '-'],
      ['stage.deploy', 'done', 'sluice', '1.0.0', 'staging'],
      ['stage.deploy', 'done', 'sluice', '1.0.0', 'prod'],
      ['stage.approve', 'done', 'alice', '1.0.0', 'prod'],
      ['stage.approve', 'refused', 'alice', '1.0.0', 'prod'],
      ['release.create', 'done', 'admin', '2.0.0', '-'],
      ['stage.deploy', 'done', 'sluice', '2.0.0', 'staging'],
      ['stage.rollback', 'done', 'sluice', '2.0.0', 'staging'],
    ]);
    const approve = records[5]!;
    assert.equal(approve.reason, 'change 42 reviewed');
    assert.ok(approve.links.journey, 'linked to the journey');
    assert.match(records[6]!.reason + JSON.stringify(records[6]!.detail), /INVALID_STATE/);
    assert.match(records[9]!.reason, /back to 1\.0\.0: .*check/);
    assert.match(records[0]!.actor.kind === 'system' ? records[0]!.actor.reason : '', /first start/);
    assert.deepEqual((await list('?actor=alice&action=stage.approve')).map((r) => r.seq), [6, 7]);
    assert.deepEqual((await list('?release=2.0.0&actor=sluice')).map((r) => r.action), ['stage.deploy', 'stage.rollback']);
    assert.deepEqual((await list('?stage=prod&limit=1')).map((r) => r.seq), [7]);
    assert.deepEqual((await list(`?since=${records[9]!.at}`)).at(-1)?.seq, 10);
    assert.deepEqual(await list(`?since=${records[9]!.at + 1}`), []);
    assert.equal((await api(up!.apiUrl, 'GET', '/api/v1/audit?limit=1001', undefined, admin)).status, 400, 'a limit past 1000 is refused');
    assert.equal((await api(up!.apiUrl, 'GET', '/api/v1/audit')).status, 401, 'the trail is for token holders');
    const text = await run('audit', 'list', '--release', '1.0.0', '--stage', 'prod', '--actor', 'alice', '--action', 'stage.approve', '--since', '1h', '--limit', '1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^\s+7 \S+ \S+ stage\.approve refused release=1\.0\.0 stage=prod by alice\n$/);
  });

  it('names who caused every event, in the API and in sluice events', async () => {
    const events = (await api<StoredEvent[]>(up!.apiUrl, 'GET', '/api/v1/releases/1.0.0/events')).json;
    assert.ok(events.every((e) => e.actor && (e.actor.kind === 'token' || e.actor.reason.length > 0)), 'every event has an actor');
    const approved = events.find((e) => e.type === 'stage.approved')!;
    assert.deepEqual({ ...approved.actor, id: '' }, { kind: 'token', id: '', name: 'alice', role: 'approver' });
    assert.deepEqual(events[0]!.actor.kind === 'token' && events[0]!.actor.name, 'admin', 'the release\'s creator');
    const finished = events.find((e) => e.type === 'step.finished')!;
    assert.match(finished.actor.kind === 'system' ? finished.actor.reason : '', /step .* ended/);
    const out = await run('events', '1.0.0');
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /prod approved by alice: change 42 reviewed · alice/);
    assert.match(out.stdout, /· sluice \(/);
  });

  it('declares the audit of every POST route the server registered; the judge says why it has none', async () => {
    const doc = (await api<{ paths: Record<string, Record<string, { 'x-sluice-audit'?: { action?: string; none?: string } }>> }>(up!.apiUrl, 'GET', '/api/openapi.json')).json;
    const posts = Object.entries(doc.paths).flatMap(([path, ops]) => (ops.post ? [[path, ops.post['x-sluice-audit']] as const] : []));
    assert.ok(posts.length >= 10);
    for (const [path, audit] of posts) assert.ok(audit && (audit.action || audit.none), `POST ${path} declares its audit`);
    assert.match(posts.find(([p]) => p === '/api/v1/judge')![1]!.none!, /stores nothing/);
  });

  it('verifies the chain: ok with count and head; an export verifies offline, and a changed line in it is named', async () => {
    const ok = await run('audit', 'verify');
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /10 records, whole; head #10 [0-9a-f]{16}/);
    const file = join(root, 'trail.jsonl');
    const exported = await run('audit', 'export', '--out', file);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 11);
    assert.deepEqual(JSON.parse(lines[10]!).head.seq, 10);
    const offline = await cli(['audit', 'verify', file]);
    assert.equal(offline.code, 0, offline.stderr + offline.stdout);
    writeFileSync(file, lines.map((l, i) => (i === 5 ? l.replace('change 42 reviewed', 'nothing to see') : l)).join('\n'));
    const caught = await cli(['audit', 'verify', file]);
    assert.equal(caught.code, 1);
    assert.match(caught.stdout, /record 6 is bad \(edited\)/);
  });

  describe('rows changed in the database, with the server stopped', () => {
    // Each case changes the database further, from the end of the chain towards its start, so that the new change is
    // the first bad record each time; Sluice is started on the changed database and `sluice audit verify` asked.
    const tampered = async (change: string) => {
      await up!.stop();
      const db = await openPglite(join(data, 'pg'));
      await db.exec(change);
      await db.close();
      up = await startUp(app, data);
      return run('audit', 'verify');
    };

    it('the last records deleted (the head remembers them)', async () => {
      const v = await tampered(`DELETE FROM audit_records WHERE seq >= 9`);
      assert.equal(v.code, 1, v.stdout);
      assert.match(v.stdout, /record 9 is bad \(missing\): records 9 to 10 are missing/);
    });

    it('records reordered', async () => {
      const v = await tampered(`UPDATE audit_records SET seq = -1 WHERE seq = 7; UPDATE audit_records SET seq = 7 WHERE seq = 8; UPDATE audit_records SET seq = 8 WHERE seq = -1`);
      assert.equal(v.code, 1, v.stdout);
      assert.match(v.stdout, /record 7 is bad \(out-of-order\): record 7 was written after the record now numbered 8, not after record 6/);
    });

    it('an edited record', async () => {
      const v = await tampered(`UPDATE audit_records SET reason = 'nothing to see' WHERE seq = 6`);
      assert.equal(v.code, 1, v.stdout);
      assert.match(v.stdout, /record 6 is bad \(edited\): record 6 \(stage\.approve\) was changed after it was written/);
    });

    it('a deleted record', async () => {
      const v = await tampered(`DELETE FROM audit_records WHERE seq = 4`);
      assert.equal(v.code, 1, v.stdout);
      assert.match(v.stdout, /record 4 is bad \(missing\): record 4 is missing/);
    });
  });
});
