import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AuditDraft } from '../audit/ports/audit-trail.js';
import type { CreateEnvironmentInput, EnvironmentView } from '../environments/environment-service.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
import type { OutboxEntry } from '../notifications/ports/outbox.js';
import type { Plan } from '../pipeline/pipeline.js';
import type { CreateReleaseInput } from '../releases/release-service.js';
import { GithubService, MAX_PENDING_DELIVERIES } from './github-service.js';

// The service around in-memory fakes of what it drives (releases, environments, checkout, outbox, audit): what each
// delivery makes it do, and what it leaves alone. The end-to-end test (test/github.test.ts) runs the real parts.
const SECRET = 'a-secret-of-twenty-chars';
const SHA = 'b'.repeat(40);
const sign = (body: string) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

function world(o: { failDeploy?: boolean; gate?: Promise<void> } = {}) {
  const calls: string[] = [];
  const releases = new Map<string, { version: string; journeyId: string }>();
  const envs = new Map<string, EnvironmentView>();
  const outbox: OutboxEntry[] = [];
  const audit: AuditDraft[] = [];
  const view = (name: string, version: string, status: EnvironmentView['status']): EnvironmentView =>
    ({ name, source: 'staging', release: { version, digest: 'sha256:x' }, status, url: `http://${name}.shop.localhost:7080` }) as EnvironmentView;
  const service = new GithubService({
    settings: { repository: 'acme/shop', webhookSecret: SECRET, cloneUrl: '/repo', appPath: 'app', mainBranch: 'main', apiUrl: 'https://gh.test', token: 't' },
    checkout: {
      checkout: async (sha, ref) => {
        await o.gate;
        calls.push(`checkout ${sha.slice(0, 4)} ${ref}`);
        return { dir: '/tmp/tree', dispose: async () => void calls.push('dispose') };
      },
    },
    releases: {
      create: async (input: CreateReleaseInput) => {
        calls.push(`release ${input.version} in ${input.sourceDir} hold=${input.hold}`);
        const r = { version: input.version, journeyId: `j-${input.version}` };
        releases.set(input.version, r);
        return { release: r, created: true };
      },
      get: async (v) => releases.get(v),
    },
    environments: {
      create: async (_actor, input: CreateEnvironmentInput) => {
        calls.push(`create ${input.name} from ${input.from} ref ${input.ref}`);
        const v = view(input.name!, input.ref, o.failDeploy ? 'failed' : 'ready');
        envs.set(input.name!, v);
        return v;
      },
      redeploy: async (name, ref) => {
        calls.push(`redeploy ${name} ref ${ref}`);
        const v = view(name, ref!, 'ready');
        envs.set(name, v);
        return v;
      },
      destroy: async (name) => {
        calls.push(`destroy ${name}`);
        if (!envs.delete(name)) throw new SluiceError('NOT_FOUND', `there is no environment ${name}`);
      },
      show: async (name) => {
        const v = envs.get(name);
        if (!v) throw new SluiceError('NOT_FOUND', `there is no environment ${name}`);
        return v;
      },
    },
    journeyStatus: () => 'running',
    plan: () => ({ stages: [{ name: 'staging', after: [] }, { name: 'prod', after: ['staging'] }] }) as unknown as Plan,
    outbox: async (entries) => void outbox.push(...entries),
    audit: async (drafts) => void audit.push(...drafts),
    apiUrl: () => 'http://127.0.0.1:7070',
    clock: { now: () => 0 },
  });
  const deliver = async (event: string, payload: unknown, delivery = 'd1') => {
    const body = JSON.stringify(payload);
    const answer = await service.receive({ event, delivery, signature: sign(body) }, body);
    await service.settled();
    return answer;
  };
  return { service, calls, envs, outbox, audit, deliver };
}
const pr = (action: string, sha = SHA, repo = 'acme/shop') => ({ action, number: 5, pull_request: { head: { sha, ref: 'f' }, merged: false }, repository: { full_name: repo } });
const states = (outbox: OutboxEntry[]) => outbox.map((e) => `${String(e.body.kind)}:${String((e.body as { state?: unknown }).state)}`);

