import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryEnvironmentStore } from '../adapters/store-memory/memory-environment-store.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { systemActor } from '../kernel/actor.js';
import { ENV_IDLE_AFTER_MS, envExpiresAt, envIdleSince } from './environment.js';
import { EnvironmentService } from './environment-service.js';
import type { EnvironmentSleeper } from './ports/environment-sleeper.js';

// Scale to zero in the environment service (docs/adr/0029), with a clock that jumps and a sleeper that records what it
// was asked; the real sleeper (the local target, the router) is tested on real processes in test/environment-lifecycle.
const pipeline = (idle: string) =>
  parsePipeline(`app: shop
artifact: { output: dist }
defaults:
  local: { start: node server.js }
stages:
  staging: {}
  prod: { after: staging }
${idle}`);

function harness(idle = 'environments: { idleAfter: 10m }') {
  let now = 1_000_000;
  const lines: string[] = [];
  const calls: string[] = [];
  const lastRequest = new Map<string, number>();
  let wakeFails = false;
  const sleeper: EnvironmentSleeper = {
    lastRequestAt: async (s: StagePlan) => lastRequest.get(s.name),
    sleep: async (s) => {
      calls.push(`sleep ${s.name}`);
      return true;
    },
    wake: async (s) => {
      calls.push(`wake ${s.name}`);
      if (wakeFails) throw new Error('instance 0 of 1.0.0 not healthy at /healthz within 20000ms');
    },
  };
  const plan = pipeline(idle);
  const svc = new EnvironmentService({
    store: new MemoryEnvironmentStore(() => {}),
    target: {
      deploy: async () => {},
      rollback: async () => {},
      health: async () => ({ ok: true, detail: '' }),
      url: (s) => `http://${s.name}.shop.localhost:7080`,
      forgetStage: async () => {},
    },
    release: async (version) => ({ version, digest: `sha256:${'a'.repeat(64)}` }),
    workspace: { open: () => ({ log: (l: string) => lines.push(l), logPath: '', runDir: '' }), readLog: () => undefined },
    clock: { now: () => now },
    plan: () => plan,
    sleeper,
  });
  return {
    svc,
    lines,
    calls,
    lastRequest,
    advance: (ms: number) => (now += ms),
    now: () => now,
    failWakes: () => (wakeFails = true),
  };
}

describe('environments: scale to zero', () => {
  const actor = systemActor('test');

  it('sleeps an environment once no request came for idleAfter, counting from its last request, deploy or wake', async () => {
    const h = harness();
    await h.svc.create(actor, { name: 'pr-1', from: 'staging', ref: '1.0.0' });
    h.lastRequest.set('pr-1', h.now());
    h.advance(10 * 60_000 - 1);
    assert.deepEqual(await h.svc.sleepIdle(), [], 'a millisecond short of idleAfter');
    h.lastRequest.set('pr-1', h.now());
    h.advance(10 * 60_000 - 1);
    assert.deepEqual(await h.svc.sleepIdle(), [], 'a request moved the idle time on');
    h.advance(1);
    assert.deepEqual(await h.svc.sleepIdle(), ['pr-1']);
    assert.deepEqual(h.calls, ['sleep pr-1']);
    const v = await h.svc.show('pr-1');
    assert.equal(v.asleep, true);
    assert.equal(v.asleepSince, h.now());
    assert.match(h.lines.join('\n'), /no request for 10m00s \(environments\.idleAfter: 10m00s\): going to sleep/);
    assert.deepEqual(await h.svc.sleepIdle(), [], 'asleep already');
    // Its desired state says asleep: a restart does not start it.
    assert.equal((await h.svc.desired()).find((d) => d.stage === 'pr-1')?.asleep, true);
  });

  it('wakes on a request: awake in its record, the sleeper starts it, and the TTL does not move', async () => {
    const h = harness();
    await h.svc.create(actor, { name: 'pr-2', from: 'staging', ref: '1.0.0', ttlMs: 3_600_000 });
    const expires = (await h.svc.show('pr-2')).expiresAt;
    h.lastRequest.set('pr-2', h.now());
    h.advance(11 * 60_000);
    await h.svc.sleepIdle();
    h.advance(5 * 60_000);
    await h.svc.wake('pr-2');
    const v = await h.svc.show('pr-2');
    assert.equal(v.asleep, false);
    assert.equal(v.wokeAt, h.now());
    assert.equal(v.expiresAt, expires, 'a wake does not reset the TTL');
    assert.deepEqual(h.calls, ['sleep pr-2', 'wake pr-2']);
    assert.match(h.lines.join('\n'), /a request came after 5m00s asleep: waking up/);
    assert.equal((await h.svc.desired()).find((d) => d.stage === 'pr-2')?.asleep, undefined);
    // Idle time counts from the wake: the request that woke it is not yet idleAfter old.
    h.advance(9 * 60_000);
    assert.deepEqual(await h.svc.sleepIdle(), []);
  });

  it('stays asleep when it cannot wake, and says why in its log', async () => {
    const h = harness();
    await h.svc.create(actor, { name: 'pr-3', from: 'staging', ref: '1.0.0' });
    h.lastRequest.set('pr-3', h.now());
    h.advance(ENV_IDLE_AFTER_MS);
    await h.svc.sleepIdle();
    h.failWakes();
    await assert.rejects(h.svc.wake('pr-3'), /not healthy/);
    assert.equal((await h.svc.show('pr-3')).asleep, true);
    assert.match(h.lines.join('\n'), /it could not wake: instance 0 of 1\.0\.0 not healthy/);
  });

  it('a redeploy wakes it; pinned ones sleep too; the default is 15 minutes; no route, no sleep', async () => {
    const h = harness('');
    await h.svc.create(actor, { name: 'pr-4', from: 'staging', ref: '1.0.0' });
    await h.svc.pin('pr-4', true);
    h.advance(ENV_IDLE_AFTER_MS);
    assert.deepEqual(await h.svc.sleepIdle(), [], 'the router has no route for it');
    h.lastRequest.set('pr-4', h.now() - ENV_IDLE_AFTER_MS);
    assert.equal(h.svc.idleAfterMs(), 15 * 60_000);
    assert.deepEqual(await h.svc.sleepIdle(), ['pr-4'], 'pinned, and asleep');
    await h.svc.redeploy('pr-4', undefined);
    assert.equal((await h.svc.show('pr-4')).asleep, false);
    assert.equal(envExpiresAt({ ...(await h.svc.show('pr-4')) }), null);
  });

  it('idle since the last of request, deploy and wake', () => {
    assert.equal(envIdleSince({ deployedAt: 5 }, 3), 5);
    assert.equal(envIdleSince({ deployedAt: 5, wokeAt: 9 }, 7), 9);
    assert.equal(envIdleSince({ deployedAt: 5, wokeAt: 9 }, 12), 12);
  });

  it('refuses an idleAfter under 1s or over 30d, saying where', () => {
    assert.throws(() => pipeline('environments: { idleAfter: 500ms }'), /idleAfter[\s\S]*at least 1s/);
    assert.throws(() => pipeline('environments: { idleAfter: 31d }'), /idleAfter/);
    assert.throws(() => pipeline('environments: { idle: 5m }'), /idle/);
    assert.equal(pipeline('environments: { idleAfter: 2s }').envIdleAfterMs, 2000);
  });
});
