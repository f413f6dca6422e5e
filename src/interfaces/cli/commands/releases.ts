import { isAbsolute, relative, resolve } from 'node:path';
import { formatDuration } from '../../../kernel/duration.js';
import type { ApiClient } from '../client.js';
import { type CliContext, type Command, EXIT } from '../command.js';
import type { journeysApi } from '../../http/contract/journeys.js';
import { releasesApi } from '../../http/contract/releases.js';
import type { Output } from '../../http/contract/route.js';
import { approvalWait, colourStatus } from '../render.js';

type JourneyView = Output<typeof journeysApi.journey>;

/** What a stage waiting for a person needs, as a command to run. */
const NEXT: Record<string, (v: string, stage: string) => string> = {
  'awaiting-approval': (v, s) => `sluice approve ${v} ${s} (or sluice reject ${v} ${s} --comment "why")`,
  'awaiting-promotion': (v, s) => `sluice promote ${v} ${s}`,
  paused: (v, s) => `sluice resume ${v} ${s} (or sluice abort ${v} ${s})`,
};

/** Follows a release's journey until it ends or waits for a person; reports each step as it ends. */
async function waitForJourney(
  api: ApiClient,
  version: string,
  ctx: CliContext,
  progress: boolean,
): Promise<{ journey: JourneyView; waiting?: { stage: string; status: string; next: string } }> {
  const seen = new Set<string>();
  for (;;) {
    const { journey } = await api.call(releasesApi.get, { params: { version } });
    if (progress)
      for (const s of journey.stageDetails)
        for (const step of s.steps)
          if (step.status !== 'running' && !seen.has(`${s.name}/${step.name}`)) {
            seen.add(`${s.name}/${step.name}`);
            const mark = step.status === 'passed' ? ctx.st.green('✓') : step.status === 'inconclusive' ? ctx.st.yellow('?') : step.status === 'cancelled' ? ctx.st.dim('-') : ctx.st.red('✗');
            ctx.err(`  ${s.name} ${mark} ${step.name}${step.durationMs !== undefined ? ctx.st.dim(` ${formatDuration(step.durationMs)}`) : ''}${step.reason ? ` ${step.status === 'passed' ? ctx.st.dim(step.reason) : ctx.st.red(step.reason)}` : ''}`);
          }
    if (journey.status !== 'running') return { journey };
    const waiting = journey.stageDetails.find((s) => NEXT[s.status]);
    if (waiting) return { journey, waiting: { stage: waiting.name, status: waiting.status, next: NEXT[waiting.status]!(version, waiting.name) } };
    // Held by a deploy window or a freeze: it goes on by itself, later.
    const held = journey.stageDetails.find((s) => s.hold);
    if (held?.hold) return { journey, waiting: { stage: held.name, status: held.status, next: `nothing; it goes on by itself (${held.hold.message})` } };
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const releaseCommands: Command[] = [
  {
    name: 'release create',
    args: '<version>',
    summary: 'build (or register --artifact) the artifact once and start its journey; --wait follows it',
    min: 1,
    max: 1,
    options: ['artifact', 'source-ref', 'wait'],
    async run(ctx, [version]) {
      const api = ctx.client();
      const { opts, st } = ctx;
      // A path the user typed is theirs: relative to where they are, not to the server's app directory.
      const path = opts.artifact ? resolve(ctx.cwd, opts.artifact) : undefined;
      // An absolute path is taken only from the CLI with the server's operator key (on its machine); to another server,
      // a path inside the app directory goes relative to it, as the API takes it.
      const inApp = path === undefined ? '' : relative(ctx.config().appDir, path);
      const artifact = path && !ctx.config().operatorKey && inApp && !inApp.startsWith('..') && !isAbsolute(inApp) ? inApp : path;
      if (!opts.json) ctx.err(st.dim(artifact ? `registering ${path} as ${version}…` : `building ${version}…`));
      const res = await api.call(releasesApi.create, {
        body: { version: version!, ...(artifact ? { artifact } : {}), ...(opts['source-ref'] ? { sourceRef: opts['source-ref'] } : {}) },
      });
      if (!opts.wait) {
        ctx.print(res, `${res.created ? st.green('✓ created') : st.yellow('= exists')} release ${res.release.version} (${res.release.digest})${res.created ? `; journey ${res.release.journeyId} has started: sluice status` : ', same artifact'}`);
        return EXIT.ok;
      }
      if (!opts.json) ctx.err(`${res.created ? 'created' : 'exists'} ${res.release.version} (${res.release.digest}); following its journey…`);
      const { journey, waiting } = await waitForJourney(api, version!, ctx, !opts.json);
      if (waiting) {
        ctx.print({ ...journey, waiting }, `${version}: ${colourStatus(st, waiting.status)} at ${waiting.stage}; to go on: ${waiting.next}`);
        return EXIT.waiting;
      }
      ctx.print(journey, `${version}: ${colourStatus(st, journey.status)}${journey.failure ? ` at ${journey.failure.stage}: ${journey.failure.reason}` : ''}`);
      return journey.status === 'succeeded' ? EXIT.ok : EXIT.failed;
    },
  },
  {
    name: 'release list',
    args: '',
    summary: 'releases and the status of their journeys',
    min: 0,
    max: 0,
    async run(ctx) {
      const list = await ctx.client().call(releasesApi.list);
      ctx.print(
        list,
        list.length
          ? list.map((r) => `${r.version.padEnd(16)}${colourStatus(ctx.st, r.status).padEnd(24)}${r.digest.slice(0, 19)}  ${new Date(r.createdAt).toISOString()}`).join('\n')
          : 'no releases yet',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'release show',
    args: '<version>',
    summary: 'a release: its artifact, who created it, and where its journey is (what each stage waits for)',
    min: 1,
    max: 1,
    async run(ctx, [version]) {
      const { release, journey } = await ctx.client().call(releasesApi.get, { params: { version: version! } });
      const { st } = ctx;
      const lines = [
        `${st.bold(release.version)}  ${release.digest}`,
        `created ${new Date(release.createdAt).toISOString()} by ${release.createdBy ? release.createdBy.name : st.dim('(not recorded)')}${release.sourceRef ? ` from ${release.sourceRef}` : ''}`,
        `journey ${journey.id} ${colourStatus(st, journey.status)}${journey.failure ? st.red(` at ${journey.failure.stage}: ${journey.failure.reason}`) : ''}`,
        ...journey.stageDetails.map((s) => {
          const waits = s.status === 'awaiting-approval' ? st.yellow(`  ${approvalWait(s)}`) : s.hold ? st.yellow(`  ${s.hold.message}`) : '';
          return `  ${s.name.padEnd(16)}${colourStatus(st, s.status)}${waits}`;
        }),
      ];
      ctx.print({ release, journey }, lines.join('\n'));
      return EXIT.ok;
    },
  },
];

