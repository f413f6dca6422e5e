import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { JourneyEvent } from '../journeys/journey-events.js';
import type { Notification } from './notification.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import { Notifier } from './notifier.js';
import { systemActor } from '../kernel/actor.js';

const ENGINE = systemActor('test');
import { DeliveryError, type Post } from './ports/webhook.js';

const plan = parsePipeline(`app: shop
artifact: { output: dist }
notify:
  - webhook: http://hooks.test/generic
  - slack: http://hooks.test/slack
stages:
  staging:
    local: { start: node server.js }
`);
const created: JourneyEvent = { type: 'journey.created', release: { version: '1.0.0', digest: 'sha256:aa' }, plan };
const failedDeploy: JourneyEvent[] = [
  { type: 'stage.entered', stage: 'staging', previous: null },
  { type: 'step.started', stage: 'staging', step: 'deploy', key: '1.0.0/staging/deploy' },
  { type: 'step.finished', stage: 'staging', step: 'deploy', key: '1.0.0/staging/deploy', ok: false, exitCode: 1, reason: 'exit code 1' },
];

let store: MemoryStore;
let now: number;
let sent: { url: string; body: unknown }[];
/** What the receivers answer: nothing thrown is a 2xx. */
let answer: (url: string, signal: AbortSignal) => void | Promise<void>;
let errors: string[];
const post: Post = async (url, body, signal) => {
  await answer(url, signal);
  sent.push({ url, body });
};
const notifier = () => new Notifier({ store, clock: { now: () => now }, apiUrl: () => 'http://sluice.test', post, onError: (e) => errors.push((e as Error).message) });

beforeEach(async () => {
  store = new MemoryStore();
  now = 1_000_000;
  sent = [];
  errors = [];
  answer = () => {};
  await store.createRelease({ version: '1.0.0', digest: 'sha256:aa', createdAt: now, journeyId: '1.0.0' }, created, ENGINE);
});

