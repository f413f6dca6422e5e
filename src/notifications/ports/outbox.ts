import type { Notification } from '../notification.js';
import type { NotifyTarget } from '../../pipeline/pipeline.js';

export type { Notification } from '../notification.js';
export type { NotifyTarget } from '../../pipeline/pipeline.js';

/**
 * A call to a service's API that goes through the outbox too (ADR 28: commit statuses and deployments to GitHub):
 * `kind` and `stage` file it as a notification's do; the deliverer of its target's kind reads the rest.
 */
export interface ApiCall {
  kind: string;
  stage: string;
  [field: string]: unknown;
}

/** Where an API call goes: `kind` picks its deliverer (NotifierOptions.deliverers); `url` is the call's address. */
export interface ApiTarget {
  kind: 'github';
  url: string;
}

/** A notification to send to one target, made by one event (or an API call, made by what happened). */
export type OutboxEntry =
  | { eventId: number; target: NotifyTarget; body: Notification }
  | { eventId: number; target: ApiTarget; body: ApiCall };

/**
 * A notification in the outbox:
 * - pending: not delivered yet; tried again at `nextAt`;
 * - delivered: the target answered 2xx;
 * - failed: given up on (refused for good, or still failing a day later); `lastError` says why.
 */
export type NotificationRecord = OutboxEntry & NotificationRecordFields;

/** What the outbox keeps of each entry besides the entry. */
export interface NotificationRecordFields {
  id: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: number;
  lastError?: string;
  createdAt: number;
  deliveredAt?: number;
}

/** The outcome of one delivery attempt. */
export type DeliveryOutcome =
  | { status: 'delivered'; at: number }
  | { status: 'pending'; nextAt: number; error: string }
  | { status: 'failed'; error: string };

/** The durable outbox notifications go through. */
export interface NotificationOutbox {
  /** The id of the last event the outbox has read (it starts at the newest event when the outbox is created). */
  outboxCursor(): Promise<number>;
  /** Adds notifications (each event, kind, stage and target at most once) and moves the cursor up to `upTo`, together. */
  enqueueNotifications(entries: OutboxEntry[], upTo: number, at: number): Promise<void>;
  /**
   * Takes up to `limit` pending notifications due at `now`, oldest first, and makes them due again only at
   * `leaseUntil`: nobody else sends them meanwhile, and if the sender dies they come due again.
   */
  claimNotifications(now: number, leaseUntil: number, limit: number): Promise<NotificationRecord[]>;
  /** Records one delivery attempt. */
  settleNotification(id: number, outcome: DeliveryOutcome): Promise<void>;
  /** When the next pending notification is due, if any is. */
  nextNotificationDue(): Promise<number | undefined>;
  /** The newest notifications first. */
  listNotifications(limit: number): Promise<NotificationRecord[]>;
}
