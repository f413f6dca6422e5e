import type { z } from 'zod';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FLAG_LIMITS } from '../../../flags/flag-model.js';
import { FLAGS_FILE } from '../../../flags/flags-file.js';
import { SluiceError } from '../../../kernel/errors.js';
import { flagsApi } from '../../http/contract/flags.js';
import { type CliContext, type Command, EXIT, type OptionName } from '../command.js';

/** Options every change takes: why, and what it relates to. */
const WHY: OptionName[] = ['reason', 'release', 'journey'];
const why = (ctx: CliContext) => ({
  ...(ctx.opts.reason ? { reason: ctx.opts.reason } : {}),
  ...(ctx.opts.release ? { release: ctx.opts.release } : {}),
  ...(ctx.opts.journey ? { journey: ctx.opts.journey } : {}),
});

/** A file's text, within the flag set's limit; a clear error naming the file otherwise. */
function readText(ctx: CliContext, path: string): string {
  const full = resolve(ctx.cwd, path);
  if (!existsSync(full)) throw new SluiceError('BAD_REQUEST', `${path}: no such file`);
  const size = statSync(full).size;
  if (size > FLAG_LIMITS.documentBytes) throw new SluiceError('TOO_LARGE', `${path} is ${size} bytes, more than the limit of ${FLAG_LIMITS.documentBytes}`);
  return readFileSync(full, 'utf8');
}

