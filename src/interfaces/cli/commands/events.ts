import type { StoredEvent } from '../../../journeys/journey-events.js';
import { journeysApi } from '../../http/contract/journeys.js';
import { type Command, EXIT } from '../command.js';
import { eventLine } from '../event-line.js';

export const eventCommands: Command[] = [
  {
    name: 'events',
    args: '<version>',
    summary: "a release's journey, event by event, each with who caused it: a token, or Sluice and why",
    min: 1,
    max: 1,
    async run(ctx, [version]) {
      const events = (await ctx.client().call(journeysApi.releaseEvents, { params: { version: version! } })) as StoredEvent[];
      ctx.print(events, events.map((e) => eventLine(ctx.st, e, () => version!, true)).join('\n'));
      return EXIT.ok;
    },
  },
];
