import type { StoredEvent } from '../journeys/journey-events.js';
import { applyEvent, type JourneyState, reduceJourney } from '../journeys/journey-reducer.js';
import { redactUrl } from '../kernel/redact.js';
import { MAX_RETRY_GAP_MS, type Notification, nextAttemptAt, notificationsFor, slackPayload, targetWants } from './notification.js';
import type { NotificationOutbox, NotificationRecord, OutboxEntry } from './ports/outbox.js';
import { DeliveryError, type Post } from './ports/webhook.js';
import type { Clock } from '../kernel/clock.js';
import type { JourneyLog } from '../journeys/ports/journey-log.js';

const READ_BATCH = 500;
const SEND_BATCH = 50;
/** How long a claimed notification is left to its sender before anyone may send it again. */
const LEASE_MS = 60_000;
const ERROR_RETRY_MS = 5_000;

export interface NotifierOptions {
  store: NotificationOutbox & Pick<JourneyLog, 'eventsAfter' | 'loadEvents'>;
  clock: Clock;
  /** The API's address, for the links in each notification. */
  apiUrl: () => string;
  /** Delivers one notification (the webhook adapter). */
  post: Post;
  /** Delivers the API calls of targets of another kind (ADR 28: `github`), by kind. */
  deliverers?: Readonly<Record<string, Post>>;
  onError?: (e: unknown) => void;
}

/**
 * The notification outbox. It reads the event log from its cursor, files a notification per target for each failure,
 * rollback and stage left waiting for a person (in the same transaction that moves the cursor), delivers what is due,
 * and retries with backoff for up to a day. Nothing is lost to a crash or a receiver that is down: a restart carries on
 * from the cursor and the pending rows.
 */
export class Notifier {
  private pass: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Journeys whose plan has no notify targets (a journey keeps its plan). */
  private readonly silent = new Set<string>();
  /** Each other journey as the last event read left it. */
  private readonly journeys = new Map<string, JourneyState>();
  /** Aborts deliveries under way when Sluice stops. */
  private readonly stopping = new AbortController();

  constructor(private readonly o: NotifierOptions) {}

  /** Starts: catches up with the event log and sends what is due. Events before the start are read then. */
  start(): void {
    this.running = true;
    this.poke();
  }

  /** Tells the outbox that an event was appended. */
  handle(): void {
    this.poke();
  }

  /** Runs a pass now, or once more after the one under way. Resolves when the outbox has nothing more to do now. */
  flush(): Promise<void> {
    this.poke();
    return this.pass ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.stopping.abort();
    await this.pass;
  }

  private poke(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = (async () => {
      let failed: boolean;
      do {
        this.again = false;
        failed = false;
        try {
          await this.read();
          await this.send();
        } catch (e) {
          failed = true;
          this.o.onError?.(e);
        }
      } while (this.again && this.running);
      // After an error (the store unreachable, say) try again shortly instead of waiting for the next event.
      await this.schedule(failed).catch((e: unknown) => {
        this.o.onError?.(e);
        return this.schedule(true);
      });
    })().finally(() => {
      this.pass = null;
    });
  }

  /** Files the notifications of the events after the cursor. */
  private async read(): Promise<void> {
    const s = this.o.store;
    for (;;) {
      const events = await s.eventsAfter(await s.outboxCursor(), READ_BATCH);
      if (events.length === 0) return;
      const entries: OutboxEntry[] = [];
      for (const e of events) {
        if (this.silent.has(e.journeyId)) continue;
        const { before, after } = await this.around(e);
        if (!after.plan.notify?.length) {
          this.silent.add(e.journeyId);
          this.journeys.delete(e.journeyId);
          continue;
        }
        const notes = notificationsFor(e, before, after, this.o.apiUrl());
        for (const target of after.plan.notify)
          for (const body of notes) if (targetWants(target, body)) entries.push({ eventId: e.id, target, body });
      }
      await s.enqueueNotifications(entries, events.at(-1)!.id, this.o.clock.now());
      if (events.length < READ_BATCH) return;
    }
  }

  /**
   * The journey before and after `e`. The state kept from the last event read is carried forward; the journey's log
   * is read only when that state is not the one right before `e` (the first look, or after a restart).
   */
  private async around(e: StoredEvent): Promise<{ before: JourneyState | undefined; after: JourneyState }> {
    let before = e.seq === 0 ? undefined : this.journeys.get(e.journeyId);
    if (e.seq > 0 && before?.seq !== e.seq - 1) before = reduceJourney((await this.o.store.loadEvents(e.journeyId)).filter((x) => x.seq < e.seq));
    const after = before ? applyEvent(before, e) : reduceJourney([e]);
    this.journeys.set(e.journeyId, after);
    return { before, after };
  }

  /** Delivers what is due, a batch at a time, all of a batch at once. */
  private async send(): Promise<void> {
    for (;;) {
      const now = this.o.clock.now();
      const due = await this.o.store.claimNotifications(now, now + LEASE_MS, SEND_BATCH);
      await Promise.all(due.map((n) => this.deliver(n)));
      if (due.length < SEND_BATCH || !this.running) return;
    }
  }

  private async deliver(n: NotificationRecord): Promise<void> {
    try {
      if (n.target.kind === 'webhook' || n.target.kind === 'slack')
        await this.o.post(n.target.url, n.target.kind === 'slack' ? slackPayload(n.body as Notification) : n.body, this.stopping.signal);
      else {
        const deliver = this.o.deliverers?.[n.target.kind];
        if (!deliver) throw new DeliveryError(`no deliverer for ${n.target.kind} calls in this server`, true);
        await deliver(n.target.url, n.body, this.stopping.signal);
      }
      await this.o.store.settleNotification(n.id, { status: 'delivered', at: this.o.clock.now() });
    } catch (err) {
      const now = this.o.clock.now();
      if (this.stopping.signal.aborted) {
        // Cut short by the stop, not the target's doing: due again as soon as Sluice is back.
        await this.o.store.settleNotification(n.id, { status: 'pending', nextAt: now, error: 'interrupted: Sluice stopped during the delivery' });
        return;
      }
      const error = (err as Error).message;
      const nextAt = nextAttemptAt(n.attempts + 1, n.createdAt, now, err instanceof DeliveryError && err.permanent);
      await this.o.store.settleNotification(n.id, nextAt === undefined ? { status: 'failed', error } : { status: 'pending', nextAt, error });
      if (nextAt === undefined) this.o.onError?.(new Error(`gave up on a notification to ${redactUrl(n.target.url)}: ${error}`));
    }
  }

  /** Wakes up when the next retry (or an expired claim) is due, or soon after an error. */
  private async schedule(afterError: boolean): Promise<void> {
    clearTimeout(this.timer);
    const at = afterError ? this.o.clock.now() + ERROR_RETRY_MS : await this.o.store.nextNotificationDue();
    if (at === undefined || !this.running) return;
    this.timer = setTimeout(() => this.poke(), Math.min(Math.max(0, at - this.o.clock.now()), MAX_RETRY_GAP_MS));
    this.timer.unref();
  }
}
