import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { RunningSluice } from '../../src/main/single-node.js';
import { api, copyExample, journeyEnd, startInProcess } from '../helpers/sluice-process.js';

// Every route the server registered (read from its OpenAPI document, which is generated from the registrar, so a new
// route is fuzzed without a line here), with random and mutated path parameters, queries and bodies: each answer is a
// 4xx with the JSON error body or a success, never a 5xx, never a hang; and a refused request changes nothing.

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  params: string[];
  query: string[];
  /** The body's field names, to mutate bodies that look nearly right. */
  fields: string[];
  hasBody: boolean;
  stream: boolean;
}

interface OpenApiOperation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

function operations(doc: OpenApi): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase() as 'GET' | 'POST',
      path,
      params: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
      query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      fields: Object.keys(op.requestBody?.content['application/json']?.schema.properties ?? {}),
      hasBody: op.requestBody !== undefined,
      stream: Object.values(op.responses).some((r) => Object.keys(r.content ?? {}).some((c) => c !== 'application/json')),
    })),
  );
}

/** Strings an attacker or a careless client sends. Plain ones start with "-", which no version or stage may, so few requests build anything. */
const hostileString = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udc00', '\ud83d', '__proto__', 'constructor', 'toString', 'prod', 'staging', '../../etc/passwd', '/etc/passwd', '%00', '💥', '1.0.0; rm -rf /'),
  fc.string({ maxLength: 20 }).map((s) => `-${s}`),
  fc.string({ maxLength: 8 }).map((s) => `${s}\u0000`),
  fc.string({ maxLength: 8 }).map((s) => `${s}\ud800${s}`),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => 'x'.repeat(n)),
);

const leaf = fc.oneof(hostileString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));

/** JSON with prototype keys, wrong types and deep nesting. */
const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor', 'prototype', 'stage', 'version', 'name', 'artifact')), tie('v'), { maxKeys: 4 }),
  ),
})).v;

const deep = fc.integer({ min: 100, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

/** A body as text: nearly right (the route's fields with hostile values), any JSON, deep nesting, or not JSON at all. */
const bodyFor = (op: Operation): fc.Arbitrary<string> =>
  fc.oneof(
    op.fields.length ? fc.dictionary(fc.constantFrom(...op.fields), leaf, { minKeys: 1 }).map((b) => JSON.stringify(b)) : fc.constant('{}'),
    op.fields.length ? fc.tuple(fc.constantFrom(...op.fields), hostileJson).map(([k, v]) => `{"${k}":${JSON.stringify(v) ?? 'null'},"__proto__":{"x":1}}`) : fc.constant('[]'),
    hostileJson.map((b) => JSON.stringify(b) ?? 'null'),
    deep,
    fc.constantFrom('{', '{"version":', 'null', '"x"', '{"a":1}}', '', '\u0000', '{"stage":"\\ud800"}', '{"constructor":{"prototype":{"x":1}}}'),
  );

const request = (op: Operation) =>
  fc.record({
    params: fc.tuple(...op.params.map(() => hostileString)),
    query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...(op.query.length ? op.query : ['x'])), hostileString), hostileString), { maxLength: 3 }),
    body: op.hasBody ? bodyFor(op) : fc.constant(undefined),
    contentType: fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded'),
  });

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as the bytes a careless client would send. */
function encodeLoose(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
    if (pair) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff)
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    else out += encodeURIComponent(s[i]!);
  }
  return out;
}

describe('every API route under fuzzing (fast-check, from the registered route table)', { timeout: 600_000 }, () => {
  let app: string;
  let s: RunningSluice;
  let down: () => Promise<void>;
  let token: string;
  let ops: Operation[];
  before(async () => {
    app = copyExample();
    ({ sluice: s, token, down } = await startInProcess(app));
    // One release with a journey, so that routes about a release reach their checks, not only "no release".
    assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token)).status, 201);
    await journeyEnd(s.apiUrl, '1.0.0', 180_000);
    ops = operations((await api<OpenApi>(s.apiUrl, 'GET', '/api/openapi.json')).json);
  });
  after(async () => {
    await down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  /** What a refused request must leave as it was: releases, journeys (to their last event), every event, and tokens when a route lists them. */
  const state = async () => {
    const events = await fetch(`${s.apiUrl}/api/v1/events?after=0`);
    const reader = events.body!.getReader();
    let text = '';
    while (!text.includes(': connected')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    await reader.cancel();
    // A token's lastUsedAt is bookkeeping (each call with it may move it, once a minute), not state a request changes.
    const tokens = ops.some((o) => o.method === 'GET' && o.path === '/api/v1/tokens')
      ? (await api<{ lastUsedAt?: number }[]>(s.apiUrl, 'GET', '/api/v1/tokens', undefined, token)).json.map(({ lastUsedAt: _, ...t }) => t)
      : null;
    return {
      releases: (await api(s.apiUrl, 'GET', '/api/v1/releases')).json,
      journeys: s.executor.list().map((j) => [j.id, j.seq, j.status]),
      events: (text.match(/^id: \d+$/gm) ?? []).length,
      tokens,
      files: readFileSync(join(app, '.sluice', 'admin-token'), 'utf8'),
    };
  };

  it('finds every registered route in the table, streams included', () => {
    assert.ok(ops.length >= 25, `${ops.length} operations`);
    for (const p of ['/api/v1/judge', '/api/v1/releases', '/api/v1/tokens', '/api/v1/events', '/api/v1/releases/{version}/stages/{stage}/logs'])
      assert.ok(ops.some((o) => o.path === p), p);
  });

  it('answers every mutated request with a 4xx JSON error or a success, and a refused one changes nothing', async () => {
    for (const op of ops) {
      await fc.assert(
        fc.asyncProperty(request(op), async (r) => {
          let path = op.path;
          op.params.forEach((name, i) => {
            path = path.replace(`{${name}}`, encodeLoose(r.params[i] ?? ''));
          });
          const q = r.query.map(([k, v]) => `${encodeLoose(k)}=${encodeLoose(v)}`).join('&');
          const url = `${s.apiUrl}${path}${q ? `?${q}` : ''}`;
          const before = await state();
          const ctl = new AbortController();
          const hang = setTimeout(() => ctl.abort(), 30_000);
          let res: Response;
          try {
            res = await fetch(url, {
              method: op.method,
              signal: ctl.signal,
              headers: { authorization: `Bearer ${token}`, ...(r.body !== undefined ? { 'content-type': r.contentType } : {}) },
              ...(r.body !== undefined ? { body: r.body } : {}),
            });
          } finally {
            clearTimeout(hang);
          }
          const label = `${op.method} ${url.slice(0, 300)} ${String(r.body).slice(0, 300)} → ${res.status}`;
          const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
          // A stream that started is a success: take its head and go.
          const text = json ? await res.text() : (await res.body?.cancel(), '');
          assert.ok(res.status < 500, `${label} ${text.slice(0, 300)}`);
          if (res.status >= 400) {
            const body = JSON.parse(text) as { code?: unknown; message?: unknown };
            assert.equal(typeof body.code, 'string', `${label} ${text.slice(0, 300)}`);
            assert.ok(typeof body.message === 'string' && body.message.length > 0, label);
            assert.deepEqual(await state(), before, `${label}: a refused request changed something`);
          }
        }),
        { numRuns: op.hasBody ? 25 : 12, seed: 9, includeErrorInReport: true },
      );
    }
  });
});
