import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import type { RunningSluice } from '../src/app.js';
import type { Notification } from '../src/notify/notifier.js';
import { api, copyExample, startInProcess } from './helpers/sluice-process.js';

// A failing verify command announces itself to a generic webhook and a Slack-compatible one, with links to the evidence.
let app: string;
let s: RunningSluice;
let token: string;
let hooks: Server;
const received: { path: string; body: unknown }[] = [];

before(async () => {
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', () => r()));
  const port = (hooks.address() as AddressInfo).port;
  app = copyExample();
  const yaml = readFileSync(join(app, 'sluice.yaml'), 'utf8');
  writeFileSync(join(app, 'sluice.yaml'), `${yaml}\nnotify:\n  - webhook: http://127.0.0.1:${port}/generic\n  - slack: http://127.0.0.1:${port}/slack\n`);
  writeFileSync(join(app, 'tests', 'acceptance.js'), "console.log('FAIL checkout is broken'); process.exit(1);\n");
  ({ sluice: s, token } = await startInProcess(app));
});
after(async () => {
  await s.close();
  hooks.close();
  rmSync(join(app, '..'), { recursive: true, force: true });
});

it('sends a failure and its rollback to every notify target, with links that show the evidence', { timeout: 60_000 }, async () => {
  assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token)).status, 201);
  for (let i = 0; i < 300 && received.length < 4; i++) await sleep(100);
  const generic = received.filter((r) => r.path === '/generic').map((r) => r.body as Notification);
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
  assert.match(slack[0]!.text, /^:x: shop 1\.0\.0 at staging \(verify:acceptance\) failed: exit code 1 <http:\/\/127\.0\.0\.1:\d+\/api\/v1\/releases\/1\.0\.0\/stages\/staging\/logs\?step=verify%3Aacceptance\|logs>/);
  const logs = await (await fetch(generic[0]!.links.logs)).text();
  assert.match(logs, /FAIL checkout is broken/);
  const journey = await api<{ journey: { status: string } }>(s.apiUrl, 'GET', new URL(generic[0]!.links.journey).pathname);
  assert.equal(journey.json.journey.status, 'failed');
});
