import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import type { RunningSluice } from '../src/main/single-node.js';
import type { Notification } from '../src/notifications/notification.js';
import { api, cli, copyExample, startInProcess } from './helpers/sluice-process.js';

// A failing verify command announces itself to a generic webhook and a Slack-compatible one, with links to the evidence.
let app: string;
let s: RunningSluice;
let down: () => Promise<void>;
let token: string;
let hooks: Server;
const received: { path: string; body: unknown }[] = [];
/** How many more requests to each path the receiver answers 503 to (it is down). */
const downFor: Record<string, number> = { '/generic': 1 };

before(async () => {
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      if ((downFor[path] ?? 0) > 0) {
        downFor[path]!--;
        res.statusCode = 503;
        res.end('down');
        return;
      }
      received.push({ path, body: JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', () => r()));
  const port = (hooks.address() as AddressInfo).port;
  app = copyExample();
  const yaml = readFileSync(join(app, 'sluice.yaml'), 'utf8');
  writeFileSync(join(app, 'sluice.yaml'), `${yaml}\nnotify:\n  - webhook: http://127.0.0.1:${port}/generic\n  - slack: http://127.0.0.1:${port}/slack\n`);
  writeFileSync(join(app, 'tests', 'acceptance.js'), "console.log('FAIL checkout is broken'); process.exit(1);\n");
  ({ sluice: s, token, down } = await startInProcess(app));
});
after(async () => {
  await down();
  hooks.close();
  rmSync(join(app, '..'), { recursive: true, force: true });
});

interface Listed {
  notifications: { status: string; attempts: number; target: { kind: string; url: string }; body: Notification; lastError?: string }[];
}
const listed = async (release: string) =>
  (await api<Listed>(s.apiUrl, 'GET', '/api/v1/notifications')).json.notifications.filter((n) => n.body.release === release);

it('sends a failure and its rollback to every notify target, with links that show the evidence, through a receiver that was down', { timeout: 60_000 }, async () => {
  assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token)).status, 201);
  for (let i = 0; i < 300 && received.length < 4; i++) await sleep(100);
  // A retried notification can arrive after a later one; each says when it happened.
  const generic = received
    .filter((r) => r.path === '/generic')
    .map((r) => r.body as Notification)
    .sort((a, b) => a.at.localeCompare(b.at));
  const slack = received.filter((r) => r.path === '/slack').map((r) => r.body as { text: string });
  assert.deepEqual(
    generic.map((n) => [n.kind, n.stage, n.step, n.reason]),
    [
      ['step-failed', 'staging', 'verify:acceptance', 'exit code 1'],
      ['rolled-back', 'staging', 'rollback', 'staging is back on nothing: verify:acceptance failed: exit code 1'],
    ],
  );
  assert.equal(generic[0]!.app, 'shop');
  assert.equal(generic[0]!.release, '1.0.0');
  assert.equal(slack.length, 2);
  assert.match(slack.find((m) => m.text.startsWith(':x:'))!.text, /^:x: shop 1\.0\.0 at staging \(verify:acceptance\) failed: exit code 1 <http:\/\/127\.0\.0\.1:\d+\/api\/v1\/releases\/1\.0\.0\/stages\/staging\/logs\?step=verify%3Aacceptance\|logs>/);
  const logs = await (await fetch(generic[0]!.links.logs)).text();
  assert.match(logs, /FAIL checkout is broken/);
  const journey = await api<{ journey: { status: string } }>(s.apiUrl, 'GET', new URL(generic[0]!.links.journey).pathname);
  assert.equal(journey.json.journey.status, 'failed');
  // The generic receiver answered 503 to the first try; the outbox tried again a second later, and shows it.
  const record = (await listed('1.0.0')).find((n) => n.target.kind === 'webhook' && n.body.kind === 'step-failed')!;
  assert.deepEqual([record.status, record.attempts, record.lastError], ['delivered', 2, `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/… answered 503`]);
  assert.equal(record.target.url, `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/…`, 'the webhook path is not shown');
  const shown = await cli(['notifications', '--url', s.apiUrl]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /step-failed +1\.0\.0 at staging \(verify:acceptance\) → webhook http:\/\/127\.0\.0\.1:\d+\/… +delivered after 2 attempts/);
  assert.doesNotMatch(shown.stdout, /\/generic|\/slack/);
  for (const path of ['/api/v1/pipeline', '/api/v1/releases/1.0.0/events', '/api/v1/notifications']) {
    const text = JSON.stringify((await api(s.apiUrl, 'GET', path)).json);
    assert.match(text, /127\.0\.0\.1:\d+\/…/, path);
    assert.doesNotMatch(text, /\/generic|\/slack/, `${path} shows no webhook path`);
  }
});

it('delivers what was waiting when Sluice stopped, once it starts again', { timeout: 60_000 }, async () => {
  downFor['/generic'] = 1_000_000;
  downFor['/slack'] = 1_000_000;
  assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: '2.0.0' }, token)).status, 201);
  for (let i = 0; i < 300 && (await listed('2.0.0')).filter((n) => n.attempts > 0).length < 4; i++) await sleep(100);
  assert.deepEqual((await listed('2.0.0')).map((n) => n.status), ['pending', 'pending', 'pending', 'pending']);
  await s.close();
  downFor['/generic'] = 0;
  downFor['/slack'] = 0;
  const before = received.length;
  ({ sluice: s, down } = await startInProcess(app));
  for (let i = 0; i < 300 && received.length < before + 4; i++) await sleep(100);
  const got = received.slice(before);
  assert.deepEqual(got.filter((r) => r.path === '/generic').map((r) => [(r.body as Notification).release, (r.body as Notification).kind]).sort().reverse(), [
    ['2.0.0', 'step-failed'],
    ['2.0.0', 'rolled-back'],
  ]);
  assert.equal(got.filter((r) => r.path === '/slack').length, 2);
  assert.deepEqual((await listed('2.0.0')).map((n) => n.status), ['delivered', 'delivered', 'delivered', 'delivered']);
});