/** JSON given inline, or the name of a file holding it; `what` names the option in errors. */
function jsonArg(ctx: CliContext, value: string, what: string): unknown {
  const inline = /^\s*[[{"]|^\s*(null|true|false|-?\d)/.test(value);
  const text = inline ? value : readText(ctx, value);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SluiceError('BAD_REQUEST', `${what}${inline ? '' : ` (${value})`} is not valid JSON: ${(e as Error).message}`);
  }
}

function needStage(ctx: CliContext, cmd: string): string {
  if (!ctx.opts.stage) throw new SluiceError('BAD_REQUEST', `sluice ${cmd} needs --stage (one of the pipeline's stages)`);
  return ctx.opts.stage;
}

const when = (t: number | null | undefined) => (t === null || t === undefined ? 'never' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z'));
const revs = (r: { revisions: Record<string, number> }) => Object.entries(r.revisions).map(([s, n]) => `${s}@${n}`).join(', ') || 'no stage';

type RampStatus = z.infer<typeof flagsApi.rampStatus.response>;

/** A ramp for people: its steps, where it is, how its variants are measured, its next judgement and last verdicts. */
function rampLines(r: Pick<RampStatus, 'plan' | 'run'>, info: { measurement: string; nextJudgementAt: number | null } | undefined): string[] {
  const p = r.plan;
  const steps = p.steps.map((s, i) => (r.run && r.run.status !== 'regressed' && i === r.run.step ? `[${s}]` : String(s))).join(' → ');
  const run = r.run;
  const where = run ? `${run.status} at ${run.percent} % ${p.treatment} (step ${run.step + 1} of ${p.steps.length})` : 'declared, not started';
  return [
    `  ramp: ${where}; ${p.treatment} vs ${p.control}, steps ${steps} %, wait ${Math.round(p.waitMs / 1000)}s each, on regression ${p.onRegression === 'zero' ? 'back to 0 %' : 'pause'}`,
    `  measured by: ${info?.measurement ?? ''}`,
    ...(info?.nextJudgementAt ? [`  next judgement: ${when(info.nextJudgementAt)}`] : []),
    ...(run?.reason ? [`  why: ${run.reason}`] : []),
    ...(run?.verdicts ?? []).slice(-3).map((v) => `  verdict at ${v.percent} % (${when(v.at)}): ${v.outcome}${v.score !== null ? ` score ${v.score}` : ''}: ${v.reason}`),
  ];
}

export const flagCommands: Command[] = [
  {
    name: 'flags list',
    args: '',
    summary: 'every flag, on or off in each stage, with its default variant, rules and a ramp in progress',
    min: 0,
    max: 0,
    async run(ctx) {
      const r = await ctx.client().call(flagsApi.list);
      const lines = r.map((f) => {
        const stages = Object.entries(f.stages).map(([s, v]) => {
          const run = v.ramp?.run;
          // A ramp that still decides what the stage serves: where it is.
          const ramp = run && run.status !== 'completed' && run.status !== 'aborted' ? ` (ramp ${run.percent}% ${v.ramp!.plan.treatment}, ${run.status})` : '';
          return `${s}: ${v.state === 'ENABLED' ? ctx.st.green('on') : ctx.st.dim('off')}${v.state === 'ENABLED' ? ` ${v.defaultVariant}${v.targeting !== undefined ? '+rules' : ''}` : ''}${ramp}`;
        });
        return `${f.key.padEnd(28)} ${f.type.padEnd(8)} ${stages.join('  ')}`;
      });
      ctx.print(r, lines.length ? lines.join('\n') : 'no flags yet: declare one with `sluice flags create KEY --type boolean --variants \'{"on":true,"off":false}\'` or in sluice.flags.yaml');
      return EXIT.ok;
    },
  },
  {
    name: 'flags show',
    args: '<key>',
    summary: 'one flag: its variants, and per stage its state, default, targeting, last change and evaluations',
    min: 1,
    max: 1,
    async run(ctx, [key]) {
      const f = await ctx.client().call(flagsApi.show, { params: { key: key! } });
      const lines = [
        `${ctx.st.bold(f.key)} (${f.type})${f.owner ? ` owned by ${f.owner}` : ''}${f.description ? `: ${f.description}` : ''}`,
        `variants: ${Object.entries(f.variants).map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')}`,
        ...Object.entries(f.stages).map(([s, v]) =>
          [
            `${s}: ${v.state === 'ENABLED' ? 'on' : 'off'}, default ${v.defaultVariant}${v.fromFile ? ' (as the flags file says)' : ''}, changed ${when(v.changedAt)}, last evaluated ${when(v.lastEvaluatedAt)}`,
            ...(v.targeting !== undefined ? [`  targeting: ${JSON.stringify(v.targeting)}`] : []),
            ...(v.ramp ? rampLines(v.ramp, v.rampInfo) : []),
            ...(Object.keys(v.evaluations).length ? [`  evaluations: ${Object.entries(v.evaluations).map(([n, c]) => `${n} ${c}`).join(', ')}`] : []),
          ].join('\n'),
        ),
      ];
      ctx.print(f, lines.join('\n'));
      return EXIT.ok;
    },
  },
  {
    name: 'flags create',
    args: '<key>',
    summary: 'declare a flag (off in every stage until set): --type, --variants JSON, --description, --owner',
    min: 1,
    max: 1,
    options: ['type', 'variants', 'description', 'owner', ...WHY],
    async run(ctx, [key]) {
      const type = ctx.opts.type ?? 'boolean';
      if (!['boolean', 'string', 'number', 'object'].includes(type)) throw new SluiceError('BAD_REQUEST', `--type is boolean, string, number or object, not ${type}`);
      const variants = ctx.opts.variants ? jsonArg(ctx, ctx.opts.variants, '--variants') : type === 'boolean' ? { on: true, off: false } : undefined;
      if (variants === undefined) throw new SluiceError('BAD_REQUEST', `a ${type} flag needs --variants, e.g. '{"a": ..., "b": ...}'`);
      const r = await ctx.client().call(flagsApi.create, {
        body: {
          key: key!,
          type: type as 'boolean',
          variants: variants as Record<string, unknown>,
          ...(ctx.opts.description ? { description: ctx.opts.description } : {}),
          ...(ctx.opts.owner ? { owner: ctx.opts.owner } : {}),
          ...why(ctx),
        },
      });
      ctx.print(r, `${ctx.st.green('✓')} flag ${key} declared, off in every stage (${revs(r)}); turn it on with sluice flags set ${key} --stage STAGE --on`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags update',
    args: '<key>',
    summary: "change a flag's declaration: --type, --variants JSON, --description, --owner",
    min: 1,
    max: 1,
    options: ['type', 'variants', 'description', 'owner', ...WHY],
    async run(ctx, [key]) {
      const o = ctx.opts;
      const r = await ctx.client().call(flagsApi.update, {
        params: { key: key! },
        body: {
          ...(o.type ? { type: o.type as 'boolean' } : {}),
          ...(o.variants ? { variants: jsonArg(ctx, o.variants, '--variants') as Record<string, unknown> } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
          ...(o.owner !== undefined ? { owner: o.owner } : {}),
          ...why(ctx),
        },
      });
      ctx.print(r, `${ctx.st.green('✓')} flag ${key} updated (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags remove',
    args: '<key>',
    summary: 'remove a flag from every stage',
    min: 1,
    max: 1,
    options: WHY,
    async run(ctx, [key]) {
      const r = await ctx.client().call(flagsApi.remove, { params: { key: key! }, body: why(ctx) });
      ctx.print(r, `${ctx.st.green('✓')} flag ${key} removed (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags set',
    args: '<key>',
    summary: 'change a flag in one stage: --stage S [--on|--off] [--default V] [--targeting FILE|JSON|null]',
    min: 1,
    max: 1,
    options: ['stage', 'on', 'off', 'default', 'targeting', ...WHY],
    async run(ctx, [key]) {
      const o = ctx.opts;
      const stage = needStage(ctx, 'flags set');
      if (o.on && o.off) throw new SluiceError('BAD_REQUEST', 'give --on or --off, not both');
      if (!o.on && !o.off && o.default === undefined && o.targeting === undefined)
        throw new SluiceError('BAD_REQUEST', 'nothing to change: give --on, --off, --default or --targeting');
      const r = await ctx.client().call(flagsApi.set, {
        params: { stage, key: key! },
        body: {
          ...(o.on ? { state: 'ENABLED' as const } : o.off ? { state: 'DISABLED' as const } : {}),
          ...(o.default !== undefined ? { defaultVariant: o.default } : {}),
          ...(o.targeting !== undefined ? { targeting: jsonArg(ctx, o.targeting, '--targeting') } : {}),
          ...why(ctx),
        },
      });
      ctx.print(r, `${ctx.st.green('✓')} flag ${key} in ${stage} changed (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags segment',
    args: '<name>',
    summary: "set a stage's segment, a rule flags use as {\"$ref\": name}: --stage S --rule FILE|JSON (null removes it)",
    min: 1,
    max: 1,
    options: ['stage', 'rule', ...WHY],
    async run(ctx, [name]) {
      const stage = needStage(ctx, 'flags segment');
      if (ctx.opts.rule === undefined) {
        const all = await ctx.client().call(flagsApi.segments, { params: { stage } });
        if (!Object.hasOwn(all, name!)) throw new SluiceError('NOT_FOUND', `stage ${stage} has no segment ${name}; set it with --rule`);
        ctx.print(all[name!], JSON.stringify(all[name!], null, 2));
        return EXIT.ok;
      }
      const r = await ctx.client().call(flagsApi.setSegment, { params: { stage, name: name! }, body: { rule: jsonArg(ctx, ctx.opts.rule, '--rule'), ...why(ctx) } });
      ctx.print(r, `${ctx.st.green('✓')} segment ${name} of ${stage} ${ctx.opts.rule.trim() === 'null' ? 'removed' : 'set'} (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags copy',
    args: '[key...]',
    summary: "copy a stage's flag rules (all, or the keys named) and segments to another stage: --from A --to B",
    min: 0,
    max: 1000,
    options: ['from', 'to', ...WHY],
    async run(ctx, keys) {
      if (!ctx.opts.from || !ctx.opts.to) throw new SluiceError('BAD_REQUEST', 'sluice flags copy needs --from STAGE and --to STAGE');
      const body = { from: ctx.opts.from, to: ctx.opts.to, ...(keys.length ? { flags: keys } : {}), ...why(ctx) };
      const r = await ctx.client().call(flagsApi.copy, { body });
      ctx.print(r, `${ctx.st.green('✓')} ${keys.length ? keys.join(', ') : 'every flag'} copied from ${ctx.opts.from} to ${ctx.opts.to} (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags history',
    args: '[key]',
    summary: 'changes of flags (of one flag; --stage: of one stage), newest last: who, when, why, release or journey',
    min: 0,
    max: 1,
    options: ['stage', 'limit'],
    async run(ctx, [key]) {
      const r = await ctx.client().call(flagsApi.history, {
        query: {
          ...(key ? { flag: key } : {}),
          ...(ctx.opts.stage ? { stage: ctx.opts.stage } : {}),
          ...(ctx.opts.limit ? { limit: ctx.opts.limit } : {}),
        },
      });
      const lines = r.map((e) => {
        const actor = e.actor as { kind: string; name?: string; reason?: string };
        const links = Object.entries(e.links).map(([k, v]) => `${k} ${v}`).join(', ');
        return `${when(e.at)}  ${e.type.padEnd(14)} ${[e.stage, e.flag].filter(Boolean).join('/').padEnd(24)} by ${actor.kind === 'token' ? actor.name : 'sluice'}${e.reason ? `: ${e.reason}` : ''}${links ? ctx.st.dim(` (${links})`) : ''}`;
      });
      ctx.print(r, lines.length ? lines.join('\n') : 'no changes yet');
      return EXIT.ok;
    },
  },
  {
    name: 'flags import',
    args: '<file>',
    summary: 'read a flagd flag set (JSON) into a stage: --stage S',
    min: 1,
    max: 1,
    options: ['stage', ...WHY],
    async run(ctx, [file]) {
      const stage = needStage(ctx, 'flags import');
      const doc = jsonArg(ctx, file!.startsWith('{') ? `./${file}` : file!, file!) as { flags: Record<string, unknown> };
      const r = await ctx.client().call(flagsApi.importFlagd, { params: { stage }, body: { document: doc, ...why(ctx) } });
      ctx.print(r, `${ctx.st.green('✓')} ${Object.keys(doc.flags ?? {}).length} flag(s) from ${file} imported into ${stage} (${revs(r)})`);
      return EXIT.ok;
    },
  },
  {
    name: 'flags export',
    args: '',
    summary: "a stage's flag set as flagd JSON, what the data plane serves: --stage S [--out FILE]",
    min: 0,
    max: 0,
    options: ['stage', 'out'],
    async run(ctx) {
      const stage = needStage(ctx, 'flags export');
      const doc = await ctx.client().call(flagsApi.exportFlagd, { params: { stage } });
      const text = `${JSON.stringify(doc, null, 2)}\n`;
      if (ctx.opts.out) {
        writeFileSync(resolve(ctx.cwd, ctx.opts.out), text);
        ctx.err(ctx.st.dim(`${Object.keys(doc.flags).length} flag(s) of ${stage} written to ${ctx.opts.out}`));
      } else ctx.write(text);
      return EXIT.ok;
    },
  },
  {
    name: 'flags apply',
    args: '[file]',
    summary: `apply the flags file (default ${FLAGS_FILE} beside the pipeline file, or --file): entries changed since last applied win over run-time changes`,
    min: 0,
    max: 1,
    options: WHY,
    async run(ctx, [given]) {
      const file = given ?? (ctx.opts.file && !/sluice\.ya?ml$/.test(ctx.opts.file) ? ctx.opts.file : join(dirname(ctx.config().pipelineFile), FLAGS_FILE));
      const shown = given ?? ctx.opts.file ?? FLAGS_FILE;
      const r = await ctx.client().call(flagsApi.apply, { body: { text: readText(ctx, file), file: shown.slice(-256), ...why(ctx) } });
      ctx.print(
        r,
        r.changed.length
          ? `${ctx.st.green('✓')} ${r.changed.length} entr${r.changed.length === 1 ? 'y' : 'ies'} applied: ${r.changed.join(', ')}; ${r.unchanged} unchanged since last applied (${revs(r)})`
          : `${ctx.st.green('✓')} nothing changed: every entry (${r.unchanged}) is as it was when last applied; run-time changes stand`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'flags stale',
    args: '',
    summary: 'flags fully on, or untouched, in every stage for N days (--days, default 30), and flags never evaluated',
    min: 0,
    max: 0,
    options: ['days'],
    async run(ctx) {
      const r = await ctx.client().call(flagsApi.stale, { query: ctx.opts.days ? { days: ctx.opts.days } : {} });
      const lines = r.map(
        (f) =>
          `${f.key.padEnd(28)} ${f.reasons.join(', ').padEnd(28)} changed ${when(f.lastChangedAt)}  last evaluated: ${Object.entries(f.lastEvaluatedAt).map(([s, t]) => `${s} ${when(t)}`).join(', ')}${f.owner ? `  owner ${f.owner}` : ''}`,
      );
      ctx.print(r, lines.length ? lines.join('\n') : 'no stale flags');
      return EXIT.ok;
    },
  },
  {
    name: 'flags keys',
    args: '<create|list|revoke> [name|id]',
    summary: "keys apps read a stage's flags with (OFREP): create NAME (shown once), list, revoke ID; --stage S",
    min: 1,
    max: 2,
    options: ['stage', ...WHY],
    async run(ctx, [verb, arg]) {
      const stage = needStage(ctx, 'flags keys');
      if (verb === 'create') {
        if (!arg) throw new SluiceError('BAD_REQUEST', 'sluice flags keys create needs a NAME (the app that reads with it)');
        const k = await ctx.client().call(flagsApi.createKey, { params: { stage }, body: { name: arg, ...why(ctx) } });
        ctx.print(k, `${k.key}\n${ctx.st.dim(`read key ${k.name} for ${stage} (id ${k.id}); it is shown only now`)}`);
        return EXIT.ok;
      }
      if (verb === 'list') {
        const ks = await ctx.client().call(flagsApi.listKeys, { params: { stage } });
        ctx.print(ks, ks.length ? ks.map((k) => `${k.id}  ${k.name.padEnd(20)} created ${when(k.createdAt)}${k.revokedAt ? ctx.st.dim(`  revoked ${when(k.revokedAt)}`) : ''}`).join('\n') : `stage ${stage} has no read keys`);
        return EXIT.ok;
      }
      if (verb === 'revoke') {
        if (!arg) throw new SluiceError('BAD_REQUEST', 'sluice flags keys revoke needs the key\'s ID (see sluice flags keys list)');
        const r = await ctx.client().call(flagsApi.revokeKey, { params: { stage, id: arg }, body: why(ctx) });
        ctx.print(r, `${ctx.st.green('✓')} read key ${r.id} of ${stage} revoked`);
        return EXIT.ok;
      }
      throw new SluiceError('BAD_REQUEST', `sluice flags keys takes create, list or revoke, not ${verb}`);
    },
  },
  {
    name: 'flags ramp',
    args: '<start|pause|resume|abort|status> <key>',
    summary: 'a guarded ramp of a flag in a stage: start [--plan JSON|FILE], pause, resume, abort, status; --stage S',
    min: 2,
    max: 2,
    options: ['stage', 'plan', ...WHY],
    async run(ctx, [verb, key]) {
      const stage = needStage(ctx, 'flags ramp');
      const params = { stage, key: key! };
      const show = (r: RampStatus) => rampLines(r, { measurement: r.measurement, nextJudgementAt: r.nextJudgementAt }).map((l) => l.slice(2)).join('\n');
      if (verb === 'status') {
        const r = await ctx.client().call(flagsApi.rampStatus, { params });
        ctx.print(r, `${ctx.st.bold(`${key} in ${stage}`)}\n${show(r)}`);
        return EXIT.ok;
      }
      if (verb !== 'start' && ctx.opts.plan !== undefined) throw new SluiceError('BAD_REQUEST', `--plan goes with sluice flags ramp start, not ${verb}`);
      const route = verb === 'start' ? flagsApi.rampStart : verb === 'pause' ? flagsApi.rampPause : verb === 'resume' ? flagsApi.rampResume : verb === 'abort' ? flagsApi.rampAbort : undefined;
      if (!route) throw new SluiceError('BAD_REQUEST', `sluice flags ramp takes start, pause, resume, abort or status, not ${verb}`);
      const plan = ctx.opts.plan !== undefined ? { plan: jsonArg(ctx, ctx.opts.plan, '--plan') as never } : {};
      const r = await ctx.client().call(route, { params, body: { ...plan, ...why(ctx) } });
      const done = { start: 'started', pause: 'paused', resume: 'resumed', abort: 'aborted' }[verb as 'start'];
      ctx.print(r, `${ctx.st.green('✓')} ramp of ${key} in ${stage} ${done} (${revs(r)})\n${show(r.ramp)}`);
      return EXIT.ok;
    },
  },
];
