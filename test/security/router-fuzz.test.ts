// Fuzzing the router's request parser over real loopback sockets (fast-check): request heads built from a model of
// HTTP/1.1 and then mutated (bytes changed, inserted and deleted, header lines repeated, huge values, control
// characters), sent in pieces split at random points. Each is answered with a status line, or the connection is
// closed; never a crash, never a hang; and a normal client on another connection is served after every case.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Router } from '../../src/adapters/proxy-http1/router.js';
import { type BackendProcess, send, startBackend } from '../helpers/backends.js';

const HOST = 'fuzz.shop.localhost';

/** Sends `parts` on one connection, then half-closes; resolves with what came back and whether the router closed in time. */
async function exchange(port: number, parts: readonly Buffer[]): Promise<{ text: string; closed: boolean }> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  sock.on('error', () => {});
  sock.once('close', () => (closed = true));
  await new Promise((r) => sock.once('connect', r));
  for (const p of parts) {
    if (closed) break;
    await new Promise<void>((r) => sock.write(p, () => r()));
  }
  if (!closed) sock.end();
  for (const until = Date.now() + 5_000; !closed && Date.now() < until; ) await sleep(5);
  sock.destroy();
  return { text, closed };
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const headerValue = fc.oneof(
  fc.stringMatching(/^[ -~]{0,40}$/),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('0', '5', '-1', '99999999999999999999', 'chunked', 'gzip, chunked', ' 5', '5, 5', '\t', ''),
  fc.nat({ max: 20_000 }).map((n) => 'x'.repeat(n)),
);
const headerName = fc.oneof(token, fc.constantFrom('Host', 'host', 'HOST', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Expect', 'Upgrade'));
const target = fc.oneof(
  fc.constantFrom('/', '/status?code=200', '*', `http://${HOST}/`, `http://${HOST}:1/x`, 'https://a@b/', 'http://[::1/', '//x', '/%00', '/\u00ff'),
  fc.stringMatching(/^\/[!-~]{0,60}$/),
);
const request = fc
  .record({
    method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'OPTIONS', 'CONNECT', 'TRACE'), token),
    target,
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1'),
    host: fc.option(fc.constantFrom(HOST, `${HOST}:80`, 'other.localhost', ''), { nil: undefined }),
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
    eol: fc.constantFrom('\r\n', '\n', '\r'),
    leadingBlankLines: fc.nat({ max: 3 }),
    body: fc.string({ unit: 'binary', maxLength: 64 }),
  })
  .map((r) => {
    const lines = [`${r.method} ${r.target} ${r.version}`, ...(r.host !== undefined ? [`Host: ${r.host}`] : []), ...r.headers.map(([n, v]) => `${n}: ${v}`)];
    return Buffer.from(`${'\r\n'.repeat(r.leadingBlankLines)}${lines.join(r.eol)}${r.eol}${r.eol}${r.body}`, 'latin1');
  });
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);
type Mutation = { kind: 'flip'; at: number; byte: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'delete'; at: number; count: number };
function mutate(buf: Buffer, ms: readonly Mutation[]): Buffer {
  let b = buf;
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip' && b.length > 0) {
      b = Buffer.from(b);
      b[at] = m.byte;
    } else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
  }
  return b;
}
/** Splits a buffer at the given cut points (positions modulo its length). */
function split(b: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (b.length === 0 ? 0 : c % b.length)))].sort((x, y) => x - y);
  const parts: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    if (c > from) parts.push(b.subarray(from, c));
    from = Math.max(from, c);
  }
  parts.push(b.subarray(from));
  return parts.filter((p) => p.length > 0);
}

describe("fuzzing the router's request parser over real sockets", { timeout: 300_000 }, () => {
  const router = new Router({ maxHeadBytes: 16 * 1024 });
  let port: number;
  let backend: BackendProcess;
  before(async () => {
    port = await router.listen(0);
    backend = await startBackend('f1');
    router.setRoute(HOST, { stage: 'fuzz', stable: { version: 'f1', backends: [{ id: 'f1', port: backend.port }] } });
  });
  after(async () => {
    await router.close();
    await backend.stop();
  });

  it('answers every mutated request with a status line or closes it, and keeps serving a normal client', async () => {
    let answered = 0;
    let closedSilently = 0;
    await fc.assert(
      fc.asyncProperty(request, fc.array(mutation, { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }), async (req, ms, cuts) => {
        const bytes = mutate(req, ms);
        const r = await exchange(port, split(bytes, cuts));
        assert.ok(r.closed, `the router neither answered nor closed within 5 s: ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`);
        if (r.text === '') closedSilently++;
        else {
          assert.match(r.text, /^HTTP\/1\.1 [1-5]\d\d /, `not a status line: ${JSON.stringify(r.text.slice(0, 120))}`);
          answered++;
        }
        const ok = await send(port, { host: HOST, path: '/status?code=200' });
        assert.equal(ok.status, 200, 'a normal client on another connection is still served');
      }),
      { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? 20261201) },
    );
    assert.ok(answered > 0, 'some mutated requests were answered');
    assert.ok(answered + closedSilently >= 150);
  });
});
