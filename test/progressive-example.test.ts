import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { RunningSluice } from '../src/main/single-node.js';
import type { StoredEvent } from '../src/journeys/journey-events.js';
import { setFault } from './helpers/canary-app.js';
import { api, copyExample, journeyEnd, startInProcess, viaRouter } from './helpers/sluice-process.js';

// examples/shop/sluice.progressive.yaml as a user runs it, with no traffic but the analyses' own synthetic requests:
// a good release goes through every region's one-box canary and the waves; a bad one is rolled back in the first wave.
let app: string;
let s: RunningSluice;
let down: () => Promise<void>;
let token: string;
before(async () => {
  app = copyExample();
  copyFileSync(join(app, 'sluice.progressive.yaml'), join(app, 'sluice.yaml'));
  ({ sluice: s, token, down } = await startInProcess(app));
});
after(async () => {
  await down();
  rmSync(join(app, '..'), { recursive: true, force: true });
});

const release = async (v: string) => {
  assert.equal((await api(s.apiUrl, 'POST', '/api/v1/releases', { version: v }, token)).status, 201);
  return journeyEnd(s.apiUrl, v, 120_000);
};
const serving = async (stage: string) => (await viaRouter(s.routerPort, `${stage}.shop.localhost`, '/healthz')).version;
const REGIONS = ['prod-us', 'prod-eu', 'prod-ap'];

it('the progressive example carries a good release through each region as a judged one-box canary, in waves', { timeout: 180_000 }, async () => {
  setFault(app, 0, 'good-1');
  assert.equal(await release('1.0.0'), 'succeeded');
  setFault(app, 0, 'good-2');
  assert.equal(await release('1.1.0'), 'succeeded');
  for (const stage of REGIONS) assert.equal(await serving(stage), '1.1.0', stage);
  const evs = (await api<StoredEvent[]>(s.apiUrl, 'GET', '/api/v1/releases/1.1.0/events')).json;
  const at = (stage: string, step: string) => evs.find((e) => e.type === 'step.finished' && e.stage === stage && e.step === step);
  for (const stage of REGIONS) {
    const analyses = evs.filter((e) => e.type === 'step.finished' && e.stage === stage && e.step.startsWith('canary:') && e.ok);
    assert.ok(analyses.length >= 4, `${stage}: every canary step passed (${analyses.length})`);
  }
  // Wave 2 starts only once wave 1 has passed, and its two regions overlap.
  const usDone = evs.find((e) => e.type === 'step.finished' && e.stage === 'prod-us' && e.step === 'bake-check')!.id;
  const entered = (stage: string) => evs.find((e) => e.type === 'stage.entered' && e.stage === stage)!.id;
  assert.ok(entered('prod-eu') > usDone && entered('prod-ap') > usDone);
  assert.ok(entered('prod-ap') < at('prod-eu', 'bake-check')!.id, 'prod-eu and prod-ap roll out side by side');
});

it('rolls a release whose one-box answers 5xx back by itself in the first wave, and leaves the next wave alone', { timeout: 180_000 }, async () => {
  setFault(app, 0.5, 'bad in the US', 0, 'us'); // staging passes: the fault shows only with the US region's config
  assert.equal(await release('1.2.0'), 'failed');
  const j = await api<{ journey: { stages: Record<string, string>; failure: { stage: string; reason: string } } }>(s.apiUrl, 'GET', '/api/v1/releases/1.2.0');
  assert.deepEqual(j.json.journey.stages, { staging: 'passed', 'prod-us': 'rolled-back', 'prod-eu': 'skipped', 'prod-ap': 'skipped' });
  // Whichever sees it first: the data plane's guard (a few answers) or the analysis (its first 1 s interval).
  assert.match(j.json.journey.failure.reason, /the data plane's guard cut the canary off: \d+ of the canary's last \d+ answers were errors|error-rate Failed/);
  for (const stage of REGIONS) assert.equal(await serving(stage), '1.1.0', stage);
});
