import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { RunningSluice } from '../src/main/single-node.js';
import { api, copyExample, journeyEnd, startInProcess, viaRouter } from './helpers/sluice-process.js';

// Prod per region as waves: prod-us first, then prod-eu, each with its own data-residency setting. A failure in the
// first wave stops the second; the next good release goes through both.
const PIPELINE = `app: shop
artifact:
  build: node build.js
  output: dist
defaults:
  local: { start: node server.js }
stages:
  staging: {}
  prod-us:
    after: staging
    env: { DATA_RESIDENCY: us }
    verify: { residency: node tests/residency.js }
  prod-eu:
    after: prod-us
    env: { DATA_RESIDENCY: eu }
    verify: { residency: node tests/residency.js }
`;
// A region check that fails in the US for releases marked bad.
const CHECK = `import { readFileSync } from 'node:fs';
const bad = readFileSync('src/catalog.js', 'utf8').includes('// bad-in-us');
console.log('region', process.env.DATA_RESIDENCY);
process.exit(bad && process.env.DATA_RESIDENCY === 'us' ? 1 : 0);
`;

let app: string;
let s: RunningSluice;
let down: () => Promise<void>;
let token: string;
before(async () => {
  app = copyExample();
  writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
  writeFileSync(join(app, 'tests', 'residency.js'), CHECK);
  ({ sluice: s, token, down } = await startInProcess(app));
});
after(async () => {
  await down();
  rmSync(join(app, '..'), { recursive: true, force: true });
});

it('runs region waves in order: a failure in the first wave stops the second', { timeout: 90_000 }, async () => {
  const release = async (v: string) => {
    assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: v }, token)).status, 201);
    return journeyEnd(s.apiUrl, v);
  };
  const version = async (stage: string) => (await viaRouter(s.routerPort, `${stage}.shop.localhost`, '/healthz')).version;
  assert.equal(await release('1.0.0'), 'succeeded');
  assert.equal(await version('prod-eu'), '1.0.0');

  writeFileSync(join(app, 'src', 'catalog.js'), `${readFileSync(join(app, 'src', 'catalog.js'), 'utf8')}\n// bad-in-us\n`);
  assert.equal(await release('2.0.0'), 'failed');
  const j = await api<{ journey: { stages: Record<string, string> } }>(s.apiUrl, 'GET', '/api/v1/releases/2.0.0');
  assert.deepEqual(j.json.journey.stages, { staging: 'passed', 'prod-us': 'rolled-back', 'prod-eu': 'skipped' });
  assert.equal(await version('prod-us'), '1.0.0');
  assert.equal(await version('prod-eu'), '1.0.0');
});