describe('GithubService', () => {
  it('builds a PR head once, in the app folder of its tree, held at the pipeline door, and makes its environment from the stage before the last', async () => {
    const w = world();
    assert.equal((await w.deliver('pull_request', pr('opened'))).status, 'accepted');
    assert.deepEqual(w.calls, [`checkout bbbb refs/pull/5/head`, `release pr-5-${SHA.slice(0, 12)} in /tmp/tree/app hold=true`, 'dispose', `create pr-5 from staging ref pr-5-${SHA.slice(0, 12)}`]);
    assert.deepEqual(states(w.outbox), ['github-status:pending', 'github-status:success', 'github-deployment:success']);
    // Reopened with the same head: the release is there and the environment serves it; nothing is built or deployed.
    w.calls.length = 0;
    await w.deliver('pull_request', pr('reopened'), 'd2');
    assert.deepEqual(w.calls, []);
    // A new head: built and redeployed.
    await w.deliver('pull_request', pr('synchronize', 'c'.repeat(40)), 'd3');
    assert.deepEqual(w.calls.slice(-1), [`redeploy pr-5 ref pr-5-${'c'.repeat(12)}`]);
    assert.ok(w.audit.every((a) => a.actor.kind === 'system' && a.actor.reason === 'github'));
    assert.deepEqual(w.audit.filter((a) => a.action === 'github.webhook').map((a) => a.links.delivery), ['d1', 'd2', 'd3']);
  });

  it('a redelivered id does nothing; a closed PR destroys its environment, and closing one without any is no error', async () => {
    const w = world();
    await w.deliver('pull_request', pr('opened'));
    const n = w.calls.length;
    assert.equal((await w.deliver('pull_request', pr('opened'))).status, 'duplicate');
    assert.equal(w.calls.length, n);
    assert.equal((await w.deliver('pull_request', pr('closed'), 'd9')).status, 'accepted');
    assert.deepEqual(w.calls.slice(-1), ['destroy pr-5']);
    assert.equal(w.envs.size, 0);
    assert.equal((await w.deliver('pull_request', pr('closed'), 'd10')).status, 'accepted');
  });

  it('a failed deploy reports failure, not success', async () => {
    const w = world({ failDeploy: true });
    await w.deliver('pull_request', pr('opened'));
    assert.deepEqual(states(w.outbox), ['github-status:pending', 'github-status:failure', 'github-deployment:failure']);
  });

  it('refuses another repository, a bad signature and a malformed payload before doing anything', async () => {
    const w = world();
    await assert.rejects(w.deliver('pull_request', pr('opened', SHA, 'evil/shop')), (e: unknown) => isSluiceError(e) && e.code === 'BAD_REQUEST');
    await assert.rejects(w.service.receive({ event: 'push', delivery: 'x', signature: sign('{}') }, '{"a":1}'), (e: unknown) => isSluiceError(e) && e.code === 'UNAUTHORIZED');
    await assert.rejects(w.service.receive({ event: 'push', delivery: 'x', signature: undefined }, '{}'), (e: unknown) => isSluiceError(e) && e.code === 'UNAUTHORIZED');
    await assert.rejects(w.deliver('push', { ref: 'refs/heads/main' }), (e: unknown) => isSluiceError(e) && e.code === 'BAD_REQUEST');
    assert.deepEqual([w.calls, w.outbox, w.audit], [[], [], []]);
  });

  it('a push to main builds a release that is not held; a push elsewhere is ignored', async () => {
    const w = world();
    const push = (ref: string) => ({ ref, after: SHA, repository: { full_name: 'acme/shop' } });
    assert.equal((await w.deliver('push', push('refs/heads/dev'), 'p1')).status, 'ignored');
    assert.equal((await w.deliver('push', push('refs/heads/main'), 'p2')).status, 'accepted');
    assert.deepEqual(w.calls, [`checkout bbbb refs/heads/main`, `release main-${SHA.slice(0, 12)} in /tmp/tree/app hold=false`, 'dispose']);
    assert.deepEqual(states(w.outbox), ['github-status:pending', 'github-status:pending']);
  });

  it('takes at most MAX_PENDING_DELIVERIES at once; past it BUSY, and nothing is done for the one refused', async () => {
    let open!: () => void;
    const w = world({ gate: new Promise<void>((r) => (open = r)) });
    const take = (n: number) => {
      const body = JSON.stringify({ ...pr('opened'), number: n });
      return w.service.receive({ event: 'pull_request', delivery: `q${n}`, signature: sign(body) }, body);
    };
    for (let n = 1; n <= MAX_PENDING_DELIVERIES; n++) assert.equal((await take(n)).status, 'accepted');
    await assert.rejects(take(MAX_PENDING_DELIVERIES + 1), (e: unknown) => isSluiceError(e) && e.code === 'BUSY');
    open();
    await w.service.settled();
    assert.equal(w.envs.size, MAX_PENDING_DELIVERIES);
    assert.ok(!w.envs.has(`pr-${MAX_PENDING_DELIVERIES + 1}`));
    assert.equal((await take(MAX_PENDING_DELIVERIES + 1)).status, 'accepted', 'taken once the others are done');
  });
});
