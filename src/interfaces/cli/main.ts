import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SLUICE_VERSION, startSluice } from '../../main/single-node.js';
import { loadConfig } from '../../main/config.js';
import type { Board, BoardStage, JourneySummary, StageJourneyView } from '../../journeys/board.js';
import { formatDuration } from '../../kernel/duration.js';
import { isSluiceError, SluiceError } from '../../kernel/errors.js';
import type { StoredEvent } from '../../journeys/journey-events.js';
import { parsePipeline } from '../../pipeline/pipeline.js';
import type { NotificationRecord } from '../../adapters/store-sql/store.js';
import { ApiClient, Unreachable } from './client.js';
import { readJudgeFile, renderJudge } from './judge-command.js';
import { colourStatus, renderBoard, renderNotification } from './render.js';
import { makeStyle, type Style } from './style.js';

/** Exit codes: 0 done; 1 the operation failed (invalid file, failed journey, refused call); 2 usage; 3 server unreachable; 4 inconclusive. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, inconclusive: 4 } as const;

const USAGE = `sluice ${SLUICE_VERSION}: build once, promote through stages

Usage: sluice <command> [options]

Commands
  init [--dir D]                         scaffold sluice.yaml and an example app
  up [--release V]                       run server, engine and router (embedded default)
  validate [--file F]                    check sluice.yaml; errors name file:line:col
  release create <version> [--artifact PATH] [--wait]
                                         build (or register) the artifact once and start its journey
  release list                           releases and their journeys
  status [--watch]                       the pipeline board
  promote <version> [stage] [--full]     let a release into a stage whose autoPromote is false;
                                         --full: promote a canary to all traffic now
  abort <version> [stage] [--reason R]   roll back the stage the release holds, now
  pause <version> [stage]                hold a canary rollout; resume <version> [stage] lets it go on
  retry <version>                        run a failed release again from the stages that failed
  approve <version> [stage] [--comment C]
  reject <version> [stage] --comment C   the stage rolls back and the journey fails
  rollback <stage> [--reason R]          put a stage back on the release it ran before
  logs <version> <stage> [step] [--follow]
  notifications                          notifications sent, waiting or given up on, newest first
  token create <name>                    create an API token (printed once)
  schema                                 print the JSON Schema of sluice.yaml
  judge <file.json>                      judge recorded canary and baseline series offline
                                         (exit 0 pass, 1 fail, 4 inconclusive)

Options
  --dir D          app directory (default .)           --file F      pipeline file (default sluice.yaml)
  --data-dir D     data directory (default .sluice)    --url U       server URL (default http://127.0.0.1:7070)
  --token T        API token (default SLUICE_TOKEN or <data-dir>/admin-token)
  --port P         API port for up (default 7070)      --router-port P  router port for up (default 7080)
  --json           machine-readable output             --no-color    plain output (NO_COLOR is honoured)
`;

interface Ctx {
  env: Record<string, string | undefined>;
  cwd: string;
  out: (s: string) => void;
  err: (s: string) => void;
  st: Style;
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const colour = !env.NO_COLOR && !argv.includes('--no-color') && process.stdout.isTTY === true;
  const ctx: Ctx = {
    env,
    cwd: process.cwd(),
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    st: makeStyle(colour),
  };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    ctx.err(`sluice: ${(e as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    return await run(parsed, ctx);
  } catch (e) {
    if (e instanceof Unreachable) {
      ctx.err(ctx.st.red(`sluice: ${e.message}`));
      return EXIT.unreachable;
    }
    if (isSluiceError(e)) {
      if (parsed.values.json)
        ctx.out(JSON.stringify({ code: e.code, message: e.message, details: e.details }, null, 2));
      else ctx.err(ctx.st.red(`sluice: ${e.message}`));
      return e.code === 'BAD_REQUEST' && e.message.startsWith('usage') ? EXIT.usage : EXIT.failed;
    }
    ctx.err(ctx.st.red(`sluice: unexpected error: ${(e as Error).stack ?? String(e)}`));
    return EXIT.failed;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: 'string' },
      file: { type: 'string' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'router-port': { type: 'string' },
      release: { type: 'string' },
      artifact: { type: 'string' },
      comment: { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      wait: { type: 'boolean' },
      full: { type: 'boolean' },
      watch: { type: 'boolean', short: 'w' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

type Parsed = ReturnType<typeof parse>;

const usage = (msg: string) => new SluiceError('BAD_REQUEST', `usage: ${msg}`);

async function run(p: Parsed, ctx: Ctx): Promise<number> {
  const v = p.values;
  const [cmd, ...args] = p.positionals;
  if (v.version) {
    ctx.out(SLUICE_VERSION);
    return EXIT.ok;
  }
  if (v.help || !cmd || cmd === 'help') {
    ctx.out(USAGE);
    return cmd || v.help ? EXIT.ok : EXIT.usage;
  }
  const config = () =>
    loadConfig({
      env: ctx.env,
      cwd: ctx.cwd,
      argv: {
        ...(v.dir ? { dir: v.dir } : {}),
        ...(v.file ? { file: v.file } : {}),
        ...(v.config ? { config: v.config } : {}),
        ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}),
        ...(v['database-url'] ? { databaseUrl: v['database-url'] } : {}),
        ...(v.host ? { host: v.host } : {}),
        ...(v.port ? { port: v.port } : {}),
        ...(v['router-port'] ? { routerPort: v['router-port'] } : {}),
      },
    });
  const client = () => {
    const c = config();
    const url = v.url ?? ctx.env.SLUICE_URL ?? `http://${c.host}:${c.apiPort}`;
    let token = v.token ?? ctx.env.SLUICE_TOKEN;
    if (!token && c.dataDir !== 'memory://') {
      try {
        token = readFileSync(join(c.dataDir, 'admin-token'), 'utf8').trim();
      } catch {
        // read-only commands need no token
      }
    }
    return new ApiClient(url.replace(/\/$/, ''), token);
  };
  const print = (json: unknown, text: string) => ctx.out(v.json ? JSON.stringify(json, null, 2) : text);

  switch (cmd) {
    case 'init':
      return init(config().appDir, ctx);
    case 'validate': {
      const c = config();
      const rel = relative(ctx.cwd, c.pipelineFile) || c.pipelineFile;
      let text: string;
      try {
        text = readFileSync(c.pipelineFile, 'utf8');
      } catch {
        throw new SluiceError('PIPELINE_INVALID', `${rel}: no such file (run \`sluice init\` to create one)`);
      }
      try {
        const plan = parsePipeline(text, rel);
        print(
          plan,
          `${ctx.st.green('✓')} ${rel} is valid: app ${plan.app}, ${plan.commit.steps.length} commit step(s), stages ${plan.stages.map((s) => s.name).join(' → ')}`,
        );
        return EXIT.ok;
      } catch (e) {
        if (isSluiceError(e) && e.code === 'PIPELINE_INVALID' && !v.json) {
          ctx.err(ctx.st.red(`✗ ${e.message}`));
          return EXIT.failed;
        }
        throw e;
      }
    }
    case 'judge': {
      const [file] = args;
      if (!file) throw usage('sluice judge <file.json>');
      const r = readJudgeFile(resolve(ctx.cwd, file));
      print(r, renderJudge(ctx.st, r));
      return r.outcome === 'pass' ? EXIT.ok : r.outcome === 'fail' ? EXIT.failed : EXIT.inconclusive;
    }
    case 'schema':
      ctx.out(JSON.stringify((await import('../../pipeline/pipeline-schema.js')).pipelineJsonSchema(), null, 2));
      return EXIT.ok;
    case 'up':
      return up(p, config(), ctx);
    case 'release': {
      const [sub, version] = args;
      if (sub === 'list') {
        const list = await client().request<{ version: string; digest: string; status: string; createdAt: number }[]>(
          'GET',
          '/api/v1/releases',
        );
        print(
          list,
          list.length
            ? list
              .map(
                (r) =>
                    `${r.version.padEnd(16)}${colourStatus(ctx.st, r.status).padEnd(24)}${r.digest.slice(0, 19)}  ${new Date(r.createdAt).toISOString()}`,
              )
              .join('\n')
            : 'no releases yet',
        );
        return EXIT.ok;
      }
      if (sub !== 'create' || !version)
        throw usage('sluice release create <version> [--artifact PATH] [--wait] | sluice release list');
      const api = client();
      if (!v.json)
        ctx.err(ctx.st.dim(v.artifact ? `registering ${v.artifact} as ${version}…` : `building ${version}…`));
      const res = await api.request<{
        created: boolean;
        release: { version: string; digest: string };
        journey: JourneySummary;
      }>('POST', '/api/v1/releases', {
        version,
        ...(v.artifact ? { artifact: v.artifact } : {}),
      });
      if (!v.wait) {
        print(
          res,
          `${res.created ? ctx.st.green('✓ created') : ctx.st.yellow('= exists')} release ${res.release.version} (${res.release.digest})${res.created ? '; its journey has started: sluice status' : ', same artifact'}`,
        );
        return EXIT.ok;
      }
      if (!v.json)
        ctx.err(
          `${res.created ? 'created' : 'exists'} ${res.release.version} (${res.release.digest}); following its journey…`,
        );
      const final = await waitForJourney(api, version, ctx, !v.json);
      print(
        final,
        `${res.release.version}: ${colourStatus(ctx.st, final.status)}${final.failure ? ` at ${final.failure.stage}: ${final.failure.reason}` : ''}`,
      );
      return final.status === 'succeeded' ? EXIT.ok : EXIT.failed;
    }
    case 'status':
      return status(client(), ctx, !!v.json, !!v.watch);
    case 'promote':
    case 'approve':
    case 'reject':
    case 'abort':
    case 'pause':
    case 'resume':
    case 'retry': {
      const [version, stage] = args;
      if (!version) throw usage(`sluice ${cmd} <version> [stage]${cmd === 'reject' ? ' --comment C' : ''}`);
      if (cmd === 'reject' && !v.comment) throw usage('sluice reject <version> [stage] --comment "why"');
      const body = {
        ...(stage ? { stage } : {}),
        ...(v.comment && (cmd === 'approve' || cmd === 'reject') ? { comment: v.comment } : {}),
        ...(cmd === 'promote' && v.full ? { full: true } : {}),
        ...(cmd === 'abort' && v.reason ? { reason: v.reason } : {}),
      };
      const j = await client().request<JourneySummary & { stageDetails: StageJourneyView[] }>(
        'POST',
        `/api/v1/releases/${encodeURIComponent(version)}/${cmd}`,
        body,
      );
      const verb = { promote: v.full ? 'promoted in full' : 'promoted', approve: 'approved', reject: 'rejected', abort: 'aborting', pause: 'paused', resume: 'resumed', retry: 'retrying' }[cmd];
      print(
        j,
        `${ctx.st.green('✓')} ${verb} ${version}${stage ? ` at ${stage}` : ''}; journey ${colourStatus(ctx.st, j.status)}`,
      );
      return EXIT.ok;
    }
    case 'rollback': {
      const [stage] = args;
      if (!stage) throw usage('sluice rollback <stage> [--reason R]');
      const j = await client().request<JourneySummary>(
        'POST',
        `/api/v1/stages/${encodeURIComponent(stage)}/rollback`,
        v.reason ? { reason: v.reason } : {},
      );
      print(j, `${ctx.st.green('✓')} rolling ${stage} back from ${j.version}; follow with: sluice status --watch`);
      return EXIT.ok;
    }
    case 'logs': {
      const [version, stage, step] = args;
      if (!version || !stage) throw usage('sluice logs <version> <stage> [step] [--follow]');
      const q = new URLSearchParams({ ...(step ? { step } : {}), ...(v.follow ? { follow: '1' } : {}) });
      const res = await client().fetch(
        'GET',
        `/api/v1/releases/${encodeURIComponent(version)}/stages/${encodeURIComponent(stage)}/logs?${q}`,
      );
      if (!res.ok) {
        const e = (await res.json()) as { code: 'NOT_FOUND'; message: string };
        throw new SluiceError(e.code, e.message);
      }
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
      return EXIT.ok;
    }
    case 'notifications': {
      const { notifications } = await client().request<{ notifications: NotificationRecord[] }>('GET', '/api/v1/notifications');
      print(notifications, notifications.length ? notifications.map((n) => renderNotification(ctx.st, n)).join('\n') : 'no notifications yet (failures and rollbacks are sent to the notify: targets in sluice.yaml)');
      return EXIT.ok;
    }
    case 'token': {
      const [sub, name] = args;
      if (sub !== 'create' || !name) throw usage('sluice token create <name>');
      const t = await client().request<{ token: string; name: string }>('POST', '/api/v1/tokens', { name });
      print(
        t,
        `${t.token}\n${ctx.st.dim(`token "${t.name}" created; it is shown only now. Use it as SLUICE_TOKEN or --token.`)}`,
      );
      return EXIT.ok;
    }
    default:
      throw usage(`unknown command "${cmd}"; run sluice --help`);
  }
}

async function init(dir: string, ctx: Ctx): Promise<number> {
  const target = resolve(dir);
  if (existsSync(join(target, 'sluice.yaml')))
    throw new SluiceError('INVALID_STATE', `${join(target, 'sluice.yaml')} already exists; nothing changed`);
  const example = fileURLToPath(new URL('../../../../examples/shop/', import.meta.url));
  cpSync(example, target, {
    recursive: true,
    filter: (src) => !/[/\\](\.sluice|node_modules|dist)([/\\]|$)/.test(src),
  });
  ctx.out(
    `${ctx.st.green('✓')} scaffolded ${readdirSync(target).length} entries in ${target}: sluice.yaml, an example app and its tests`,
  );
  ctx.out(`next: cd ${relative(ctx.cwd, target) || '.'} && sluice up --release 1.0.0`);
  return EXIT.ok;
}

async function up(p: Parsed, config: ReturnType<typeof loadConfig>, ctx: Ctx): Promise<number> {
  const st = ctx.st;
  const env = Object.fromEntries(
    Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== 'SLUICE_TOKEN'),
  );
  const s = await startSluice(config, {
    env,
    onError: (e) => ctx.err(st.red(`engine error: ${(e as Error).stack ?? e}`)),
  });
  ctx.out(
    st.bold(`sluice ${SLUICE_VERSION} is up`) +
      st.dim(` (${config.databaseUrl ? 'PostgreSQL' : `PGlite in ${config.dataDir}`})`),
  );
  ctx.out(`  api     ${s.apiUrl}   (OpenAPI: ${s.apiUrl}/api/openapi.json)`);
  ctx.out(`  router  http://<stage>.<app>.localhost:${s.routerPort}`);
  if (s.newAdminToken)
    ctx.out(
      `  admin token ${st.bold(s.newAdminToken)}  ${st.dim(`(saved to ${join(config.dataDir, 'admin-token')}; the CLI reads it from there)`)}`,
    );
  ctx.out(st.dim('  Ctrl-C stops everything; instances come back on the next `sluice up`.'));
  s.events.subscribe((e) => ctx.out(eventLine(st, e)));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    ctx.out(st.dim('stopping…'));
    await s.close();
    process.exit(EXIT.ok);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  if (p.values.release) {
    const token = s.newAdminToken ?? readFileSync(join(config.dataDir, 'admin-token'), 'utf8').trim();
    const api = new ApiClient(s.apiUrl, token);
    ctx.out(st.dim(`creating release ${p.values.release}…`));
    try {
      const r = await api.request<{ created: boolean; release: { digest: string } }>('POST', '/api/v1/releases', {
        version: p.values.release,
      });
      ctx.out(
        `release ${p.values.release} ${r.created ? 'created' : 'already exists'} (${r.release.digest}); watch it with: npx sluice status --dir ${relative(ctx.cwd, config.appDir) || '.'}`,
      );
    } catch (e) {
      ctx.err(st.red(`release ${p.values.release}: ${(e as Error).message}`));
    }
  }
  await new Promise(() => {});
  return EXIT.ok;
}

function eventLine(st: Style, e: StoredEvent): string {
  const t = st.dim(new Date(e.at).toISOString().slice(11, 23));
  const who = st.bold(e.journeyId);
  switch (e.type) {
    case 'journey.created':
      return `${t} ${who} created (${e.release.digest.slice(0, 19)}), stages ${e.plan.stages.map((s) => s.name).join(' → ')}`;
    case 'step.started':
      return `${t} ${who} ${e.stage} ${st.cyan('▶')} ${e.step}`;
    case 'step.finished':
      return `${t} ${who} ${e.stage} ${e.inconclusive ? st.yellow('?') : e.ok ? st.green('✓') : st.red('✗')} ${e.step}${e.reason ? (e.ok ? st.dim(` ${e.reason}`) : st.red(` ${e.reason}`)) : ''}`;
    case 'step.warned':
      return `${t} ${who} ${e.stage} ${st.yellow(`⚠ ${e.message}`)}`;
    case 'stage.entered':
      return `${t} ${who} ${st.bold(e.stage)} entered (was ${e.previous?.version ?? 'empty'})`;
    case 'stage.bake-started':
      return `${t} ${who} ${e.stage} baking until ${new Date(e.until).toISOString().slice(11, 19)}`;
    case 'stage.approved':
    case 'stage.rejected':
    case 'stage.promoted':
      return `${t} ${who} ${e.stage} ${e.type.slice(6)} by ${e.by}${'comment' in e && e.comment ? `: ${e.comment}` : ''}`;
    case 'stage.rollback-requested':
      return `${t} ${who} ${e.stage} rollback requested by ${e.by}${e.reason ? `: ${e.reason}` : ''}`;
    case 'journey.superseded':
      return `${t} ${who} superseded by ${e.by}`;
    case 'stage.paused':
      return `${t} ${who} ${e.stage} paused by ${e.by}`;
    case 'stage.resumed':
      return `${t} ${who} ${e.stage} resumed by ${e.by}${e.step ? ` past ${e.step}` : ''}`;
    case 'stage.promoted-full':
      return `${t} ${who} ${e.stage} promoted in full by ${e.by}`;
    case 'journey.retried':
      return `${t} ${who} retried by ${e.by}`;
  }
}

async function status(api: ApiClient, ctx: Ctx, json: boolean, watch: boolean): Promise<number> {
  for (;;) {
    const board = await api.request<Omit<Board, 'stages'> & { stages: (BoardStage & { url: string | null })[] }>(
      'GET',
      '/api/v1/status',
    );
    if (json) {
      ctx.out(JSON.stringify(board, null, 2));
      return EXIT.ok;
    }
    const failureLogs: Record<string, string> = {};
    const tailOf = async (version: string, stage: string, step: string) => {
      const res = await api.fetch('GET', `/api/v1/releases/${encodeURIComponent(version)}/stages/${stage}/logs?step=${encodeURIComponent(step)}`);
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
    const text = renderBoard(
      ctx.st,
      board,
      { failureLogs, urls: Object.fromEntries(board.stages.map((s) => [s.name, s.url])) },
      Date.now(),
    );
    if (!watch) {
      ctx.out(text);
      return EXIT.ok;
    }
    process.stdout.write(`\u001b[2J\u001b[H${text}\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function waitForJourney(api: ApiClient, version: string, ctx: Ctx, progress: boolean): Promise<JourneySummary> {
  const seen = new Set<string>();
  for (;;) {
    const { journey } = await api.request<{
      journey: JourneySummary & { stageDetails: (StageJourneyView & { name: string })[] };
    }>('GET', `/api/v1/releases/${encodeURIComponent(version)}`);
    if (progress)
      for (const s of journey.stageDetails)
        for (const step of s.steps)
          if (step.status !== 'running' && !seen.has(`${s.name}/${step.name}`)) {
            seen.add(`${s.name}/${step.name}`);
            ctx.err(
              `  ${s.name} ${step.status === 'passed' ? ctx.st.green('✓') : ctx.st.red('✗')} ${step.name}${step.durationMs !== undefined ? ctx.st.dim(` ${formatDuration(step.durationMs)}`) : ''}${step.reason ? ctx.st.red(` ${step.reason}`) : ''}`,
            );
          }
    if (journey.status !== 'running') return journey;
    if (journey.stageDetails.some((s) => s.status === 'awaiting-approval' || s.status === 'awaiting-promotion'))
      return journey;
    await new Promise((r) => setTimeout(r, 300));
  }
}
