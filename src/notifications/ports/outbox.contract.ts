import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Notification, NotificationKind } from '../notification.js';
import type { NotificationOutbox, OutboxEntry } from './outbox.js';

const E1 = 101;
const E2 = 102;
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

/** The contract of the NotificationOutbox port. `open` gives a fresh outbox over an empty event log. */
type Outbox = NotificationOutbox & { close(): Promise<void> };

export function outboxContract(name: string, open: () => Promise<Outbox>, reopen?: (s: Outbox) => Promise<Outbox>) {
  describe(`notification outbox contract: ${name}`, () => {
    let store: Outbox;
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    it('files notifications once each, moves the outbox cursor only forward, and hands a due one to one sender', async () => {
      assert.equal(await store.outboxCursor(), 0);
      const hook = { kind: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
      const slack = { kind: 'slack', url: 'http://127.0.0.1:9/slack' } as const;
      const entries: OutboxEntry[] = [
        { eventId: E1, target: hook, body: note('step-failed') },
        { eventId: E1, target: slack, body: note('step-failed') },
        { eventId: E2, target: hook, body: note('rolled-back') },
      ];
      await store.enqueueNotifications(entries, E2, 1000);
      await store.enqueueNotifications(entries, E1, 2000); // read again from an older cursor: nothing doubles
      assert.equal(await store.outboxCursor(), E2);
      const filed = await store.listNotifications(10);
      assert.deepEqual(
        filed.map((n) => [n.eventId, n.target, n.body.kind, n.status, n.attempts, n.nextAt, n.createdAt]),
        [
          [E2, hook, 'rolled-back', 'pending', 0, 1000, 1000],
          [E1, slack, 'step-failed', 'pending', 0, 1000, 1000],
          [E1, hook, 'step-failed', 'pending', 0, 1000, 1000],
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
      const hook = { kind: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
      const waits = (stage: string): OutboxEntry => ({ eventId: E2, target: hook, body: { ...note('needs-promotion'), stage } });
      await store.enqueueNotifications([waits('prod-us'), waits('prod-eu'), waits('prod-us')], E2, 9000);
      assert.deepEqual((await store.listNotifications(10)).slice(0, 3).map((n) => [n.body.kind, n.body.stage]), [
        ['needs-promotion', 'prod-eu'],
        ['needs-promotion', 'prod-us'],
        ['rolled-back', 'one'],
      ]);
    });

    if (reopen)
      it('keeps notifications and the cursor across a close and reopen', async () => {
        const notes = await store.listNotifications(10);
        const cursor = await store.outboxCursor();
        store = await reopen(store);
        assert.deepEqual(await store.listNotifications(10), notes);
        assert.equal(await store.outboxCursor(), cursor);
      });
  });
}
