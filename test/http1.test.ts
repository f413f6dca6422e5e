import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BodyKind, BodyScanner, HttpError, parseHead, requestBody, responseBody } from '../src/adapters/proxy-http1/http1.js';

const req = (lines: string[]) => parseHead(lines.join('\r\n'), 'request');
const refused = (lines: string[], status: number, what: RegExp) =>
  assert.throws(() => req(lines), (e: unknown) => e instanceof HttpError && e.status === status && what.test(e.message));

describe('HTTP/1.1 heads', () => {
  it('reads a request line, headers as sent, Connection tokens and the body length', () => {
    const h = req(['POST /a?b=1 HTTP/1.1', 'Host: shop.localhost', 'X-Ok:  spaced  ', 'Connection: keep-alive, X-Secret', 'Content-Length: 12']);
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.minor, 1);
    assert.deepEqual(h.headers, ['Host', 'shop.localhost', 'X-Ok', 'spaced', 'Connection', 'keep-alive, X-Secret', 'Content-Length', '12']);
    assert.deepEqual(h.connection, ['keep-alive', 'x-secret']);
    assert.equal(h.contentLength, 12);
    assert.deepEqual(requestBody(h), { kind: 'length', n: 12 });
    assert.deepEqual(requestBody(req(['GET / HTTP/1.0'])), { kind: 'none' });
    assert.equal(req(['GET / HTTP/1.0']).minor, 0);
  });

  it('accepts chunked requests; a response may repeat an identical Content-Length, a request may not', () => {
    assert.deepEqual(requestBody(req(['PUT / HTTP/1.1', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'])), { kind: 'chunked' });
    assert.equal(parseHead(['HTTP/1.1 200 OK', 'Content-Length: 5', 'content-length: 5, 5'].join('\r\n'), 'response').contentLength, 5);
    refused(['PUT / HTTP/1.1', 'Content-Length: 5', 'content-length: 5'], 400, /more than one Content-Length/);
    refused(['PUT / HTTP/1.1', 'Content-Length: 5, 5'], 400, /more than one Content-Length/);
  });

  it('refuses what could make a proxy and a server disagree about where a message ends', () => {
    refused(['POST / HTTP/1.1', 'Content-Length: 5', 'Transfer-Encoding: chunked'], 400, /both Content-Length and Transfer-Encoding/);
    refused(['POST / HTTP/1.1', 'Content-Length: 5', 'Content-Length: 6'], 400, /more than one Content-Length/);
    refused(['GET / HTTP/1.1', 'Host: a.localhost', 'host: b.localhost'], 400, /more than one Host/);
    refused(['GET / HTTP/1.1', 'Host: a.localhost', 'HOST: a.localhost'], 400, /more than one Host/);
    refused(['POST / HTTP/1.1', 'Content-Length: -1'], 400, /Content-Length/);
    refused(['POST / HTTP/1.1', 'Content-Length: 0x10'], 400, /Content-Length/);
    refused(['POST / HTTP/1.1', 'Transfer-Encoding: gzip'], 501, /other than chunked/);
    refused(['POST / HTTP/1.1', 'Transfer-Encoding: chunked, gzip'], 400, /last transfer coding/);
    refused(['POST / HTTP/1.1', 'Transfer-Encoding: chunked, chunked'], 400, /only once/);
    refused(['POST / HTTP/1.0', 'Transfer-Encoding: chunked'], 400, /HTTP\/1\.0/);
    refused(['GET / HTTP/1.1', 'X-A: 1', ' folded'], 400, /folding/);
    refused(['GET / HTTP/1.1', 'X-A : 1'], 400, /invalid header name/);
    refused(['GET / HTTP/1.1', 'X-A: 1\nX-B: 2'], 400, /invalid character/);
    refused(['GET / HTTP/1.1', 'X-A: a\rb'], 400, /invalid character/);
    refused(['GET / HTTP/1.1', 'no colon'], 400, /without a name/);
    refused(['GET / HTTP/1.1', ': empty'], 400, /without a name/);
  });

  it('refuses malformed request lines, and says so for other HTTP versions', () => {
    refused(['GET /'], 400, /malformed request line/);
    refused(['GET  / HTTP/1.1'], 400, /malformed request line/);
    refused(['G(T / HTTP/1.1'], 400, /malformed request line/);
    refused(['GET / HTTP/2.0'], 505, /version not supported/);
    refused(['GET / http/1.1'], 400, /malformed/);
    refused([''], 400, /malformed/);
  });

  it('frames responses as RFC 9112 says: no body for HEAD, 1xx, 204, 304; chunked; length; or until close', () => {
    const res = (lines: string[]) => parseHead(lines.join('\r\n'), 'response');
    const ok = res(['HTTP/1.1 200 OK', 'Content-Length: 3']);
    assert.equal(ok.status, 200);
    assert.equal(ok.reason, 'OK');
    assert.deepEqual(responseBody(ok, 'GET'), { kind: 'length', n: 3 });
    assert.deepEqual(responseBody(ok, 'HEAD'), { kind: 'none' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 204 No Content']), 'GET'), { kind: 'none' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 304 Not Modified', 'Content-Length: 10']), 'GET'), { kind: 'none' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 100 Continue']), 'POST'), { kind: 'none' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Content-Length: 3']), 'GET'), { kind: 'chunked' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 200 OK', 'Transfer-Encoding: gzip']), 'GET'), { kind: 'close' });
    assert.deepEqual(responseBody(res(['HTTP/1.0 200 OK']), 'GET'), { kind: 'close' });
    assert.deepEqual(responseBody(res(['HTTP/1.1 200 OK', 'Content-Length: 0']), 'GET'), { kind: 'none' });
    assert.equal(res(['HTTP/1.1 404 ']).reason, '');
    assert.equal(res(['HTTP/1.1 404']).reason, '');
    assert.throws(() => res(['HTTP/1.1 99 Low']), (e: unknown) => e instanceof HttpError && e.status === 502);
    assert.throws(() => res(['HTTP/1.1 200 OK', 'Content-Length: 1', 'Content-Length: 2']), (e: unknown) => e instanceof HttpError && e.status === 502);
  });
});

/** Feeds `wire` to a scanner in pieces cut at `cuts`, returns [bytes taken, data seen, done]. */
function scan(wire: Buffer, cuts: number[], kind: BodyKind) {
  const s = new BodyScanner(kind, 'response');
  const data: Buffer[] = [];
  let taken = 0;
  let from = 0;
  for (const to of [...cuts, wire.length]) {
    const piece = wire.subarray(from, to);
    from = to;
    if (s.done) continue;
    taken += s.feed(piece, 0, (b) => data.push(Buffer.from(b)));
  }
  return { taken, data: Buffer.concat(data).toString(), done: s.done };
}

describe('body scanner', () => {
  const chunked = Buffer.from('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /next HTTP/1.1\r\n\r\n');
  const bodyEnd = chunked.indexOf('GET /next');

  it('finds the end of a chunked body wherever the bytes are cut, and hands out just the data', () => {
    for (let a = 0; a <= chunked.length; a++)
      for (let b = a; b <= chunked.length; b += 7) {
        const r = scan(chunked, [a, b], { kind: 'chunked' });
        assert.equal(r.taken, bodyEnd, `cut at ${a},${b}`);
        assert.equal(r.data, 'hello world');
        assert.ok(r.done);
      }
  });

  it('counts a length body and stops at its end', () => {
    const wire = Buffer.from('abcdefNEXT');
    const r = scan(wire, [2, 3], { kind: 'length', n: 6 });
    assert.equal(r.taken, 6);
    assert.ok(r.done);
    assert.ok(new BodyScanner({ kind: 'none' }, 'request').done);
    const close = new BodyScanner({ kind: 'close' }, 'response');
    assert.equal(close.feed(wire), wire.length);
    assert.ok(!close.done && close.untilClose);
  });

  it('refuses broken chunk framing', () => {
    for (const bad of ['x\r\n', '\r\n', '5\r\nhelloXX', '5\nhello\r\n', '1000000000000\r\n', '0\r\nbad\ntrailer\r\n\r\n', '3;\nabc']) {
      const s = new BodyScanner({ kind: 'chunked' }, 'request');
      assert.throws(() => s.feed(Buffer.from(bad)), (e: unknown) => e instanceof HttpError && e.status === 400, JSON.stringify(bad));
    }
  });

  it('never throws anything but HttpError on random bytes, and never takes more than it was given', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = '0123456789abcdefABCDEF;= \t\r\n\r\nxyz:';
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      const s = new BodyScanner({ kind: 'chunked' }, 'request');
      try {
        const n = s.feed(Buffer.from(text));
        assert.ok(n >= 0 && n <= text.length);
      } catch (e) {
        assert.ok(e instanceof HttpError, String(e));
      }
      try {
        parseHead(text, i % 2 ? 'request' : 'response');
      } catch (e) {
        assert.ok(e instanceof HttpError, String(e));
      }
    }
  });
});
