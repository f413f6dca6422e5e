import { type Command, EXIT } from '../command.js';
import { notificationsApi } from '../../http/contract/notifications.js';
import { renderNotification } from '../render.js';

export const notificationCommands: Command[] = [
  {
    name: 'notifications',
    args: '',
    summary: 'notifications sent, waiting or given up on, newest first',
    min: 0,
    max: 0,
    async run(ctx) {
      const { notifications } = await ctx.client().call(notificationsApi.list);
      ctx.print(
        notifications,
        notifications.length
          ? notifications.map((n) => renderNotification(ctx.st, n)).join('\n')
          : 'no notifications yet (failures and rollbacks are sent to the notify: targets in sluice.yaml)',
      );
      return EXIT.ok;
    },
  },
];
