import type { z } from 'zod';
import { SluiceError } from '../../../kernel/errors.js';
import { environmentsApi } from '../../http/contract/environments.js';
import { type CliContext, type Command, EXIT } from '../command.js';

type Env = z.infer<typeof environmentsApi.show.response>;

const when = (t: number | null) => (t === null ? 'never (pinned)' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z'));
const why = (ctx: CliContext) => (ctx.opts.reason ? { reason: ctx.opts.reason } : {});

/** One environment on one line: name, status, build, address, expiry. */
function line(ctx: CliContext, e: Env): string {
  const status = e.status === 'ready' ? ctx.st.green(e.status) : e.status === 'failed' ? ctx.st.red(e.status) : ctx.st.yellow(e.status);
  return `${e.name.padEnd(24)} ${status.padEnd(10)} ${e.release.version.padEnd(12)} ${e.url ?? ''}  from ${e.source}, expires ${when(e.expiresAt)}${awake(ctx, e)}`;
}

/** Scale to zero (docs/adr/0029): "asleep since …" or "awake", for a ready environment. */
function awake(ctx: CliContext, e: Env): string {
  if (e.status !== 'ready') return '';
  return e.asleep && e.asleepSince !== undefined ? `, ${ctx.st.dim(`asleep since ${when(e.asleepSince)}`)}` : ', awake';
}

/** `K=V,K2=V2` → the env overrides. */
function overrides(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new SluiceError('BAD_REQUEST', `--set takes K=V pairs separated by commas, not ${JSON.stringify(part)}`);
    out[part.slice(0, i).trim()] = part.slice(i + 1);
  }
  return out;
}

function needName(name: string | undefined, cmd: string): string {
  if (!name) throw new SluiceError('BAD_REQUEST', `sluice env ${cmd} needs the environment's name (sluice env list shows them)`);
  return name;
}

