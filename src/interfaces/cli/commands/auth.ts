import { ROLES, type Role } from '../../../kernel/actor.js';
import { type Command, EXIT } from '../command.js';
import { authApi } from '../../http/contract/auth.js';
import type { Output } from '../../http/contract/route.js';
import { UsageError } from '../main.js';
import { pad } from '../style.js';

type TokenView = Output<typeof authApi.listTokens>[number];
/** A time for a table: to the minute, in UTC. */
const when = (ms: number | undefined) => (ms === undefined ? '-' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`);

export const authCommands: Command[] = [
  {
    name: 'token create',
    args: '<name>',
    summary: 'create an API token with a role (printed once); only an admin token may',
    min: 1,
    max: 1,
    options: ['role', 'expires'],
    async run(ctx, [name]) {
      const role = ctx.opts.role;
      if (role === undefined) throw new UsageError(`a token needs --role: ${ROLES.join(', ')}`);
      if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role ${role}: use one of ${ROLES.join(', ')}`);
      const t = await ctx.client().call(authApi.createToken, {
        body: { name: name!, role: role as Role, ...(ctx.opts.expires !== undefined ? { expires: ctx.opts.expires } : {}) },
      });
      const life = t.expiresAt === undefined ? 'it never expires' : `it expires at ${new Date(t.expiresAt).toISOString()}`;
      ctx.print(t, `${t.token}\n${ctx.st.dim(`token "${t.name}" (${t.role}) created; ${life}. It is shown only now: use it as SLUICE_TOKEN or --token.`)}`);
      return EXIT.ok;
    },
  },
  {
    name: 'token list',
    args: '',
    summary: 'API tokens: id, name, role, created, expires, last used, and whether each still works (admin only)',
    min: 0,
    max: 0,
    async run(ctx) {
      const tokens = await ctx.client().call(authApi.listTokens);
      const { st } = ctx;
      const status = (t: TokenView) => (t.status === 'valid' ? st.green('valid') : t.status === 'revoked' ? st.red(`revoked ${when(t.revokedAt)}`) : st.yellow('expired'));
      const rows = [
        ['ID', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS'].map((h) => st.dim(h)),
        ...tokens.map((t) => [t.id, t.name, t.role, when(t.createdAt), t.expiresAt === undefined ? 'never' : when(t.expiresAt), when(t.lastUsedAt), status(t)]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.replace(/\u001b\[[0-9;]*m/g, '').length)) + 2);
      ctx.print(tokens, rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]!))).join('')).join('\n'));
      return EXIT.ok;
    },
  },
  {
    name: 'token revoke',
    args: '<name|id>',
    summary: 'revoke a token: it stops working at once (admin only; the last admin token is kept)',
    min: 1,
    max: 1,
    async run(ctx, [ref]) {
      const t = await ctx.client().call(authApi.revokeToken, { params: { token: ref! }, body: {} });
      ctx.print(t, `${ctx.st.green('✓')} token "${t.name}" (${t.role}, ${t.id}) revoked`);
      return EXIT.ok;
    },
  },
];
