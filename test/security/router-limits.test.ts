// Limits in the router (issue 9, "Limits on every input": router). Real sockets on loopback against the router, and a
// real data plane process for the connection cap: empty lines before a request count against the head's limit; an
// absolute-form target replaces Host and goes upstream in origin form; a second Host or Content-Length, or
// Content-Length with Transfer-Encoding, is a 400; past the connection cap a new connection gets a 503 at once, and
// the router stays up, out of file descriptors included.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { controlSocketPath } from '../../src/adapters/proxy-http1/data-plane-process.js';
import { MAX_HEAD_BYTES } from '../../src/adapters/proxy-http1/http1.js';
import { Router } from '../../src/adapters/proxy-http1/router.js';
import { RouterClient } from '../../src/adapters/proxy-http1/router-client.js';
import { freePort } from '../../src/platform/net.js';
import { type BackendProcess, send, startBackend } from '../helpers/backends.js';

const HOST = 'edge.shop.localhost';
const ENTRY = fileURLToPath(new URL('../../src/main/data-plane.js', import.meta.url));

/** Writes `parts` one by one (awaiting each write); collects the answer until the router closes or `done` holds. */
async function exchange(
  port: number,
  parts: readonly (string | Buffer)[],
  done?: (text: string) => boolean,
  waitMs = 10_000,
): Promise<{ text: string; closed: boolean; written: number }> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  let written = 0;
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  sock.on('error', () => {});
  sock.once('close', () => (closed = true));
  await new Promise((r) => sock.once('connect', r));
  for (const p of parts) {
    if (closed) break;
    await new Promise<void>((r) => sock.write(p, () => r()));
    written += p.length;
  }
  for (const until = Date.now() + waitMs; !closed && !(done?.(text) ?? false) && Date.now() < until; ) await sleep(5);
  sock.destroy();
  return { text, closed, written };
}

const get = (host = HOST, path = '/status?code=200') => `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`;
const answered = (t: string) => /\r\n\r\n/.test(t) && (/content-length: 0\r\n/i.test(t) || /0\r\n\r\n$/.test(t) || /\r\n\r\n[^]*[^\r\n]$/.test(t));

