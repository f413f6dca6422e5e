import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/main/config.js';
import { downSluice, type RunningSluice, startSluice } from '../../src/main/single-node.js';
import { api, cli, copyExample, journeyEnd } from '../helpers/sluice-process.js';

// Part 4 of the trust issue, the API's side: every input has a limit, and past it a clear 4xx (or 503), at once.

interface RawGet {
  socket: Socket;
  /** The answer's first bytes, once its head is in. */
  head: Promise<string>;
  bytes: () => number;
  closed: Promise<void>;
}

/** A raw HTTP/1.1 GET on its own socket, for streams read slowly or not at all. */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): RawGet {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  let received = 0;
  let text = '';
  const head = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      received += d.length;
      if (text.length < 64 * 1024) text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) resolve(text);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, head, bytes: () => received, closed };
}

const status = (head: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

describe('limits on every input: the API', { timeout: 300_000 }, () => {
  let app: string;
  let dataDir: string;
  let s: RunningSluice;
  let token: string;
  before(async () => {
    app = copyExample();
    dataDir = join(app, '.sluice');
    const config = loadConfig({
      cwd: app,
      argv: { dataDir: '.sluice', port: '0', routerPort: '0' },
      env: { SLUICE_MAX_STREAMS: '3', SLUICE_SLOW_CLIENT_MS: '1000', SLUICE_STREAM_BUFFER_BYTES: '65536', SLUICE_JUDGE_MAX_VALUES: '60000', SLUICE_JUDGE_TIMEOUT_MS: '4000' },
    });
    s = await startSluice(config, { env: { PATH: process.env.PATH ?? '' } });
    token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const created = await api(s.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token);
    assert.equal(created.status, 201);
    assert.equal(await journeyEnd(s.apiUrl, '1.0.0', 180_000), 'succeeded');
  });
  after(async () => {
    await s.close();
    await downSluice(dataDir);
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  const state = async () => ({
    releases: (await api<unknown[]>(s.apiUrl, 'GET', '/api/v1/releases')).json,
    events: (await api<unknown[]>(s.apiUrl, 'GET', '/api/v1/releases/1.0.0/events')).json.length,
  });

  describe('1. the judge runs off the event loop, within a value cap and a time budget', () => {
    /** Six metrics of 4,000 distinct values a side: tens of seconds of pairwise estimates, within the value cap. */
    const heavy = {
      metrics: Array.from({ length: 6 }, (_, m) => ({
        name: `m${m}`,
        canary: Array.from({ length: 4000 }, (_, i) => ((i * 7919) % 1000) + i / 4001),
        baseline: Array.from({ length: 4000 }, (_, i) => ((i * 104729) % 1000) + i / 3989),
      })),
    };

    it('while a large request is judged, health, the board and the router answer', async () => {
      const order: string[] = [];
      const judged = api<{ code?: string }>(s.apiUrl, 'POST', '/api/v1/judge', heavy).then((r) => order.push(`judge ${r.status} ${r.json.code ?? ''}`));
      // Let the request reach the judge's thread before asking for anything else.
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 5; i++) {
        assert.equal((await api(s.apiUrl, 'GET', '/api/v1/health')).status, 200);
        assert.equal((await api(s.apiUrl, 'GET', '/api/v1/status')).status, 200);
        const router = await fetch(`http://127.0.0.1:${s.routerPort}/`, { headers: { host: 'integ.shop.localhost' } });
        await router.arrayBuffer();
        order.push(`other ${i}`);
      }
      await judged;
      assert.deepEqual(order.slice(0, 5), ['other 0', 'other 1', 'other 2', 'other 3', 'other 4'], `the others answered first: ${order.join(', ')}`);
      assert.match(order[5]!, /^judge (200 |413 TOO_LARGE)$/);
    });

    it('more values than the cap: 413 naming the setting, at once', async () => {
      const over = { thresholds: [{ name: 'x', max: 1, measurements: Array.from({ length: 60_001 }, () => 0.5) }] };
      const r = await api<{ code: string; message: string }>(s.apiUrl, 'POST', '/api/v1/judge', over);
      assert.equal(r.status, 413);
      assert.equal(r.json.code, 'TOO_LARGE');
      assert.match(r.json.message, /has 60001 values; the judge takes at most 60000 per request \(setting judgeMaxValues\)/);
      const at = await api<{ outcome: string }>(s.apiUrl, 'POST', '/api/v1/judge', { thresholds: [{ name: 'x', max: 1, measurements: over.thresholds[0]!.measurements.slice(1) }] });
      assert.equal(at.status, 200);
      assert.equal(at.json.outcome, 'pass');
    });

    it('past the time budget: 413 naming the setting, and the next request is judged', async () => {
      const r = await api<{ code: string; message: string }>(s.apiUrl, 'POST', '/api/v1/judge', heavy);
      assert.equal(r.status, 413, JSON.stringify(r.json).slice(0, 300));
      assert.match(r.json.message, /request body took longer than the judge's time budget of 4000 ms \(setting judgeTimeoutMs\)/);
      const next = await api<{ outcome: string }>(s.apiUrl, 'POST', '/api/v1/judge', { metrics: [{ name: 'latency', canary: [1, 2, 3], baseline: [1, 2, 3] }] });
      assert.equal(next.status, 200);
      assert.equal(next.json.outcome, 'pass');
    });
  });

  describe('2. streams respect backpressure, are capped in number and drop slow clients', () => {
    it('past maxStreams a new event stream or followed log is a 503 before it starts; a closed one frees its place', async () => {
      const open = [rawGet(s.apiUrl, '/api/v1/events'), rawGet(s.apiUrl, '/api/v1/events'), rawGet(s.apiUrl, '/api/v1/events?after=0')];
      for (const o of open) assert.equal(status(await o.head), 200);
      for (const path of ['/api/v1/events', '/api/v1/releases/1.0.0/stages/prod/logs?follow=1']) {
        const r = await api<{ code: string; message: string }>(s.apiUrl, 'GET', path);
        assert.equal(r.status, 503, path);
        assert.equal(r.json.code, 'BUSY');
        assert.match(r.json.message, /3 streams are open, the most this server serves at once \(setting maxStreams\)/);
      }
      open[0]!.socket.destroy();
      await until('a place is free again', async () => {
        const again = rawGet(s.apiUrl, '/api/v1/events');
        const ok = status(await again.head) === 200;
        again.socket.destroy();
        return ok;
      });
      for (const o of open) o.socket.destroy();
    });

    it('a client that reads nothing of a 64 MB log gets a bounded part of it, and is dropped', async () => {
      const logs: string[] = [];
      const walk = (d: string) => {
        for (const n of readdirSync(d)) {
          const p = join(d, n);
          if (statSync(p).isDirectory()) walk(p);
          else if (n === 'log' && /[/\\]commit[/\\]syntax[^/\\]*[/\\]log$/.test(p)) logs.push(p);
        }
      };
      walk(join(dataDir, 'runs'));
      assert.equal(logs.length, 1, logs.join(', '));
      const line = `${'x'.repeat(1023)}\n`;
      const mb = line.repeat(1024);
      for (let i = 0; i < 64; i++) appendFileSync(logs[0]!, mb);
      const reader = rawGet(s.apiUrl, '/api/v1/releases/1.0.0/stages/commit/logs?step=syntax');
      assert.equal(status(await reader.head), 200);
      reader.socket.pause();
      // Dropped after slowClientMs: its place among the streams is free again.
      await until('the slow client was dropped', () => {
        const probe = [rawGet(s.apiUrl, '/api/v1/events'), rawGet(s.apiUrl, '/api/v1/events'), rawGet(s.apiUrl, '/api/v1/events')];
        return Promise.all(probe.map((p) => p.head)).then((heads) => {
          for (const p of probe) p.socket.destroy();
          return heads.every((h) => status(h) === 200);
        });
      });
      reader.socket.resume();
      await reader.closed;
      assert.ok(reader.bytes() < 32 * 1024 * 1024, `it got ${reader.bytes()} bytes of 64 MB: the server never queued the log for it`);
      // A client that reads gets all of it, streamed; or only its end, with ?tail=.
      const whole = await fetch(`${s.apiUrl}/api/v1/releases/1.0.0/stages/commit/logs?step=syntax`);
      assert.ok((await whole.arrayBuffer()).byteLength > 64 * 1024 * 1024);
      const end = await fetch(`${s.apiUrl}/api/v1/releases/1.0.0/stages/commit/logs?step=syntax&tail=2048`);
      assert.equal(await end.text(), line.repeat(2));
      const bad = await api<{ code: string }>(s.apiUrl, 'GET', '/api/v1/releases/1.0.0/stages/commit/logs?step=syntax&tail=-1');
      assert.equal(bad.status, 400);
    });
  });

  describe('3. every request gets an answer', () => {
    it('a bad ?after= or Last-Event-ID is a 400 at once, and leaves no listener', async () => {
      const before = s.events.size;
      for (const q of ['abc', '-1', '1e3', '99999999999999999999', '']) {
        const r = await api<{ code: string }>(s.apiUrl, 'GET', `/api/v1/events?after=${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.json.code, 'BAD_REQUEST');
      }
      const h = rawGet(s.apiUrl, '/api/v1/events', { 'last-event-id': 'nope' });
      assert.equal(status(await h.head), 400);
      assert.match(await h.head, /the Last-Event-ID header must be an event id/);
      h.socket.destroy();
      assert.equal(s.events.size, before);
    });

    it('stages, steps, releases and journeys named after Object properties are 404 like any unknown name', async () => {
      const before = await state();
      for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
        const e = encodeURIComponent(name);
        const calls: [string, string, unknown?][] = [
          ['GET', `/api/v1/releases/1.0.0/stages/${e}/logs`],
          ['GET', `/api/v1/releases/1.0.0/stages/${e}/logs?follow=1`],
          ['GET', `/api/v1/releases/1.0.0/stages/prod/logs?step=${e}`],
          ['POST', `/api/v1/stages/${e}/rollback`, {}],
          ['POST', '/api/v1/releases/1.0.0/approve', { stage: name }],
          ['POST', '/api/v1/releases/1.0.0/promote', { stage: name }],
          ['POST', '/api/v1/releases/1.0.0/abort', { stage: name }],
          ['GET', `/api/v1/releases/${e}`],
          ['GET', `/api/v1/journeys/${e}`],
        ];
        for (const [method, path, body] of calls) {
          const r = await api<{ code: string }>(s.apiUrl, method, path, body, token);
          assert.equal(r.status, 404, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
          assert.equal(r.json.code, 'NOT_FOUND');
        }
      }
      assert.deepEqual(await state(), before);
    });
  });

  describe('4. text with NUL or invalid UTF-16 is a 400 naming where', () => {
    it('in a body (values and keys), a query, a path parameter; nothing changes', async () => {
      const before = await state();
      const cases: [string, string, unknown, RegExp][] = [
        ['POST', '/api/v1/releases', { version: '2.0\u0000' }, /^body field version has a NUL character/],
        ['POST', '/api/v1/releases', '{"version":"2.0\\ud800"}', /^body field version has an unpaired UTF-16 surrogate \(\\ud800\)/],
        ['POST', '/api/v1/releases', '{"version":"2.0","sourceRef":"x\\udc00y"}', /^body field sourceRef has an unpaired UTF-16 surrogate/],
        ['POST', '/api/v1/releases/1.0.0/approve', '{"stage":"prod","comment":"ok","x\\u0000":1}', /^body has a field name with a NUL character/],
        ['POST', '/api/v1/releases/1.0.0/reject', { stage: 'prod', comment: ['a'].map(() => 'no\u0000pe')[0] }, /^body field comment has a NUL/],
        ['POST', '/api/v1/tokens', { name: 'n\u0000' }, /^body field name has a NUL/],
        ['GET', '/api/v1/releases/1.0.0/stages/prod/logs?step=a%00', undefined, /^query field step has a NUL/],
        ['GET', '/api/v1/releases/1.0%00/stages/prod/logs', undefined, /^path field version has a NUL/],
        ['POST', '/api/v1/judge', '{"thresholds":[{"name":"\\ud83d","measurements":[1]}]}', /^request body field thresholds\[0\]\.name has an unpaired UTF-16 surrogate/],
      ];
      for (const [method, path, body, message] of cases) {
        const r = await api<{ code: string; message: string }>(s.apiUrl, method, path, body, token);
        assert.equal(r.status, 400, `${method} ${path}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.code, 'BAD_REQUEST');
        assert.match(r.json.message, message);
      }
      const badUtf8 = await api<{ code: string }>(s.apiUrl, 'GET', '/api/v1/releases/1.0%ED%A0%80');
      assert.equal(badUtf8.status, 400);
      assert.equal(badUtf8.json.code, 'BAD_REQUEST');
      assert.deepEqual(await state(), before);
    });
  });

  describe('5. an artifact given over the API stays inside the app directory', () => {
    it('absolute, .. and symlinks out are refused; a path inside is taken; the CLI on this machine may give any path', async () => {
      const outside = join(tmpdir(), `sluice-outside-${process.pid}`);
      mkdirSync(outside, { recursive: true });
      writeFileSync(join(outside, 'server.js'), readFileSync(join(app, 'src', 'server.js')));
      symlinkSync(outside, join(app, 'link-out'));
      mkdirSync(join(app, 'built'), { recursive: true });
      writeFileSync(join(app, 'built', 'server.js'), readFileSync(join(app, 'src', 'server.js')));
      mkdirSync(join(app, 'sneaky'), { recursive: true });
      writeFileSync(join(app, 'sneaky', 'server.js'), '');
      symlinkSync(outside, join(app, 'sneaky', 'etc'));
      try {
        const before = await state();
        const refused: [string, RegExp][] = [
          [outside, /is an absolute path: over the API an artifact is a path inside the app directory/],
          ['../../..', /leaves the app directory/],
          [`built/../../${'x'}`, /leaves the app directory/],
          ['link-out', /artifact .*link-out leaves the app directory: an artifact given over the API must be inside/],
          ['sneaky', /artifact .*sneaky leaves the app directory \(.*sneaky\/etc is a symlink to/],
        ];
        for (const [artifact, message] of refused) {
          const r = await api<{ code: string; message: string }>(s.apiUrl, 'POST', '/api/v1/releases', { version: '3.0.0', artifact }, token);
          assert.equal(r.status, 400, `${artifact}: ${JSON.stringify(r.json)}`);
          assert.match(r.json.message, message);
        }
        assert.deepEqual(await state(), before, 'nothing was recorded');
        const inside = await api<{ release: { digest: string } }>(s.apiUrl, 'POST', '/api/v1/releases', { version: '3.0.0', artifact: 'built' }, token);
        assert.equal(inside.status, 201);
        // The operator's CLI, run from elsewhere, resolves the path where it was run and may give one outside.
        const viaCli = await cli(['release', 'create', '3.0.1', '--dir', app, '--artifact', outside, '--json'], {});
        assert.equal(viaCli.code, 0, viaCli.stderr);
        assert.equal(JSON.parse(viaCli.stdout).release.digest, inside.json.release.digest, 'the same files');
        // Without the operator key (another server's CLI, or a forged header), the same absolute path is refused.
        const forged = await fetch(`${s.apiUrl}/api/v1/releases`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-sluice-operator': '00'.repeat(32) },
          body: JSON.stringify({ version: '3.0.2', artifact: outside }),
        });
        assert.equal(forged.status, 400);
        for (const v of ['3.0.0', '3.0.1']) await journeyEnd(s.apiUrl, v, 180_000).catch(() => undefined);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });
  });

  describe('6. thresholds and groups', () => {
    it('a threshold with no measurements is inconclusive; a group named constructor is a group', async () => {
      const empty = await api<{ outcome: string; reason: string }>(s.apiUrl, 'POST', '/api/v1/judge', { thresholds: [{ name: 'error-rate', max: 0.01, measurements: [] }] });
      assert.equal(empty.status, 200);
      assert.equal(empty.json.outcome, 'inconclusive');
      assert.match(empty.json.reason, /error-rate Inconclusive: no measurements/);
      const high = Array.from({ length: 40 }, (_, i) => 100 + (i % 7));
      const base = Array.from({ length: 40 }, (_, i) => 10 + (i % 7));
      for (const group of ['constructor', 'toString', 'valueOf']) {
        const r = await api<{ comparison: { groups: { name: string; weight: number }[]; score: number } }>(s.apiUrl, 'POST', '/api/v1/judge', {
          config: { groupWeights: { [group]: 20 } },
          metrics: [
            { name: 'a', group, canary: high, baseline: base },
            { name: 'b', group: 'latency', canary: base, baseline: base },
          ],
        });
        assert.equal(r.status, 200, group);
        assert.deepEqual(r.json.comparison.groups.map((g) => [g.name, g.weight]), [[group, 20], ['latency', 80]], group);
        assert.equal(r.json.comparison.score, 80, group);
      }
    });
  });
});
