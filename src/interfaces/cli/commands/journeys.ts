import { type Command, EXIT } from '../command.js';
import { UsageError } from '../main.js';
import { journeysApi } from '../../http/contract/journeys.js';
import { releasesApi } from '../../http/contract/releases.js';
import { approvalWait, renderBoard, colourStatus } from '../render.js';

type Verb = 'promote' | 'approve' | 'reject' | 'abort' | 'pause' | 'resume' | 'retry';

const DONE: Record<Verb, string> = { promote: 'promoted', approve: 'approved', reject: 'rejected', abort: 'aborting', pause: 'paused', resume: 'resumed', retry: 'retrying' };

const decision = (verb: Verb, args: string, summary: string, options: Command['options'] = []): Command => ({
  name: verb,
  args,
  summary,
  min: 1,
  max: verb === 'retry' ? 1 : 2,
  options,
  async run(ctx, [version, stage]) {
    const o = ctx.opts;
    if (verb === 'reject' && !o.comment) throw new UsageError('a rejection needs --comment "why"');
    const params = { version: version! };
    const api = ctx.client();
    const s = stage ? { stage } : {};
    const j =
      verb === 'promote'
        ? await api.call(journeysApi.promote, { params, body: { ...s, ...(o.full ? { full: true } : {}) } })
        : verb === 'approve'
          ? await api.call(journeysApi.approve, { params, body: { ...s, ...(o.comment ? { comment: o.comment } : {}) } })
          : verb === 'reject'
            ? await api.call(journeysApi.reject, { params, body: { ...s, comment: o.comment! } })
            : verb === 'abort'
              ? await api.call(journeysApi.abort, { params, body: { ...s, ...(o.reason ? { reason: o.reason } : {}) } })
              : verb === 'retry'
                ? await api.call(journeysApi.retry, { params, body: {} })
                : await api.call(journeysApi[verb], { params, body: s });
    const done = verb === 'promote' && o.full ? 'promoted in full' : DONE[verb];
    // A stage that needs more approvals, or waits for its deploy window, says so.
    const still = j.stageDetails.find((x) => (stage === undefined || x.name === stage) && (x.approvals || x.hold));
    const more = still?.approvals ? `; ${still.name} is ${approvalWait(still)}` : still?.hold ? `; ${still.name} is ${still.hold.message}` : '';
    ctx.print(j, `${ctx.st.green('✓')} ${done} ${version}${stage ? ` at ${stage}` : ''}; journey ${colourStatus(ctx.st, j.status)}${more}`);
    return EXIT.ok;
  },
});

