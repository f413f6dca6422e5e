import { z } from 'zod';
import type { Notification } from '../../../notifications/notification.js';
import type { ApiCall } from '../../../notifications/ports/outbox.js';
import { defineRoute } from './route.js';

export const notificationsApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/notifications',
    summary: 'Notifications sent, waiting or given up on, newest first; webhook addresses are cut to scheme and host',
    tag: 'notifications',
    auth: 'none',
    query: z.object({
      limit: z
        .string()
        .refine((v) => /^\d{1,4}$/.test(v) && Number(v) >= 1 && Number(v) <= 1000, { error: (i) => `a whole number from 1 to 1000, not ${JSON.stringify(i.input)}` })
        .optional(),
    }),
    response: z.object({
      notifications: z.array(
        z.object({
          id: z.number(),
          eventId: z.number(),
          target: z.object({ kind: z.enum(['webhook', 'slack', 'github']), url: z.string() }),
          body: z.custom<Notification | ApiCall>().describe('the notification: kind, app, release, stage, step, reason, at, links; or, for a github target, the API call (ADR 28)'),
          status: z.enum(['pending', 'delivered', 'failed']),
          attempts: z.number(),
          nextAt: z.number().optional().describe('when it is tried again, while it waits'),
          lastError: z.string().optional(),
          createdAt: z.number(),
          deliveredAt: z.number().optional(),
        }),
      ),
    }),
  }),
};
