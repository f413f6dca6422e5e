import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isSluiceError } from '../src/kernel/errors.js';
import type { JourneyEvent } from '../src/journeys/journey-events.js';
import { parsePipeline } from '../src/pipeline/pipeline.js';
import type { Notification, NotificationKind } from '../src/notifications/notification.js';
import type { OutboxEntry, Store } from '../src/adapters/store-sql/store.js';

const plan = parsePipeline('app: a\nartifact: { output: d }\nstages:\n  one:\n    local: { start: x }\n');
const created = (version: string): JourneyEvent => ({
  type: 'journey.created',
  release: { version, digest: `sha256:${version}` },
  plan,
});
const note = (kind: NotificationKind): Notification => ({
  kind,
  app: 'a',
  release: '1.0.0',
  stage: 'one',
  step: 'deploy',
  reason: 'exit code 1',
  at: '2026-11-22T00:00:00.000Z',
  links: { journey: 'http://127.0.0.1:7070/api/v1/releases/1.0.0', logs: 'http://127.0.0.1:7070/api/v1/releases/1.0.0/stages/one/logs' },
});
const started = (step: string): JourneyEvent => ({ type: 'step.started', stage: 'one', step, key: `k/${step}` });

/** The contract every Store implementation passes. `open` gives a fresh, empty store. */
export function storeContract(name: string, open: () => Promise<Store>, reopen?: (s: Store) => Promise<Store>) {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    it('creates a release with its first event, once', async () => {
      const r = { version: '1.0.0', digest: 'sha256:aa', createdAt: 1_700_000_000_123, sourceRef: 'main@abc' };
      const first = await store.createRelease(r, created('1.0.0'));
      assert.equal(first.created, true);
      assert.deepEqual(first.release, r);
      const again = await store.createRelease({ ...r, digest: 'sha256:bb' }, created('1.0.0'));
      assert.equal(again.created, false);
      assert.equal(again.release.digest, 'sha256:aa');
      assert.deepEqual(await store.getRelease('1.0.0'), r);
      assert.equal(await store.getRelease('nope'), undefined);
      const events = await store.loadEvents('1.0.0');
      assert.equal(events.length, 1, 'the second create added no event');
      assert.equal(events[0]!.type, 'journey.created');
      assert.equal(events[0]!.seq, 0);
      assert.equal(events[0]!.at, r.createdAt);
      assert.deepEqual((events[0] as { plan: unknown }).plan, plan);
    });

    it('appends after the expected position and rejects a stale writer without writing', async () => {
      const out = await store.appendEvents('1.0.0', 0, [started('a'), started('b')], 1_700_000_001_000);
      assert.deepEqual(
        out.map((e) => [e.seq, e.type, e.journeyId]),
        [
          [1, 'step.started', '1.0.0'],
          [2, 'step.started', '1.0.0'],
        ],
      );
      assert.ok(out[1]!.id > out[0]!.id);
      await assert.rejects(
        store.appendEvents('1.0.0', 1, [started('c')], 0),
        (e) => isSluiceError(e) && e.code === 'CONFLICT',
      );
      assert.equal((await store.loadEvents('1.0.0')).length, 3);
    });

    it('lets exactly one of two concurrent writers at the same position in', async () => {
      const results = await Promise.allSettled([
        store.appendEvents('1.0.0', 2, [started('x')], 1),
        store.appendEvents('1.0.0', 2, [started('y')], 1),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(isSluiceError(rejected.reason) && rejected.reason.code === 'CONFLICT');
      assert.equal((await store.loadEvents('1.0.0')).length, 4);
    });

    it('orders events globally and pages through them', async () => {
      await store.createRelease(
        { version: '2.0.0', digest: 'sha256:cc', createdAt: 1_700_000_002_000 },
        created('2.0.0'),
      );
      await store.appendEvents('2.0.0', 0, [started('a')], 1_700_000_003_000);
      const all = await store.loadEvents();
      assert.equal(all.length, 6);
      assert.deepEqual(
        all.map((e) => e.id),
        [...all.map((e) => e.id)].sort((a, b) => a - b),
      );
      const page1 = await store.eventsAfter(0, 4);
      const page2 = await store.eventsAfter(page1.at(-1)!.id, 4);
      assert.deepEqual([...page1, ...page2], all);
      assert.deepEqual(
        (await store.listReleases()).map((r) => r.version),
        ['1.0.0', '2.0.0'],
      );
    });

    it('keeps tokens by hash', async () => {
      assert.equal(await store.countTokens(), 0);
      await store.createToken({ id: 't1', name: 'admin', hash: 'h1', createdAt: 5 });
      assert.deepEqual(await store.findTokenByHash('h1'), { id: 't1', name: 'admin', hash: 'h1', createdAt: 5 });
      assert.equal(await store.findTokenByHash('h2'), undefined);
      assert.equal(await store.countTokens(), 1);
    });

    it('files notifications once each, moves the outbox cursor only forward, and hands a due one to one sender', async () => {
      const [e1, e2] = await store.loadEvents();
      assert.equal(await store.outboxCursor(), 0);
      const hook = { kind: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
      const slack = { kind: 'slack', url: 'http://127.0.0.1:9/slack' } as const;
      const entries: OutboxEntry[] = [
        { eventId: e1!.id, target: hook, body: note('step-failed') },
        { eventId: e1!.id, target: slack, body: note('step-failed') },
        { eventId: e2!.id, target: hook, body: note('rolled-back') },
      ];
      await store.enqueueNotifications(entries, e2!.id, 1000);
      await store.enqueueNotifications(entries, e1!.id, 2000); // read again from an older cursor: nothing doubles
      assert.equal(await store.outboxCursor(), e2!.id);
      const filed = await store.listNotifications(10);
      assert.deepEqual(
        filed.map((n) => [n.eventId, n.target, n.body.kind, n.status, n.attempts, n.nextAt, n.createdAt]),
        [
          [e2!.id, hook, 'rolled-back', 'pending', 0, 1000, 1000],
          [e1!.id, slack, 'step-failed', 'pending', 0, 1000, 1000],
          [e1!.id, hook, 'step-failed', 'pending', 0, 1000, 1000],
        ],
      );
      assert.deepEqual(filed[2]!.body, entries[0]!.body);
      assert.equal(await store.nextNotificationDue(), 1000);

      assert.deepEqual(await store.claimNotifications(999, 60_999, 10), [], 'nothing is due before its time');
      const [a, b] = await Promise.all([store.claimNotifications(1000, 61_000, 2), store.claimNotifications(1000, 61_000, 2)]);
      const claimed = [...a!, ...b!].map((n) => n.id).sort((x, y) => x - y);
      assert.deepEqual(claimed, filed.map((n) => n.id).sort((x, y) => x - y), 'two senders at once take different rows, all of them');
      assert.deepEqual(await store.claimNotifications(60_000, 120_000, 10), [], 'claimed rows wait for their sender');
      assert.equal(await store.nextNotificationDue(), 61_000);

      const [newest, middle, oldest] = filed.map((n) => n.id);
      await store.settleNotification(oldest!, { status: 'pending', nextAt: 5000, error: 'answered 503' });
      await store.settleNotification(middle!, { status: 'delivered', at: 1500 });
      await store.settleNotification(newest!, { status: 'failed', error: 'answered 404' });
      assert.equal(await store.nextNotificationDue(), 5000);
      const again = await store.claimNotifications(5000, 65_000, 10);
      assert.deepEqual(again.map((n) => [n.id, n.attempts, n.lastError]), [[oldest, 1, 'answered 503']]);
      await store.settleNotification(oldest!, { status: 'delivered', at: 5100 });
      assert.deepEqual(
        (await store.listNotifications(10)).map((n) => [n.status, n.attempts, n.deliveredAt, n.lastError]),
        [
          ['failed', 1, undefined, 'answered 404'],
          ['delivered', 1, 1500, undefined],
          ['delivered', 2, 5100, 'answered 503'],
        ],
      );
      assert.equal(await store.nextNotificationDue(), undefined);
      assert.equal((await store.listNotifications(1)).length, 1);
    });

    it('files one event\'s notifications of one kind for each stage they are about', async () => {
      const [, e2] = await store.loadEvents();
      const hook = { kind: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
      const waits = (stage: string): OutboxEntry => ({ eventId: e2!.id, target: hook, body: { ...note('needs-promotion'), stage } });
      await store.enqueueNotifications([waits('prod-us'), waits('prod-eu'), waits('prod-us')], e2!.id, 9000);
      assert.deepEqual((await store.listNotifications(10)).slice(0, 3).map((n) => [n.body.kind, n.body.stage]), [
        ['needs-promotion', 'prod-eu'],
        ['needs-promotion', 'prod-us'],
        ['rolled-back', 'one'],
      ]);
    });

    if (reopen)
      it('keeps everything across a close and reopen', async () => {
        const before = await store.loadEvents();
        const notes = await store.listNotifications(10);
        const cursor = await store.outboxCursor();
        store = await reopen(store);
        assert.deepEqual(await store.loadEvents(), before);
        assert.equal(await store.countTokens(), 1);
        assert.deepEqual(await store.listNotifications(10), notes);
        assert.equal(await store.outboxCursor(), cursor);
      });
  });
}
