import { type Command, EXIT } from '../command.js';
import { authApi } from '../../http/contract/auth.js';

export const authCommands: Command[] = [
  {
    name: 'token create',
    args: '<name>',
    summary: 'create an API token (printed once)',
    min: 1,
    max: 1,
    async run(ctx, [name]) {
      const t = await ctx.client().call(authApi.createToken, { body: { name: name! } });
      ctx.print(t, `${t.token}\n${ctx.st.dim(`token "${t.name}" created; it is shown only now. Use it as SLUICE_TOKEN or --token.`)}`);
      return EXIT.ok;
    },
  },
];