describe('notification outbox', () => {
  it('sends each failure to every target once, even when the events came before it started or it starts again', async () => {
    await store.appendEvents('1.0.0', 0, failedDeploy, now, ENGINE);
    const n = notifier();
    n.start();
    await n.flush();
    await n.flush();
    assert.deepEqual(sent.map((s) => s.url), ['http://hooks.test/generic', 'http://hooks.test/slack']);
    assert.equal((sent[0]!.body as Notification).reason, 'exit code 1');
    assert.match((sent[1]!.body as { text: string }).text, /^:x: shop 1\.0\.0 at staging \(deploy\) failed: exit code 1 <http:\/\/sluice\.test\//);
    await n.stop();

    const again = notifier();
    again.start();
    await again.flush();
    assert.equal(sent.length, 2, 'a restart sends nothing twice');
    await store.appendEvents('1.0.0', 3, [{ type: 'step.finished', stage: 'staging', step: 'rollback', key: 'rb', ok: true, exitCode: 0 }], now, ENGINE);
    again.handle();
    await again.flush();
    assert.deepEqual(sent.slice(2).map((s) => (s.url.endsWith('generic') ? (s.body as Notification).kind : 'slack')), ['rolled-back', 'slack']);
    await again.stop();
  });

  it('sends a target only the stages and kinds it asked for', async () => {
    const picky = parsePipeline(`app: shop
artifact: { output: dist }
notify:
  - webhook: http://hooks.test/prod-only
    stages: [prod]
  - webhook: http://hooks.test/rollbacks
    on: [rolled-back]
stages:
  staging:
    local: { start: node server.js }
  prod:
    after: staging
    local: { start: node server.js }
`);
    await store.createRelease({ version: '2.0.0', digest: 'sha256:bb', createdAt: now, journeyId: '2.0.0' }, { ...created, release: { version: '2.0.0', digest: 'sha256:bb' }, plan: picky }, ENGINE);
    await store.appendEvents('2.0.0', 0, [
      ...failedDeploy,
      { type: 'step.finished', stage: 'staging', step: 'rollback', key: '2.0.0/staging/rollback', ok: true, exitCode: 0 },
    ], now, ENGINE);
    const n = notifier();
    n.start();
    await n.flush();
    assert.deepEqual(sent.map((s) => [s.url, (s.body as Notification).kind]), [['http://hooks.test/rollbacks', 'rolled-back']]);
    await n.stop();
  });

  it('keeps trying a receiver that is down, 1 s then 2 s later, and records each attempt', async () => {
    await store.appendEvents('1.0.0', 0, failedDeploy, now, ENGINE);
    let down = 2;
    answer = (url) => {
      if (url.endsWith('generic') && down > 0) throw new DeliveryError('http://hooks.test/generic answered 503', false);
    };
    const n = notifier();
    n.start();
    await n.flush();
    const generic = async () => (await store.listNotifications(10)).find((r) => r.target.kind === 'webhook')!;
    assert.deepEqual([(await generic()).status, (await generic()).attempts, (await generic()).nextAt], ['pending', 1, now + 1000]);
    down--;
    await n.flush();
    assert.equal((await generic()).attempts, 1, 'not tried again before it is due');
    now += 1000;
    await n.flush();
    assert.deepEqual([(await generic()).attempts, (await generic()).nextAt, (await generic()).lastError], [2, now + 2000, 'http://hooks.test/generic answered 503']);
    down--;
    now += 2000;
    await n.flush();
    const done = await generic();
    assert.deepEqual([done.status, done.attempts, done.deliveredAt], ['delivered', 3, now]);
    assert.equal(sent.filter((s) => s.url.endsWith('generic')).length, 1);
    assert.deepEqual(errors, []);
    await n.stop();
  });

  it('gives up at once on a receiver that refuses the request, and says so', async () => {
    await store.appendEvents('1.0.0', 0, failedDeploy, now, ENGINE);
    answer = (url) => {
      if (url.endsWith('slack')) throw new DeliveryError('http://hooks.test/… answered 404', true);
    };
    const n = notifier();
    n.start();
    await n.flush();
    const slack = (await store.listNotifications(10)).find((r) => r.target.kind === 'slack')!;
    assert.deepEqual([slack.status, slack.attempts, slack.lastError], ['failed', 1, 'http://hooks.test/… answered 404']);
    assert.deepEqual(errors, ['gave up on a notification to http://hooks.test/…: http://hooks.test/… answered 404']);
    now += 3_600_000;
    await n.flush();
    assert.equal(sent.length, 1, 'only the generic webhook got it; the refused one is not tried again');
    await n.stop();
  });

  it('stops without waiting for a receiver that hangs, and sends that notification first thing after the restart', async () => {
    await store.appendEvents('1.0.0', 0, failedDeploy, now, ENGINE);
    answer = (_url, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const n = notifier();
    n.start();
    while ((await store.nextNotificationDue()) !== now + 60_000) await new Promise((r) => setImmediate(r));
    await n.stop();
    const left = await store.listNotifications(10);
    assert.deepEqual(left.map((r) => [r.status, r.nextAt, r.lastError]), [
      ['pending', now, 'interrupted: Sluice stopped during the delivery'],
      ['pending', now, 'interrupted: Sluice stopped during the delivery'],
    ]);
    answer = () => {};
    const again = notifier();
    again.start();
    await again.flush();
    assert.equal(sent.length, 2);
    await again.stop();
  });

  it('sends what a sender claimed and then died with, once its claim runs out', async () => {
    await store.appendEvents('1.0.0', 0, failedDeploy, now, ENGINE);
    answer = () => new Promise(() => {}); // the receiver never answers, and the sender is never heard of again
    notifier().start();
    while ((await store.nextNotificationDue()) !== now + 60_000) await new Promise((r) => setImmediate(r));
    answer = () => {};
    const n = notifier();
    n.start();
    await n.flush();
    assert.equal(sent.length, 0, 'claimed rows are left to their sender');
    now += 60_000;
    await n.flush();
    assert.deepEqual(sent.map((s) => s.url), ['http://hooks.test/generic', 'http://hooks.test/slack']);
    await n.stop();
  });
});