export const journeyCommands: Command[] = [
  {
    name: 'status',
    args: '',
    summary: 'the pipeline board: stages, live versions, gates, and the end of a failing step\'s output',
    min: 0,
    max: 0,
    options: ['watch'],
    async run(ctx) {
      const api = ctx.client();
      for (;;) {
        const board = await api.call(journeysApi.status);
        if (ctx.opts.json) {
          ctx.out(JSON.stringify(board, null, 2));
          return EXIT.ok;
        }
        const failureLogs: Record<string, string> = {};
        const tailOf = async (version: string, stage: string, step: string) => {
          // The end of the log is enough for 12 lines; the whole of a chatty build's log is not fetched.
          const res = await api.fetch(journeysApi.logs, { params: { version, stage }, query: { step, tail: '16384' } });
          return res.ok ? (await res.text()).trimEnd().split('\n').slice(-12).join('\n') : undefined;
        };
        for (const s of board.stages) {
          const failed = s.latest?.steps.find((x) => x.status === 'failed');
          if (!failed || !s.latest) continue;
          const log = await tailOf(s.latest.version, s.name, failed.name);
          if (log) failureLogs[s.name] = log;
        }
        // A release that failed its commit checks never reached a stage: show that step's output under the releases.
        const newest = board.journeys[0];
        const commitFailure = newest?.commit.steps.find((x) => x.status === 'failed');
        if (newest && commitFailure) {
          const log = await tailOf(newest.version, 'commit', commitFailure.name);
          if (log) failureLogs.commit = log;
        }
        const text = renderBoard(ctx.st, board, { failureLogs, urls: Object.fromEntries(board.stages.map((s) => [s.name, s.url])) }, Date.now());
        if (!ctx.opts.watch) {
          ctx.out(text);
          return EXIT.ok;
        }
        ctx.write(`\u001b[2J\u001b[H${text}\n`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  },
  decision('promote', '<version> [stage]', 'let a release into a stage whose autoPromote is false; --full promotes a canary to all traffic now', ['full']),
  decision('approve', '<version> [stage]', 'approve a stage waiting for approval', ['comment']),
  decision('reject', '<version> [stage]', 'reject a stage (--comment is required): it rolls back and the journey fails', ['comment']),
  decision('abort', '<version> [stage]', 'roll back the stage the release holds, now', ['reason']),
  decision('pause', '<version> [stage]', 'hold a canary rollout where it is'),
  decision('resume', '<version> [stage]', 'let a paused rollout go on'),
  decision('retry', '<version>', 'run a failed release again from the stages that failed'),
  {
    name: 'rollback',
    args: '<stage>',
    summary: 'put a stage back on the release it ran before',
    min: 1,
    max: 1,
    options: ['reason'],
    async run(ctx, [stage]) {
      const body = ctx.opts.reason ? { reason: ctx.opts.reason } : {};
      const j = await ctx.client().call(journeysApi.rollback, { params: { stage: stage! }, body });
      ctx.print(j, `${ctx.st.green('✓')} rolling ${stage} back from ${j.version}; follow with: sluice status --watch`);
      return EXIT.ok;
    },
  },
  {
    name: 'stages',
    args: '',
    summary: 'what each stage should serve (the desired state kept with the event log)',
    min: 0,
    max: 0,
    async run(ctx) {
      const list = await ctx.client().call(journeysApi.stages);
      ctx.print(
        list,
        list.length
          ? list.map((d) => `${d.stage.padEnd(16)}${d.stable ? d.stable.release.version : ctx.st.dim('nothing')}${d.canary ? `  canary ${d.canary.release.version} at ${d.canary.weight}%` : ''}`).join('\n')
          : 'no stage has been deployed yet',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'logs',
    args: '<version> <stage> [step]',
    summary: 'step logs of a stage (a verify step by its short name too); --follow streams a running one',
    min: 2,
    max: 3,
    options: ['follow'],
    async run(ctx, [version, stage, step]) {
      const api = ctx.client();
      const params = { version: version!, stage: stage! };
      if (ctx.opts.json) {
        // Each step with its status and its log, from the journey and the log route.
        const { stageDetails, commit } = (await api.call(releasesApi.get, { params: { version: version! } })).journey;
        const st = stage === 'commit' ? { ...commit, name: 'commit' } : stageDetails.find((s) => s.name === stage);
        const steps = [];
        for (const s of st?.steps ?? []) {
          if (step && s.name !== step && s.name !== `verify:${step}`) continue;
          const res = await api.fetch(journeysApi.logs, { params, query: { step: s.name } });
          steps.push({ name: s.name, status: s.status, ...(s.reason ? { reason: s.reason } : {}), log: res.ok ? await res.text() : '' });
        }
        ctx.out(JSON.stringify({ version, stage, status: st?.status ?? null, steps }, null, 2));
        return EXIT.ok;
      }
      const res = await api.fetch(journeysApi.logs, { params, query: { ...(step ? { step } : {}), ...(ctx.opts.follow ? { follow: '1' as const } : {}) } });
      if (!res.ok) {
        const e = (await res.json()) as { message: string };
        ctx.err(ctx.st.red(`sluice: ${e.message}`));
        return EXIT.failed;
      }
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) ctx.write(chunk);
      return EXIT.ok;
    },
  },
];
