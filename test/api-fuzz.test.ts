import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api as contract } from '../src/interfaces/http/contract/index.js';
import type { RunningSluice } from '../src/main/single-node.js';
import { api, cli, copyExample, REPO, startInProcess } from './helpers/sluice-process.js';

// Random and hostile request bodies: every one gets a clear 4xx JSON error, and nothing changes.
describe('API bodies under fuzzing', { timeout: 120_000 }, () => {
  let app: string;
  let s: RunningSluice;
  let down: () => Promise<void>;
  let token: string;
  before(async () => {
    app = copyExample();
    ({ sluice: s, token, down } = await startInProcess(app));
  });
  after(async () => {
    await down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const junk = (depth = 0): unknown => {
    const kinds = depth > 2 ? 5 : 7;
    switch (Math.floor(rand() * kinds)) {
      case 0:
        return null;
      case 1:
        return rand() * 1e6 - 5e5;
      case 2:
        return rand() < 0.5;
      case 3:
        return pick([
          '',
          ' ',
          '../../etc/passwd',
          'a'.repeat(5000),
          '💥',
          '1.0.0; rm -rf /',
          '\u0000',
          'staging',
          'prod',
        ]);
      case 4:
        return pick(['1.0.0', 'x', '-bad', 'v 1', '']);
      case 5:
        return Array.from({ length: Math.floor(rand() * 4) }, () => junk(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: 1 + Math.floor(rand() * 4) }, () => [
            pick(['version', 'stage', 'comment', 'reason', 'name', 'artifact', 'x', '__proto__', 'constructor']),
            junk(depth + 1),
          ]),
        );
    }
  };
  const ROUTES = [
    '/api/v1/releases',
    '/api/v1/releases/1.0.0/promote',
    '/api/v1/releases/1.0.0/approve',
    '/api/v1/releases/1.0.0/reject',
    '/api/v1/stages/prod/rollback',
    '/api/v1/stages/..%2F..%2Fetc/rollback',
    '/api/v1/releases/%00/approve',
    '/api/v1/tokens',
    '/api/v1/judge',
    '/api/v1/flags',
    '/api/v1/flags/no-such-flag/update',
    '/api/v1/flags/no-such-flag/remove',
    '/api/v1/stages/prod/flags/no-such-flag',
    '/api/v1/stages/prod/flag-segments/no-such-segment',
    '/api/v1/flags/copy',
    '/api/v1/flags/apply',
    '/api/v1/stages/prod/flags/import',
    '/api/v1/stages/prod/flag-keys',
    '/api/v1/stages/prod/flag-keys/00000000-0000-4000-8000-000000000000/revoke',
  ];
  /** A body that cannot be valid: not an object, or an object with a field no route accepts. */
  const invalidBody = (): unknown => {
    const b = junk();
    if (typeof b === 'object' && b !== null && !Array.isArray(b))
      return { ...b, [pick(['bogus', 'versoin', 'stgae'])]: junk(2) };
    return b;
  };

  it('answers every bad body with 4xx { code, message } and changes nothing', async () => {
    const eventsBefore = (await api<unknown[]>(s.apiUrl, 'GET', '/api/v1/releases')).json.length;
    const tokensDir = readdirSync(join(app, '.sluice'));
    for (let n = 0; n < 400; n++) {
      const path = pick(ROUTES);
      const raw =
        rand() < 0.1 ? pick(['{', '{"version":', 'null', '[]', '"x"', '{"a":1}}', '']) : JSON.stringify(invalidBody());
      const res = await fetch(s.apiUrl + path, {
        method: 'POST',
        headers: {
          'content-type': rand() < 0.05 ? 'text/plain' : 'application/json',
          authorization: `Bearer ${token}`,
        },
        body: raw,
      });
      const text = await res.text();
      assert.ok(
        res.status >= 400 && res.status < 500,
        `${path} ${raw.slice(0, 200)} → ${res.status} ${text.slice(0, 300)}`,
      );
      const body = JSON.parse(text) as { code: string; message: string };
      assert.equal(typeof body.code, 'string', text);
      assert.ok(body.message.length > 0, text);
    }
    assert.equal((await api<unknown[]>(s.apiUrl, 'GET', '/api/v1/releases')).json.length, eventsBefore);
    assert.deepEqual(readdirSync(join(app, '.sluice')), tokensDir);
    assert.equal(s.executor.list().length, 0);
    assert.deepEqual((await s.flags.history({})).map((e) => e.actor.kind), (await s.flags.history({})).map(() => 'system'), 'only the flags file changed flags');
  });

  it('judges recorded series over the API exactly as `sluice judge` does offline', async () => {
    const file = join(REPO, 'examples', 'judge', 'latency-regression.json');
    const viaApi = await api<{ outcome: string; comparison: { score: number; metrics: { classification: string }[] } }>(
      s.apiUrl,
      'POST',
      '/api/v1/judge',
      JSON.parse(readFileSync(file, 'utf8')),
      token,
    );
    assert.equal(viaApi.status, 200);
    const cliRun = await cli(['judge', file, '--json']);
    assert.equal(cliRun.code, 1);
    assert.deepEqual(viaApi.json, JSON.parse(cliRun.stdout));
    assert.equal(viaApi.json.outcome, 'fail');
    assert.deepEqual(
      viaApi.json.comparison.metrics.map((m) => m.classification),
      ['High', 'Pass'],
    );
    const human = await cli(['judge', file]);
    assert.match(human.stdout, /p50-latency-ms\s+latency\s+High\s+1\.395\s+12\.40\s+\[11\.20, 13\.60\]/);
    // Judging changes nothing, so it needs no token; and nothing changed.
    const releases = s.executor.list().length;
    const anonymous = await api(s.apiUrl, 'POST', '/api/v1/judge', JSON.parse(readFileSync(file, 'utf8')));
    assert.equal(anonymous.status, 200);
    assert.deepEqual(anonymous.json, viaApi.json);
    assert.equal(s.executor.list().length, releases);
  });

  it('sluice judge locates bad files: JSON syntax by line and column, schema errors by path', async () => {
    const dir = join(app, '..');
    writeFileSync(join(dir, 'broken.json'), '{\n  "metrics": [\n    { "name": "x", }\n  ]\n}\n');
    const syntax = await cli(['judge', join(dir, 'broken.json')]);
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /broken\.json:3:\d+: not valid JSON/);
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ metrics: [{ name: 'x', canary: [1], baseline: ['a'], direktion: 'up' }] }));
    const schema = await cli(['judge', join(dir, 'wrong.json')]);
    assert.equal(schema.code, 1);
    assert.match(schema.stderr, /metrics\.0: unknown field\(s\): direktion/);
    assert.match(schema.stderr, /metrics\.0\.baseline\.0/);
  });

  it('documents every route the server registers, from the same descriptions the CLI calls', async () => {
    const doc = (await api<{ paths: Record<string, Record<string, { summary: string; tags: string[] }>> }>(s.apiUrl, 'GET', '/api/openapi.json')).json;
    const described = Object.values(contract).flatMap((ctx) => Object.values(ctx));
    assert.ok(described.length >= 25);
    for (const d of described) {
      const op = doc.paths[d.path.replace(/:(\w+)/g, '{$1}')]?.[d.method.toLowerCase()];
      assert.ok(op, `${d.method} ${d.path} is missing from the OpenAPI document`);
      assert.equal(op.summary, d.summary);
    }
    for (const verb of ['promote', 'approve', 'reject', 'abort', 'pause', 'resume', 'retry'])
      assert.ok(doc.paths[`/api/v1/releases/{version}/${verb}`]?.post, verb);
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    assert.equal(ops.length, described.length, 'no route the server answers is left out, and none is documented twice');
  });

  it('says which field is wrong', async () => {
    const r = await api<{ code: string; message: string; details: { issues: { path: string }[] } }>(
      s.apiUrl,
      'POST',
      '/api/v1/releases',
      { version: '1.0.0', versoin: 'x' },
      token,
    );
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'BAD_REQUEST');
    assert.match(r.json.message, /unknown field\(s\): versoin/);
    const v = await api<{ code: string; message: string }>(
      s.apiUrl,
      'POST',
      '/api/v1/releases',
      { version: '../x' },
      token,
    );
    assert.equal(v.status, 400);
    assert.match(v.json.message, /version "..\/x" is not valid/);
    const nf = await api<{ code: string }>(s.apiUrl, 'POST', '/api/v1/releases/9.9.9/approve', {}, token);
    assert.equal(nf.status, 404);
    assert.equal(nf.json.code, 'NOT_FOUND');
    for (const limit of ['0', '1001', '-1', '2.5', 'ten', '', '1e3', '99999'].map(encodeURIComponent)) {
      const l = await api<{ code: string; message: string }>(s.apiUrl, 'GET', `/api/v1/notifications?limit=${limit}`);
      assert.equal(l.status, 400, limit);
      assert.match(l.json.message, /^invalid request query: limit: a whole number from 1 to 1000, not "/);
    }
    assert.equal((await api(s.apiUrl, 'GET', '/api/v1/notifications?limit=1000')).status, 200);
  });
});