export const environmentCommands: Command[] = [
  {
    name: 'env create',
    args: '[name]',
    summary: 'make an environment from a stage (--from staging) running a release (--ref 1.2.0) at its own address; the name defaults from --pr or --branch',
    min: 0,
    max: 1,
    options: ['from', 'ref', 'branch', 'pr', 'ttl', 'set', 'reason'],
    async run(ctx, [name]) {
      if (!ctx.opts.from || !ctx.opts.ref) throw new SluiceError('BAD_REQUEST', 'sluice env create needs --from <stage> and --ref <release>');
      const pr = ctx.opts.pr === undefined ? undefined : Number(ctx.opts.pr);
      if (pr !== undefined && !(Number.isInteger(pr) && pr > 0)) throw new SluiceError('BAD_REQUEST', `--pr is a pull request's number, not ${ctx.opts.pr}`);
      const env = overrides(ctx.opts.set);
      const e = await ctx.client().call(environmentsApi.create, {
        body: {
          from: ctx.opts.from,
          ref: ctx.opts.ref,
          ...(name ? { name } : {}),
          ...(ctx.opts.branch ? { branch: ctx.opts.branch } : {}),
          ...(pr !== undefined ? { pr } : {}),
          ...(env ? { env } : {}),
          ...(ctx.opts.ttl ? { ttl: ctx.opts.ttl } : {}),
          ...why(ctx),
        },
      });
      if (e.status === 'failed') {
        ctx.print(e, `${ctx.st.red('✗')} environment ${e.name} was made, but its deploy of ${e.release.version} failed: ${e.reason ?? ''}\n${ctx.st.dim(`sluice env logs ${e.name} shows the deploy's log`)}`);
        return EXIT.failed;
      }
      ctx.print(e, `${ctx.st.green('✓')} environment ${e.name} serves ${e.release.version} at ${e.url ?? '(no address)'} (a clone of ${e.source}; expires ${when(e.expiresAt)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'env list',
    args: '',
    summary: 'every environment: status, release, address and when it expires',
    min: 0,
    max: 0,
    async run(ctx) {
      const all = await ctx.client().call(environmentsApi.list);
      ctx.print(all, all.length ? all.map((e) => line(ctx, e)).join('\n') : 'no environments: make one with sluice env create <name> --from staging --ref <release>');
      return EXIT.ok;
    },
  },
  {
    name: 'env show',
    args: '<name>',
    summary: 'one environment, with its overrides and its last deploy',
    min: 1,
    max: 1,
    async run(ctx, [name]) {
      const e = await ctx.client().call(environmentsApi.show, { params: { name: needName(name, 'show') } });
      const lines = [
        line(ctx, e),
        `  made ${when(e.createdAt)} by ${e.createdBy}${e.pr !== undefined ? ` for PR #${e.pr}` : ''}${e.branch ? ` for branch ${e.branch}` : ''}`,
        `  deploy ${e.deploys} at ${when(e.deployedAt)}${e.reason ? `: ${ctx.st.red(e.reason)}` : ''}`,
        ...(Object.keys(e.env).length ? [`  env overrides: ${Object.keys(e.env).join(', ')}`] : []),
        ...(e.review ? [`  review: ${e.review.verdict} (${e.review.version}) by ${e.review.by} at ${when(e.review.at)}${e.review.comment ? `: ${e.review.comment}` : ''}`] : []),
      ];
      ctx.print(e, lines.join('\n'));
      return EXIT.ok;
    },
  },
  {
    name: 'env logs',
    args: '<name>',
    summary: "the log of an environment's last deploy",
    min: 1,
    max: 1,
    async run(ctx, [name]) {
      const r = await ctx.client().call(environmentsApi.logs, { params: { name: needName(name, 'logs') } });
      ctx.print(r, r.log.trimEnd() || `environment ${r.name}'s deploy ${r.deploy} has written nothing`);
      return EXIT.ok;
    },
  },
  {
    name: 'env redeploy',
    args: '<name>',
    summary: 'deploy a release (--ref; the same one by default) to an environment again; its TTL starts again',
    min: 1,
    max: 1,
    options: ['ref', 'reason'],
    async run(ctx, [name]) {
      const e = await ctx.client().call(environmentsApi.redeploy, { params: { name: needName(name, 'redeploy') }, body: { ...(ctx.opts.ref ? { ref: ctx.opts.ref } : {}), ...why(ctx) } });
      if (e.status === 'failed') {
        ctx.print(e, `${ctx.st.red('✗')} the deploy of ${e.release.version} to ${e.name} failed: ${e.reason ?? ''}`);
        return EXIT.failed;
      }
      ctx.print(e, `${ctx.st.green('✓')} environment ${e.name} serves ${e.release.version} at ${e.url ?? '(no address)'}; expires ${when(e.expiresAt)}`);
      return EXIT.ok;
    },
  },
  ...(['pin', 'unpin'] as const).map(
    (verb): Command => ({
      name: `env ${verb}`,
      args: '<name>',
      summary: verb === 'pin' ? 'keep an environment: it never expires until unpinned' : 'let an environment expire again, its TTL counted from its last deploy',
      min: 1,
      max: 1,
      options: ['reason'],
      async run(ctx, [name]) {
        const e = await ctx.client().call(environmentsApi.pin, { params: { name: needName(name, verb) }, body: { pinned: verb === 'pin', ...why(ctx) } });
        ctx.print(e, `${ctx.st.green('✓')} environment ${e.name} ${verb === 'pin' ? 'pinned' : 'unpinned'}; expires ${when(e.expiresAt)}`);
        return EXIT.ok;
      },
    }),
  ),
  {
    name: 'env destroy',
    args: '<name>',
    summary: 'take an environment down and remove everything it made',
    min: 1,
    max: 1,
    options: ['reason'],
    async run(ctx, [name]) {
      const r = await ctx.client().call(environmentsApi.destroy, { params: { name: needName(name, 'destroy') }, body: why(ctx) });
      ctx.print(r, `${ctx.st.green('✓')} environment ${r.name} destroyed`);
      return EXIT.ok;
    },
  },
  // Review (ADR 27): the delivery lead's verdict, and an approve's promotion.
  {
    name: 'env review',
    args: '<name>',
    summary: "record a delivery lead's verdict on an environment's build: --approve (promotes it to the source stage and destroys the environment; --no-promote, --keep) or --request-changes --comment \"...\"",
    min: 1,
    max: 1,
    options: ['approve', 'request-changes', 'comment', 'no-promote', 'keep'],
    async run(ctx, [name]) {
      const o = ctx.opts;
      if (!!o.approve === !!o['request-changes']) throw new SluiceError('BAD_REQUEST', 'sluice env review needs one of --approve or --request-changes');
      if (o['request-changes'] && (o['no-promote'] || o.keep)) throw new SluiceError('BAD_REQUEST', '--no-promote and --keep go with --approve only');
      const r = await ctx.client().call(environmentsApi.review, {
        params: { name: needName(name, 'review') },
        body: {
          verdict: o.approve ? 'approved' : 'changes-requested',
          ...(o.comment !== undefined ? { comment: o.comment } : {}),
          ...(o['no-promote'] ? { promote: false } : {}),
          ...(o.keep ? { keep: true } : {}),
        },
      });
      const what = r.review.verdict === 'approved' ? `approved ${r.review.version}` : `asked for changes to ${r.review.version}`;
      const lines = [`${ctx.st.green('✓')} ${r.review.by} ${what} in environment ${r.name}${r.review.comment ? `: ${r.review.comment}` : ''}`];
      if (r.promotion)
        lines.push(
          r.promotion.outcome === 'promoted'
            ? `  promoted to ${r.promotion.stage} (${r.promotion.status === 'ready' ? 'queued in its lane, or about to deploy' : r.promotion.status}); sluice status shows it`
            : `  already on its way to ${r.promotion.stage} (${r.promotion.status}); nothing to promote`,
        );
      if (r.destroyed) lines.push(`  environment ${r.name} destroyed`);
      ctx.print(r, lines.join('\n'));
      return EXIT.ok;
    },
  },
  {
    name: 'env extend',
    args: '<name>',
    summary: "start an environment's TTL again from now, without a deploy",
    min: 1,
    max: 1,
    options: ['reason'],
    async run(ctx, [name]) {
      const e = await ctx.client().call(environmentsApi.extend, { params: { name: needName(name, 'extend') }, body: why(ctx) });
      ctx.print(e, `${ctx.st.green('✓')} environment ${e.name} expires ${when(e.expiresAt)}`);
      return EXIT.ok;
    },
  },
];