describe('router limits', { timeout: 120_000 }, () => {
  const router = new Router({ maxHeadBytes: 4096 });
  let port: number;
  let backend: BackendProcess;
  before(async () => {
    port = await router.listen(0);
    backend = await startBackend('e1');
    router.setRoute(HOST, { stage: 'edge', stable: { version: 'e1', backends: [{ id: 'e1', port: backend.port }] } });
  });
  after(async () => {
    await router.close();
    await backend.stop();
  });

  describe('empty lines before a request count against the head limit', () => {
    it('a connection sending only empty lines is answered 431 and closed once past the limit', async () => {
      const lines = Array.from({ length: 4000 }, () => '\r\n');
      const r = await exchange(port, lines);
      assert.match(r.text, /^HTTP\/1\.1 431 .*more than 4096 bytes, empty lines before the request included/s);
      assert.ok(r.closed, 'closed');
      assert.ok(r.written <= 4096 + 64 * 1024, `it read on for ${r.written} bytes`);
    });

    it('a client that never reads and goes on sending empty lines is cut off, not read for ever', async () => {
      const sock = connect(port, '127.0.0.1');
      sock.on('error', () => {});
      let closed = false;
      sock.once('close', () => (closed = true));
      await new Promise((r) => sock.once('connect', r));
      sock.pause(); // it never reads the 431
      const lines = Buffer.alloc(1024, '\r\n');
      let written = 0;
      while (!closed && written < 20 * 1024 * 1024) {
        written += lines.length;
        if (!sock.write(lines)) await Promise.race([new Promise((r) => sock.once('drain', r)), new Promise((r) => sock.once('close', r))]);
      }
      sock.destroy();
      assert.ok(closed, 'cut off');
      // The limit, the kernel's socket buffers, and a head's worth after the answer: well under 20 MB.
      assert.ok(written < 8 * 1024 * 1024, `${written} bytes written before it was cut off`);
      assert.equal((await send(port, { host: HOST, path: '/status?code=200' })).body, 'e1');
    });

    it('the default limit is the head limit, 16 KiB', async () => {
      const strict = new Router();
      const p = await strict.listen(0);
      try {
        const r = await exchange(p, [Buffer.alloc(MAX_HEAD_BYTES, '\r\n'), '\r\n\r\n']);
        assert.match(r.text, /^HTTP\/1\.1 431 .*more than 16384 bytes/s);
        assert.ok(r.closed);
      } finally {
        await strict.close();
      }
    });

    it('a few empty lines before a request, and a head arriving a byte at a time, are served', async () => {
      const some = await exchange(port, ['\r\n'.repeat(50), get()], answered);
      assert.match(some.text, /^HTTP\/1\.1 200 /);
      // Empty lines and the head together still count: 2000 empty lines plus a head are over 4096 bytes.
      const over = await exchange(port, ['\r\n'.repeat(2000), `GET / HTTP/1.1\r\nhost: ${HOST}\r\nx-pad: ${'a'.repeat(200)}\r\n\r\n`]);
      assert.match(over.text, /^HTTP\/1\.1 431 /);
      const bytes = [...`\r\n\r\n${get()}`].map((c) => c);
      const drip = await exchange(port, bytes, answered);
      assert.match(drip.text, /^HTTP\/1\.1 200 /, 'the end of the head is found across writes');
      assert.match(drip.text, /e1/);
    });

    it('while one connection sends empty lines, another keeps being served', async () => {
      const flood = exchange(port, Array.from({ length: 3000 }, () => '\r\n'));
      let served = 0;
      for (let i = 0; i < 20; i++) if ((await send(port, { host: HOST, path: '/status?code=200' })).body === 'e1') served++;
      const r = await flood;
      assert.equal(served, 20);
      assert.match(r.text, /^HTTP\/1\.1 431 /);
    });
  });

  describe('absolute-form targets and duplicate headers', () => {
    it('an absolute-form target replaces Host, and the instance gets the origin form', async () => {
      const r = await exchange(port, [`GET http://${HOST}:7080/echo/path?q=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n`], (t) => t.includes('"sha256"'));
      assert.match(r.text, /^HTTP\/1\.1 200 /);
      const seen = JSON.parse(r.text.slice(r.text.indexOf('{'), r.text.lastIndexOf('}') + 1)) as { url: string; headers: Record<string, string> };
      assert.equal(seen.url, '/echo/path?q=1');
      assert.equal(seen.headers.host, `${HOST}:7080`);
      assert.equal(seen.headers['x-forwarded-host'], `${HOST}:7080`);
      assert.ok(!JSON.stringify(seen.headers).includes('evil.example'), 'the client\'s Host is not forwarded');
      // With no path the target is "/", and the scheme's case does not matter.
      const bare = await exchange(port, [`GET HTTP://${HOST} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`], (t) => t.includes('"sha256"'));
      assert.match(bare.text, /"url":"\/"/);
      // The route follows the target, not the Host header.
      const other = await exchange(port, [`GET http://nowhere.shop.localhost/ HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`], (t) => t.includes('known:'));
      assert.match(other.text, /^HTTP\/1\.1 404 .*no stage answers at nowhere\.shop\.localhost/s);
    });

    it('absolute-form targets with user info, another scheme or no host are a 400', async () => {
      for (const target of [`http://user:pw@${HOST}/`, `ftp://${HOST}/`, 'http:///x', `http://${HOST}/#frag`, 'example.com:443', `//${HOST}/`]) {
        const r = await exchange(port, [`GET ${target} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`]);
        if (target.startsWith('//')) continue; // origin form with an empty first segment: a path like any other
        assert.match(r.text, /^HTTP\/1\.1 400 .*invalid request target/s, target);
        assert.ok(r.closed, target);
      }
    });

    it('a second Host or Content-Length, or Content-Length with Transfer-Encoding, is a 400 and the connection closes', async () => {
      const cases: [string, RegExp][] = [
        [`GET / HTTP/1.1\r\nhost: ${HOST}\r\nhost: evil.example\r\n\r\n`, /more than one Host/],
        [`GET / HTTP/1.1\r\nhost: ${HOST}\r\nHost: ${HOST}\r\n\r\n`, /more than one Host/],
        [`GET http://${HOST}/ HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n`, /more than one Host/],
        [`POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello`, /more than one Content-Length/],
        [`POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5, 5\r\n\r\nhello`, /more than one Content-Length/],
        [`POST /upload HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`, /both Content-Length and Transfer-Encoding/],
      ];
      for (const [wire, why] of cases) {
        const r = await exchange(port, [wire]);
        assert.match(r.text, /^HTTP\/1\.1 400 /, JSON.stringify(wire));
        assert.match(r.text, why);
        assert.ok(r.closed, `left open: ${JSON.stringify(wire)}`);
      }
      assert.equal((await send(port, { host: HOST, path: '/status?code=200' })).body, 'e1');
    });
  });

  describe('the connection cap', () => {
    it('past maxConnections a new connection gets a 503 before it sends anything, and the router serves again after', async () => {
      const capped = new Router({ maxConnections: 20 });
      const p = await capped.listen(0);
      capped.setRoute(HOST, { stage: 'edge', stable: { version: 'e1', backends: [{ id: 'e1', port: backend.port }] } });
      const held: Socket[] = [];
      try {
        for (let i = 0; i < 20; i++) {
          const s = connect(p, '127.0.0.1');
          s.on('error', () => {});
          await new Promise((r) => s.once('connect', r));
          held.push(s);
        }
        await sleep(50);
        // Nothing sent: the answer comes unasked, and the connection closes.
        const over = await exchange(p, [], (t) => t.endsWith('try again\n'));
        assert.match(over.text, /^HTTP\/1\.1 503 Service Unavailable\r\n.*retry-after: 1\r\n.*maxConnections/s);
        // Many more at once: each is answered 503 or closed, and the held ones are still served.
        const extra = await Promise.all(Array.from({ length: 200 }, () => exchange(p, [get()], (t) => t.includes('try again'), 5000)));
        assert.ok(extra.every((r) => /^HTTP\/1\.1 503 /.test(r.text) || (r.text === '' && r.closed)), 'every one over the cap is refused');
        held[0]!.write(get());
        const first = await new Promise<string>((r) => held[0]!.once('data', (d: Buffer) => r(d.toString())));
        assert.match(first, /^HTTP\/1\.1 200 /);
        for (const s of held) s.destroy();
        await sleep(100);
        assert.equal((await send(p, { host: HOST, path: '/status?code=200' })).body, 'e1');
      } finally {
        for (const s of held) s.destroy();
        await capped.close();
      }
    });

    it('a data plane out of file descriptors stays up: its cap is lowered to fit, past it 503, and it serves again after', async () => {
      const root = mkdtempSync(join(tmpdir(), 'sluice-router-limits-'));
      const dataDir = join(root, 'd');
      const p = await freePort();
      const proc = spawn('/bin/sh', ['-c', `ulimit -n 64; exec "${process.execPath}" "${ENTRY}" --data-dir "${dataDir}" --port ${p} --flags-port 0`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const sockets: Socket[] = [];
      const client = new RouterClient(controlSocketPath(dataDir));
      try {
        for (let i = 0; i < 200 && !/serving/.test(log); i++) await sleep(50);
        assert.match(log, /maxConnections lowered from 10000 to \d+: this process may open 64 files/);
        await client.setRoute(HOST, { stage: 'edge', stable: { version: 'e1', backends: [{ id: 'e1', port: backend.port }] } });
        // Three times as many connections as it has files, each asking for something.
        const answers: string[] = [];
        for (let i = 0; i < 200; i++) {
          const s = connect(p, '127.0.0.1');
          s.on('error', () => {});
          s.on('data', (d: Buffer) => answers.push(d.toString().split('\r\n')[0]!));
          s.on('connect', () => s.write(get()));
          sockets.push(s);
        }
        for (let i = 0; i < 100 && answers.length < 50; i++) await sleep(50);
        assert.equal(proc.exitCode, null, 'still running');
        assert.ok(answers.includes('HTTP/1.1 503 Service Unavailable'), 'past the cap: 503');
        assert.ok(answers.includes('HTTP/1.1 200 OK'), `within the cap: served (${JSON.stringify(answers)})`);
        for (const s of sockets) s.destroy();
        await sleep(500);
        assert.equal((await send(p, { host: HOST, path: '/status?code=200' })).body, 'e1');
        assert.equal(proc.exitCode, null, 'still running');
      } finally {
        for (const s of sockets) s.destroy();
        client.close();
        // A process that has exited already (it could not start) fires no second 'exit'.
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGTERM');
          await new Promise((r) => proc.once('exit', r));
        }
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
