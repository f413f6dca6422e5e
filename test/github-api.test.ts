import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { githubDeliverer } from '../src/adapters/github-api/github-api.js';
import { githubEntry } from '../src/github/github-report.js';
import { DeliveryError } from '../src/notifications/ports/webhook.js';
import { FakeGithub } from './helpers/fake-github.js';

// The deliverer of GitHub calls against a local server that checks GitHub's documented shapes, over real sockets.
const SHA = 'c'.repeat(40);
describe('GitHub deliverer', () => {
  const fake = new FakeGithub('tok');
  let base: string;
  before(async () => {
    base = await fake.start();
  });
  after(() => fake.close());
  const never = new AbortController().signal;
  const common = { stage: 'pr-1', release: 'pr-1-cccccccccccc', at: '2026-01-01T00:00:00.000Z', repository: 'acme/shop', description: 'd' };

  it('sends a commit status, and a deployment with its status, as GitHub documents them', async () => {
    const post = githubDeliverer('tok', 'sluice/test');
    const status = githubEntry(base, { ...common, kind: 'github-status', sha: SHA, state: 'success', context: 'sluice/pr-1', target_url: 'http://127.0.0.1:1/x' }, 'a');
    await post(status.target.url, status.body, never);
    const dep = githubEntry(
      base,
      { ...common, kind: 'github-deployment', ref: SHA, environment: 'pr-1', transient: true, state: 'success', environment_url: 'http://pr-1.shop.localhost:7080', log_url: 'http://127.0.0.1:1/logs' },
      'b',
    );
    await post(dep.target.url, dep.body, never);
    assert.deepEqual(fake.refused, []);
    assert.deepEqual(fake.taken.map((t) => t.path.replace(/\d+/g, 'N')), [`/repos/acme/shop/statuses/${SHA.replace(/\d+/g, 'N')}`, '/repos/acme/shop/deployments', '/repos/acme/shop/deployments/N/statuses']);
    assert.equal(fake.taken[2]?.body.environment_url, 'http://pr-1.shop.localhost:7080');
  });

  it('a refusal is permanent (a retry cannot help), a server that cannot be reached is not; neither shows the token', async () => {
    const wrong = githubDeliverer('not-the-token', 'sluice/test');
    const status = githubEntry(base, { ...common, kind: 'github-status', sha: SHA, state: 'pending', context: 'c' }, 'c');
    await assert.rejects(wrong(status.target.url, status.body, never), (e: unknown) => e instanceof DeliveryError && e.permanent && /answered 401: Bad credentials/.test(e.message) && !e.message.includes('not-the-token'));
    const down = githubEntry('http://127.0.0.1:9', { ...common, kind: 'github-status', sha: SHA, state: 'pending', context: 'c' }, 'd');
    await assert.rejects(githubDeliverer('tok', 'ua')(down.target.url, down.body, never), (e: unknown) => e instanceof DeliveryError && !e.permanent && /could not reach/.test(e.message));
    await assert.rejects(githubDeliverer('tok', 'ua')(status.target.url, { kind: 'nonsense', stage: 'x' }, never), (e: unknown) => e instanceof DeliveryError && e.permanent);
  });
});
