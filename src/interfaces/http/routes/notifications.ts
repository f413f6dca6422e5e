import { redactUrl } from '../../../kernel/redact.js';
import { notificationsApi } from '../contract/notifications.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

export function notificationsRoutes(r: Registrar, d: ApiDeps): void {
  r.route(notificationsApi.list, async ({ query }) => {
    const list = await d.store.listNotifications(Number(query.limit ?? '100'));
    // nextAt means something only while a notification waits; the rest is the time of a claim.
    return {
      notifications: list.map(({ nextAt, ...n }) => ({
        ...n,
        ...(n.status === 'pending' ? { nextAt } : {}),
        target: { kind: n.target.kind, url: redactUrl(n.target.url) },
      })),
    };
  });
}
