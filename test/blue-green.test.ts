import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setFault } from './helpers/canary-app.js';
import { cli, copyExample, startUp, type UpProcess, viaRouter } from './helpers/sluice-process.js';

// Blue-green on a real `sluice up`: the new version is checked at its preview host while users still get the old
// one (the check itself asserts both), then all traffic switches at once.
const PIPELINE = `app: shop
artifact:
  build: node build.js
  output: dist
defaults:
  local: { start: node server.js, instances: 2, stopTimeout: 3s }
stages:
  prod:
    verify:
      preview: node tests/preview-check.js
    strategy:
      blueGreen: {}
`;

// Runs as a verify command. Before the switch it is pointed at the preview host: that must serve this release,
// while the stage's own host still serves the one before. A first release has no preview (nothing to switch from).
const CHECK = `import { request } from 'node:http';
const url = new URL(process.env.SLUICE_STAGE_URL);
const get = (host) => new Promise((res, rej) => {
  const r = request({ host: '127.0.0.1', port: url.port, path: '/healthz', headers: { host } }, (x) => {
    let b = ''; x.on('data', (d) => (b += d)); x.on('end', () => res(JSON.parse(b).version));
  });
  r.on('error', rej); r.end();
});
const mine = process.env.SLUICE_RELEASE_VERSION;
const here = await get(url.host);
console.log('SLUICE_STAGE_URL', url.href, 'serves', here);
if (here !== mine) { console.log('FAIL expected', mine); process.exit(1); }
if (url.hostname.includes('-preview.')) {
  const users = await get(url.host.replace('-preview.', '.'));
  console.log('users still get', users);
  if (users === mine) { console.log('FAIL users already on the new version'); process.exit(1); }
}
`;

let app: string;
let up: UpProcess;
const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: up.apiUrl });

before(async () => {
  app = copyExample();
  writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
  writeFileSync(join(app, 'tests', 'preview-check.js'), CHECK);
  up = await startUp(app, join(app, '.sluice'));
});
after(async () => {
  await up?.down();
  rmSync(join(app, '..'), { recursive: true, force: true });
});

it('verifies the new version at its preview host, then switches all traffic at once', { timeout: 120_000 }, async () => {
  assert.equal((await run('release', 'create', '1.0.0', '--wait')).code, 0);
  setFault(app, 0, '2.0.0');
  const r = await run('release', 'create', '2.0.0', '--wait');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const logs = await run('logs', '2.0.0', 'prod', 'verify:preview');
  assert.match(logs.stdout, /SLUICE_STAGE_URL http:\/\/prod-preview\.shop\.localhost:\d+\/ serves 2\.0\.0/);
  assert.match(logs.stdout, /users still get 1\.0\.0/);
  assert.equal((await viaRouter(up.routerPort, 'prod.shop.localhost', '/healthz')).version, '2.0.0');
  assert.equal((await viaRouter(up.routerPort, 'prod-preview.shop.localhost', '/healthz')).status, 404, 'the preview host is gone after the switch');
});
