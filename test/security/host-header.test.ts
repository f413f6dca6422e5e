import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, cli, copyExample, startUp, type UpProcess } from '../helpers/sluice-process.js';
import { rawCall } from './access-helpers.js';

/** A request with no Host header at all (HTTP/1.0 allows it); the status line and body of the answer. */
function withoutHost(apiUrl: string, path: string): Promise<string> {
  const u = new URL(apiUrl);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
    });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

// A real `sluice up` listening beyond loopback with one allowed name: a DNS-rebinding page (any other Host) gets nothing
// and changes nothing; the CLI keeps working.
describe('the Host header (no DNS rebinding), and an API beyond loopback', { timeout: 180_000 }, () => {
  let app: string;
  let data: string;
  let up: UpProcess;
  let admin: string;
  before(async () => {
    app = copyExample();
    data = join(app, '.sluice');
    mkdirSync(data, { recursive: true });
    up = await startUp(app, data, { SLUICE_API_HOST: '0.0.0.0', SLUICE_API_ALLOWED_HOSTS: 'sluice.test,10.9.8.7' });
    admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await up.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('answers a foreign Host with a clear 400 before any handler or stream runs: it reads nothing and changes nothing', async () => {
    const foreign = { host: 'evil.example:7070', token: admin };
    for (const [method, path, body] of [
      ['GET', '/api/v1/status'],
      ['GET', '/api/v1/pipeline'],
      ['GET', '/api/v1/events?after=0'],
      ['GET', '/api/v1/releases/1.0.0/stages/prod/logs?follow=1'],
      ['GET', '/api/v1/health'],
      ['GET', '/api/v1/tokens'],
      ['POST', '/api/v1/releases', { version: '9.9.9' }],
      ['POST', '/api/v1/tokens', { name: 'rebound', role: 'admin' }],
    ] as const) {
      const r = await rawCall(up.apiUrl, method, path, { ...foreign, ...(body ? { body } : {}) });
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.match(r.contentType, /^application\/json/, `${path} started no stream`);
      const e = JSON.parse(r.text) as { code: string; message: string };
      assert.equal(e.code, 'HOST_NOT_ALLOWED');
      assert.equal(e.message, 'this API does not answer to the host "evil.example:7070": it answers to localhost, 127.0.0.1, [::1], sluice.test, 10.9.8.7; an operator allows another name with sluice up --api-allowed-host');
      assert.ok(!/shop|GREETING|integ/.test(r.text), 'nothing of the app is shown');
    }
    for (const host of ['127.0.0.1.evil.example', 'sluice.test.evil.example', 'localhost.', '10.9.8.70']) assert.equal((await rawCall(up.apiUrl, 'GET', '/api/v1/health', { host })).status, 400, host);
    const bare = await withoutHost(up.apiUrl, '/api/v1/health');
    assert.match(bare, /^HTTP\/1\.1 400 /);
    assert.match(bare, /HOST_NOT_ALLOWED/);
    // Nothing changed: no release, no token.
    assert.deepEqual((await api<unknown[]>(up.apiUrl, 'GET', '/api/v1/releases', undefined, admin)).json, []);
    assert.deepEqual((await api<{ name: string }[]>(up.apiUrl, 'GET', '/api/v1/tokens', undefined, admin)).json.map((t) => t.name), ['admin']);
  });

  it('answers loopback names and the allowed ones, with or without a port, in any case', async () => {
    for (const host of ['localhost', 'localhost:1', '127.0.0.1', '[::1]:7070', 'sluice.test', 'SLUICE.test:443', '10.9.8.7:7070']) {
      const r = await rawCall(up.apiUrl, 'GET', '/api/v1/status', { host, token: admin });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
    }
  });

  it('beyond loopback, reads need a token, public routes do not, and the CLI finds its way in with its token', async () => {
    assert.match(up.output(), /listening on 0\.0\.0\.0: reads need a token too; it answers to the hosts localhost, 127\.0\.0\.1, \[::1\], sluice\.test, 10\.9\.8\.7/);
    const r = await rawCall(up.apiUrl, 'GET', '/api/v1/status');
    assert.equal(r.status, 401);
    assert.equal((await rawCall(up.apiUrl, 'GET', '/api/v1/health')).status, 200, 'health needs no token');
    const status = await cli(['status', '--dir', app, '--data-dir', data]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /integ/);
    const withoutToken = await cli(['release', 'list', '--dir', app, '--data-dir', data, '--token', 'slc_wrong']);
    assert.equal(withoutToken.code, 1);
    assert.match(withoutToken.stderr, /the bearer token is not valid/);
  });

  it('a stream opened with a token ends, saying why, once the token is revoked: an event stream and a followed log', async () => {
    const made = await api<{ token: string }>(up.apiUrl, 'POST', '/api/v1/tokens', { name: 'watcher', role: 'viewer' }, admin);
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const open = async (path: string) => {
      const res = await fetch(up.apiUrl + path, { headers: { authorization: `Bearer ${made.json.token}` } });
      assert.equal(res.status, 200, path);
      const reader = res.body!.getReader();
      let text = '';
      const ended = (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return text;
          text += Buffer.from(value).toString('utf8');
        }
      })();
      return { ended, text: () => text };
    };
    // A release whose prod stage runs seconds from now: its log, followed, stays open until then.
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, admin)).status, 201);
    const events = await open('/api/v1/events');
    const logs = await open('/api/v1/releases/1.0.0/stages/prod/logs?follow=1');
    await new Promise((ok) => setTimeout(ok, 300));
    assert.doesNotMatch(events.text() + logs.text(), /the stream ends/, 'both run while the token works');
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/tokens/watcher/revoke', {}, admin)).status, 200);
    const revokedAt = Date.now();
    const [eventText, logText] = await Promise.all([events.ended, logs.ended]);
    assert.ok(Date.now() - revokedAt < 10_000, 'both ended within a few seconds of the revocation');
    assert.match(eventText, /event: stream\.end\ndata: \{"code":"UNAUTHORIZED","message":"the stream ends: its token was revoked"\}\n\n$/);
    assert.match(logText, /── the stream ends: its token was revoked ──\n$/);
    // And it cannot come back.
    assert.equal((await fetch(up.apiUrl + '/api/v1/events', { headers: { authorization: `Bearer ${made.json.token}` } })).status, 401);
  });
});
