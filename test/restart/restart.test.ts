import assert from 'node:assert/strict';
import { it } from 'node:test';
import { restartScenario } from '../helpers/restart-scenario.js';

// The control plane may stop at any time; traffic must not. Steady traffic at prod through a canary rollout while the
// control plane is killed five times and then replaced by a newer build.
it('no request fails while the control plane is killed 5 times and upgraded mid-canary; the weight holds and the rollout finishes', { timeout: 300_000 }, async () => {
  const f = await restartScenario(5);
  console.log(`# ${f.requests} requests, ${f.failedRequests} failed; control plane away ${f.restarts.map((r) => `${r.downMs} ms`).join(', ')}`);
  assert.equal(f.failedRequests, 0, f.failures.join('\n'));
  assert.ok(f.requests > 1000, `only ${f.requests} requests`);
  assert.equal(f.restarts.length, 6);
  for (const r of f.restarts) assert.equal(r.weightAfter, r.weightBefore, `${r.how}: the canary's weight moved from ${r.weightBefore} to ${r.weightAfter}`);
  assert.equal(f.restarts[0]!.weightBefore, 25, 'the first kill comes mid-canary');
  assert.equal(f.restarts.at(-1)!.weightBefore, 50, 'the upgrade comes at the second weight');
  assert.ok(f.restarts.every((r) => r.weightBefore === 25 || r.weightBefore === 50), JSON.stringify(f.restarts));
  assert.equal(f.journey, 'succeeded');
  assert.deepEqual(f.gaps, [], 'the data plane counted while the control plane was away: no analysis window without data');
  assert.equal(f.dataPlanePids[0], f.dataPlanePids[1], 'one data plane process served throughout');
});
