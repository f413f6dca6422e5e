import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../adapters/artifacts-fs/artifact-store.js';
import { BuiltinMetrics } from '../adapters/metrics-builtin/builtin-metrics.js';
import { PrometheusMetrics } from '../adapters/metrics-prometheus/prometheus-metrics.js';
import { pipelineFileOnDisk } from '../adapters/pipeline-file/pipeline-file.js';
import { ensureDataPlane, stopDataPlane } from '../adapters/proxy-http1/data-plane-process.js';
import { WorkerJudge } from '../adapters/judge-worker/worker-judge.js';
import { FsStepWorkspace } from '../adapters/steps-fs/fs-step-workspace.js';
import { openStore } from '../adapters/store-sql/open-store.js';
import { CommandTarget } from '../adapters/target-command/command-target.js';
import { LocalTarget, stopLocalInstances } from '../adapters/target-local/local-target.js';
import { startSyntheticTraffic } from '../adapters/traffic-http/synthetic-traffic.js';
import { openKeyring } from '../adapters/secrets-keyfile/keyring.js';
import { postJson } from '../adapters/webhook-http/post-json.js';
import { SessionService } from '../auth/session-service.js';
import { TokenService } from '../auth/token-service.js';
import { ENV_SWEEP_MS, EnvironmentService, type EnvironmentsChanged } from '../environments/environment-service.js';
import { releasePromoter } from '../journeys/promote-release.js';
import { PostgresDatabases } from '../adapters/databases-postgres/postgres-databases.js';
import type { DatabaseSource } from '../environments/ports/environment-databases.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { migrationsBeforeStart } from './migrations.js';
import { FlagService, type FlagsChanged } from '../flags/flag-service.js';
import { FLAGS_FILE } from '../flags/flags-file.js';
import { RampRunner } from '../flags/ramp-runner.js';
import type { FlagServing } from '../flags/ports/flag-serving.js';
import { allowedHostName, isLoopbackAddress, isWildcardAddress } from '../interfaces/http/host-check.js';
import { buildApi } from '../interfaces/http/server.js';
import { EventBus } from '../journeys/event-bus.js';
import { Executor } from '../journeys/executor.js';
import { guardTripCommand } from '../journeys/journey-commands.js';
import { DEFAULT_PROMOTERS } from '../journeys/protection.js';
import type { Target } from '../journeys/ports/target.js';
import { StepRunner } from '../journeys/step-runner.js';
import { systemActor } from '../kernel/actor.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
import { Fanout } from '../kernel/fanout.js';
import { flagRampNotification, targetWants } from '../notifications/notification.js';
import { Notifier } from '../notifications/notifier.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import { isAlive } from '../platform/durable-run.js';
import { makePrivate } from '../platform/files.js';
import { portFree } from '../platform/net.js';
import { ReleaseService } from '../releases/release-service.js';
import { RetentionService } from '../releases/retention-service.js';
import { SecretService } from '../secrets/secret-service.js';
import { GitCheckout } from '../adapters/git-checkout/git-checkout.js';
import { githubDeliverer } from '../adapters/github-api/github-api.js';
import { GithubService } from '../github/github-service.js';
import { githubSettingsFrom } from '../github/github-settings.js';
import type { SluiceConfig } from './config.js';

export const SLUICE_VERSION = '0.1.0';
/** In the data directory: the key the CLI on this machine sends to show it is the operator (see ADR 0018). */
export const OPERATOR_KEY_FILE = 'operator-key';
/** The data plane's entry, next to this file once compiled. */
const DATA_PLANE_ENTRY = fileURLToPath(new URL('./data-plane.js', import.meta.url));
/** The dashboard's production build: dist/web, beside the compiled code (dist/src). */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

export interface RunningSluice {
  apiUrl: string;
  routerPort: number;
  /** Where the data plane serves flags (OFREP, the stream, the sync feed). */
  flagsPort: number;
  /**
   * The data plane's flag serving (publish a stage's flag set, read what was evaluated): what the flags service
   * drives. The data plane keeps serving the last published sets while this control plane is away.
   */
  flagServing: FlagServing;
  /** Set on the first start only: the admin token, also written to <dataDir>/admin-token. */
  newAdminToken?: string;
  /** The data plane this control plane drives, and whether it was already running. */
  dataPlane: { pid: number; adopted: boolean; build: string };
  executor: Executor;
  events: EventBus;
  /** Feature flags (what the API's flag routes call). */
  flags: FlagService;
  /** The API's tokens: tests and tools make tokens of each role with it. */
  tokens: TokenService;
  /** Where the dashboard answers (the API's address), and whether its build is there to serve. */
  dashboard: { url: string; built: boolean };
  /** Removes old releases' folders and artifacts; it runs by itself after deploys and at start, `run()` runs a pass now. */
  retention: RetentionService;
  /** Stops the control plane. The data plane and the app instances keep serving. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Sluice's own environment. Workloads get only its allow-list (see `workloadEnv`); secrets settings are read from it. */
  env: Record<string, string>;
  clock?: Clock;
  onError?: (e: unknown) => void;
  /** One line for people about something repaired or adopted. */
  onNotice?: (line: string) => void;
  /** Where the dashboard's build is; default WEB_DIR. */
  webDir?: string;
}

/**
 * The single-node composition root: the control plane (API, engine, store) in this process, driving a data plane
 * (router) in a process of its own that it starts or adopts. Stopping the control plane never stops traffic.
 */
export async function startSluice(config: SluiceConfig, opts: StartOptions): Promise<RunningSluice> {
  const clock = opts.clock ?? systemClock;
  const notice = opts.onNotice ?? (() => {});
  const dataDir = config.dataDir;
  if (dataDir === 'memory://') throw new SluiceError('CONFIG_INVALID', 'sluice up needs a data directory: the data plane keeps its routes there');
  const firstStart = !existsSync(join(dataDir, 'admin-token'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const releaseLock = lockDataDir(dataDir);
  const cleanups: (() => Promise<unknown> | unknown)[] = [releaseLock];
  const close = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    // Said before anything starts: a taken API port is one line, and leaves nothing running.
    if (config.apiPort !== 0 && !(await portFree(config.apiPort, config.apiHost))) throw apiPortTaken(config);
    // A data directory that was set up before never gets a new, empty database: that would mint a new admin token
    // over the old data and forget every journey.
    const initialised = !firstStart || existsSync(join(dataDir, INITIALISED));
    const pgDir = join(dataDir, 'pg');
    if (initialised && !config.databaseUrl && !existsSync(join(pgDir, 'PG_VERSION')))
      throw new SluiceError(
        'CONFIG_INVALID',
        `${dataDir} was set up before, but its database ${pgDir} is missing; Sluice will not start an empty one over the old data. Put the database back (from a backup), or move the data directory away to start afresh`,
      );
    let store: Awaited<ReturnType<typeof openStore>>;
    try {
      store = await openStore({ dataDir, ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}) });
    } catch (e) {
      if (!initialised || (isSluiceError(e) && e.code !== 'INTERNAL')) throw e;
      throw new SluiceError(
        'CONFIG_INVALID',
        `the database of ${dataDir} (${config.databaseUrl ? 'PostgreSQL' : pgDir}) cannot be opened: ${(e as Error).message.split('\n')[0]}. Sluice changed nothing; repair or restore it`,
      );
    }
    cleanups.push(() => store.close());
    // The data directory holds the database, the secrets key, tokens and logs: for this user only. PGlite makes its
    // files 0666 whatever the umask, so this runs once it has made them (the folders above them are 0700 already).
    const loosened = makePrivate(dataDir);
    if (loosened > 0 && !firstStart) notice(`${dataDir}: ${loosened} file(s) and folder(s) others could reach are now for this user only (0600/0700)`);
    cleanups.push(() => makePrivate(dataDir));
    const dp = await ensureDataPlane(
      {
        dataDir,
        host: config.host,
        port: config.routerPort,
        flagsPort: config.flagsPort,
        maxConnections: config.maxConnections,
        ...(config.routerMaxHeadBytes ? { maxHeadBytes: config.routerMaxHeadBytes } : {}),
        entry: DATA_PLANE_ENTRY,
        build: SLUICE_VERSION,
      },
      notice,
    );
    const router = dp.client;
    cleanups.push(() => router.close());
    // The flags service publishes each stage's set through this (FlagServing over the control socket).
    const flagServing: FlagServing = router;
    if (dp.adopted && dp.health.flagsPort !== config.flagsPort && config.flagsPort !== 0)
      notice(`the data plane already running for ${dataDir} serves flags on port ${dp.health.flagsPort}, not ${config.flagsPort}; \`sluice down\` then \`sluice up\` moves it`);
    if (dp.adopted && dp.health.port !== config.routerPort && config.routerPort !== 0)
      notice(`the data plane already running for ${dataDir} listens on port ${dp.health.port}, not ${config.routerPort}; \`sluice down\` then \`sluice up\` moves it`);
    const artifacts = new ArtifactStore(join(dataDir, 'artifacts'), { exclude: [dataDir] });
    const pipelineName = relative(config.appDir, config.pipelineFile) || config.pipelineFile;
    const pipeline = pipelineFileOnDisk(config.pipelineFile, pipelineName, config.pipelineLimits);

    // The app name for hosts comes from the file; a broken file at start-up still lets the server come up.
    let app: string;
    try {
      app = parsePipeline(pipeline.read(), pipeline.path, { limits: config.pipelineLimits }).app;
    } catch {
      const created = (await store.loadEvents()).findLast((e) => e.type === 'journey.created');
      app = created?.type === 'journey.created' ? created.plan.app : 'app';
    }
    const baseEnv = opts.env;
    const secretService = new SecretService({
      store: store.secrets,
      keyring: openKeyring({
        file: config.secretsKeyFile,
        ...(baseEnv.SLUICE_SECRETS_KEY !== undefined ? { envKey: baseEnv.SLUICE_SECRETS_KEY } : {}),
      }),
      clock,
      declared: (stage) => {
        const sp = parsePipeline(pipeline.read(), pipeline.path).stages.find((s) => s.name === stage);
        return sp ? (sp.secrets ?? []) : undefined;
      },
    });
    // Every workload of a stage can read the stage's flags, and only its stage's: the data plane's address and a key of
    // the stage's own (minted once, kept encrypted with its secrets).
    const flagsHost = ['0.0.0.0', '::'].includes(dp.health.flagsHost) ? '127.0.0.1' : dp.health.flagsHost;
    const flagsUrl = `http://${flagsHost.includes(':') ? `[${flagsHost}]` : flagsHost}:${dp.health.flagsPort}`;
    const workloadFlagKey = (stage: string) => secretService.sluiceValue(stage, 'SLUICE_FLAGS_KEY', () => `sfk_${randomBytes(24).toString('base64url')}`);
    // An environment's workloads get its source stage's secrets and flags (ADR 25): the source is never production.
    let sourceOf = async (_name: string): Promise<string | undefined> => undefined;
    const secrets = async (stage: { name: string; secrets?: readonly string[] }) => {
      const owner = (await sourceOf(stage.name)) ?? stage.name;
      return {
        ...(await secretService.valuesFor({ ...stage, name: owner })),
        SLUICE_FLAGS_URL: flagsUrl,
        SLUICE_FLAGS_KEY: await workloadFlagKey(owner),
      };
    };
    // --- databases (ADR 26): environments' own copies, and migrations before each deploy's instances start ---
    const envDatabases = new PostgresDatabases();
    const databaseSource = async (sp: StagePlan): Promise<DatabaseSource> => {
      const pw = sp.database?.password;
      const password = pw === undefined ? undefined : (await secretService.valuesFor({ name: sp.name, secrets: [pw] }))[pw];
      return { plan: sp.database!, ...(password !== undefined ? { password } : {}) };
    };
    const beforeStart = migrationsBeforeStart({ app: () => app, databases: envDatabases, sourceOf: (n) => sourceOf(n) });
    // --- end databases ---
    const local = new LocalTarget({ root: join(dataDir, 'local'), app, artifacts, router, routerPort: dp.health.port, baseEnv, secrets, notice, beforeStart });
    const command = new CommandTarget({ root: join(dataDir, 'command'), artifacts, baseEnv, secrets, appDir: config.appDir });
    const targets: Record<string, Target> = { local, command };
    cleanups.push(async () => {
      for (const t of Object.values(targets)) await t.close();
    });

    const workspace = new FsStepWorkspace(join(dataDir, 'runs'));
    // The judge's thread: API requests and the engine's analyses are judged there, off the event loop.
    const { judgeMaxValues: maxValues, judgeTimeoutMs: timeoutMs, judgeHeapMb } = config.limits;
    const judge = new WorkerJudge({ maxValues, timeoutMs }, undefined, judgeHeapMb);
    cleanups.push(() => judge.close());
    const bus = new EventBus();
    const executor = new Executor({
      store,
      clock,
      runner: new StepRunner({
        targets,
        workspace,
        appDir: config.appDir,
        baseEnv,
        secrets,
        metrics: {
          builtin: new BuiltinMetrics(router),
          prometheus: ({ url, scrapeIntervalMs }) => new PrometheusMetrics(url, scrapeIntervalMs === undefined ? {} : { scrapeIntervalMs }),
        },
        traffic: startSyntheticTraffic,
        judge,
      }),
      onEvent: (e) => bus.publish(e),
      onNotice: notice,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    // Off the journeys' path: a pass is scheduled by events and runs in the background; its failure is one line.
    const retention = new RetentionService({
      keep: config.keepReleases,
      journeys: () => executor.list(),
      releases: store,
      artifacts,
      targets: Object.values(targets),
      // It compares with file times, which follow the system's clock whatever clock the engine is given.
      clock: systemClock,
      notice,
      alsoKeep: () => environments.kept(),
    });
    bus.subscribe((e) => retention.observe(e));
    cleanups.push(() => retention.stop());
    let apiUrl = apiUrlOf(config.apiHost, config.apiPort);
    // GitHub (ADR 28): set up from Sluice's own environment; its statuses and deployments go through the outbox.
    const githubSettings = githubSettingsFrom(baseEnv);
    const deliverers = githubSettings?.token ? { github: githubDeliverer(githubSettings.token, `sluice/${SLUICE_VERSION}`) } : undefined;
    const notifier = new Notifier({
      store,
      clock,
      post: postJson,
      apiUrl: () => apiUrl,
      ...(deliverers ? { deliverers } : {}),
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    bus.subscribe(() => notifier.handle());
    cleanups.push(() => notifier.stop());
    await executor.load();
    // The stages and their protection come from the pipeline file as it is; a broken file falls back to the plan of
    // the newest journey, so flags and environments stay usable while the file is being fixed.
    const currentPlan = () => {
      try {
        return parsePipeline(pipeline.read(), pipeline.path, { limits: config.pipelineLimits });
      } catch (e) {
        const plan = executor.list().at(-1)?.plan;
        if (plan) return plan;
        throw e;
      }
    };
    // Environments (ADR 25): their records are their desired state, restored with the stages'.
    const environmentChanges = new Fanout<EnvironmentsChanged>();
    const environments = new EnvironmentService({
      store: store.environments,
      target: local,
      release: async (version) => {
        const r = await store.getRelease(version);
        return r && { version: r.version, digest: r.digest };
      },
      workspace,
      clock,
      plan: currentPlan,
      onError: (e) => notice(`environments: ${(e as Error).message}`),
      // Scale to zero (docs/adr/0029): the local target stops an idle environment's instances and starts them again.
      sleeper: local,
      // Review (ADR 27): an approve brings the build to the source stage through its journey; each write is announced.
      promoter: releasePromoter(executor),
      changed: (c) => environmentChanges.publish(c),
      databases: { port: envDatabases, source: databaseSource },
    });
    sourceOf = (name) => environments.sourceOf(name);
    // Bring every stage and environment to what the log and the records say, adopting what survived (instances,
    // routes); a stage or environment nobody wants any more is stopped.
    const resuming = executor.runningKeys();
    const desired = [...executor.desiredStages(), ...(await environments.desired())];
    for (const t of Object.values(targets)) await t.restore(desired, resuming);
    await environments.start();
    const sweeping = setInterval(() => void environments.sweep().catch((e: unknown) => opts.onError?.(e)), ENV_SWEEP_MS);
    sweeping.unref();
    cleanups.push(() => clearInterval(sweeping));
    // ---- scale to zero (docs/adr/0029): idle environments sleep; a request the router holds wakes its environment.
    const sleeping = setInterval(() => void environments.sleepIdle().catch((e: unknown) => opts.onError?.(e)), ENV_SWEEP_MS);
    sleeping.unref();
    cleanups.push(() => clearInterval(sleeping));
    const unfollowWakes = router.onWake((w) => void environments.wake(w.stage).catch((e: unknown) => notice(`environments: ${w.stage} could not wake: ${(e as Error).message.split('\n')[0]}`)));
    cleanups.push(unfollowWakes);
    // ---- end of scale to zero
    cleanups.push(() => executor.stop());
    await executor.resume();
    // At start-up too: releases kept under a larger setting, or left by passes a stop cut short, go now.
    retention.schedule();
    // The data plane's guard cut a canary off: the journey that rolls it out fails there and rolls back.
    const unfollow = router.onTrip((t) => {
      const by = systemActor(`the data plane's guard tripped at ${t.stage}`);
      void executor.command((all) => guardTripCommand(all, t), by).catch((e: unknown) => opts.onError?.(e));
    });
    cleanups.push(unfollow);

    const flagChanges = new Fanout<FlagsChanged>();
    const flags = new FlagService({
      changed: (c) => flagChanges.publish(c),
      store: store.flags,
      serving: flagServing,
      clock,
      stages: () => currentPlan().stages.map((s) => s.name),
      // Changing a stage's flags needs what deploying to it needs (ADR 20).
      changeRoles: (stage) => currentPlan().stages.find((s) => s.name === stage)?.protection?.promote ?? DEFAULT_PROMOTERS,
      onError: (e) => notice(`flags were saved but not published to the data plane: ${(e as Error).message}`),
      workloadKey: workloadFlagKey,
    });
    const flagsFile = join(dirname(config.pipelineFile), FLAGS_FILE);
    if (existsSync(flagsFile)) {
      const shownAs = relative(config.appDir, flagsFile) || flagsFile;
      try {
        const r = await flags.applyText({ actor: systemActor(`sluice up applied ${shownAs}`), reason: `${shownAs} at start` }, readFileSync(flagsFile, 'utf8'), shownAs);
        if (r.changed.length > 0) notice(`${shownAs}: applied ${r.changed.length} changed entr${r.changed.length === 1 ? 'y' : 'ies'} (${r.changed.slice(0, 5).join(', ')}${r.changed.length > 5 ? ', …' : ''})`);
      } catch (e) {
        // The stages keep their last good flags; the server comes up, and the file can be fixed and applied.
        notice(`${shownAs} was not applied, the stages keep their flags: ${(e as Error).message}`);
      }
    }
    // A data plane that refuses (a bug, or a set compiled differently by an older build) must not keep the control plane down.
    await flags.publishAll().catch((e: Error) => notice(`the stages' flags were not all published to the data plane: ${e.message}`));
    const counting = setInterval(() => void flags.collectCounts().catch((e: unknown) => opts.onError?.(e)), 10_000);
    counting.unref();
    cleanups.push(async () => {
      clearInterval(counting);
      await flags.collectCounts().catch(() => undefined);
    });
    // Guarded ramps (ADR 23): each step judged on the data plane's per-variant counters, which kept counting while
    // this control plane was away; what people must hear of goes through the notifications outbox, like a journey's.
    const ramps = new RampRunner({
      flags,
      metrics: new BuiltinMetrics(router),
      judge,
      clock,
      notify: async (n) => {
        const plan = currentPlan();
        const body = flagRampNotification({ ...n, app: plan.app }, apiUrl);
        // Flags events count apart from journey events: negative ids keep the outbox's once-per-event rule for both.
        const entries = (plan.notify ?? []).filter((t) => targetWants(t, body)).map((target) => ({ eventId: -n.eventId, target, body }));
        if (entries.length === 0) return;
        await store.enqueueNotifications(entries, 0, n.at);
        notifier.handle();
      },
      onError: (e) => notice(`a flag ramp was not judged: ${(e as Error).message}`),
      log: notice,
    });
    ramps.start();
    cleanups.push(() => ramps.stop());

    const releases = new ReleaseService({ store, executor, artifacts, clock, appDir: config.appDir, pipeline, buildEnv: baseEnv });
    // GitHub (ADR 28): webhooks build commits into releases, run pull requests' environments, report back.
    const gitCheckout =
      githubSettings &&
      new GitCheckout({
        root: join(dataDir, 'github'),
        remote: githubSettings.cloneUrl,
        env: { ...(baseEnv.PATH ? { PATH: baseEnv.PATH } : {}), ...(baseEnv.HOME ? { HOME: baseEnv.HOME } : {}) },
      });
    // Trees of builds a kill cut short are removed before any new one.
    const leftTrees = (await gitCheckout?.clean()) ?? 0;
    if (leftTrees > 0) notice(`github: removed ${leftTrees} commit tree(s) left by builds a stop cut short`);
    const github =
      githubSettings &&
      gitCheckout &&
      new GithubService({
        settings: githubSettings,
        checkout: gitCheckout,
        releases: { create: (input) => releases.create(input), get: (version) => store.getRelease(version) },
        environments,
        journeyStatus: (id) => executor.get(id)?.status,
        plan: currentPlan,
        outbox: async (entries) => {
          if (!githubSettings.token) return;
          await store.enqueueNotifications(entries, 0, clock.now());
          notifier.handle();
        },
        audit: async (drafts) => {
          await store.appendAudit(drafts, clock.now());
        },
        apiUrl: () => apiUrl,
        clock,
        onError: (e) => notice(`github: ${(e as Error).message}`),
      });
    if (github) bus.subscribe((e) => github.observe(e.journeyId));
    const tokens = new TokenService(store, clock);
    const sessions = new SessionService(store, tokens, clock);
    const webDir = opts.webDir ?? WEB_DIR;
    let newAdminToken: string | undefined;
    const tokenCount = await tokens.count();
    if (tokenCount === 0 && initialised)
      throw new SluiceError(
        'CONFIG_INVALID',
        `the database of ${dataDir} has no tokens, but the data directory was set up before: it is not the database it was made with (emptied, or another one). Sluice will not make a new admin token over the old data; restore the database, or move the data directory away to start afresh`,
      );
    if (tokenCount === 0) {
      newAdminToken = (await tokens.create('admin', 'admin')).token;
      await store.appendAudit(
        [{ actor: systemActor('first start'), action: 'token.create', reason: `the first admin token, in ${join(dataDir, 'admin-token')}`, links: { token: 'admin' }, outcome: 'done' }],
        clock.now(),
      );
      const path = join(dataDir, 'admin-token');
      writeFileSync(path, `${newAdminToken}\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
      writeFileSync(join(dataDir, INITIALISED), `${JSON.stringify({ at: new Date(clock.now()).toISOString(), database: config.databaseUrl ? 'postgres' : 'pglite' })}\n`, { mode: 0o600 });
    }
    // A new operator key each start, readable by whoever can read the data directory: the CLI on this machine.
    const operatorKey = randomBytes(32);
    const operatorKeyPath = join(dataDir, OPERATOR_KEY_FILE);
    writeFileSync(operatorKeyPath, `${operatorKey.toString('hex')}\n`, { mode: 0o600 });
    chmodSync(operatorKeyPath, 0o600);
    cleanups.push(() => rmSync(operatorKeyPath, { force: true }));
    const api = await buildApi({
      store,
      executor,
      releases,
      tokens,
      sessions,
      webDir,
      secrets: secretService,
      flags,
      bus,
      flagChanges,
      environments,
      environmentChanges,
      ...(github ? { github } : {}),
      rampSeries: (r) => ramps.series(r, clock.now()),
      logs: workspace,
      audit: store,
      clock,
      judge,
      isOperator: (key) => {
        const given = Buffer.from(key ?? '', 'hex');
        return given.length === operatorKey.length && timingSafeEqual(given, operatorKey);
      },
      streams: { maxStreams: config.limits.maxStreams, maxBufferedBytes: config.limits.streamBufferBytes, slowClientMs: config.limits.slowClientMs },
      stageUrl: (stage) => {
        const sp = executor.list().at(-1)?.plan.stages.find((s) => s.name === stage);
        return sp ? targets[sp.target]?.url(sp) : local.url({ name: stage });
      },
      version: SLUICE_VERSION,
      access: {
        readsNeedToken: !isLoopbackAddress(config.apiHost),
        // The address it listens on, when it is one address, is a name clients use; every interface is none.
        allowedHosts: [...config.apiAllowedHosts, ...(isWildcardAddress(config.apiHost) ? [] : [allowedHostName(config.apiHost) ?? config.apiHost])],
      },
      metricsText: () => router.prometheus(),
      database: async () => {
        try {
          // PGlite answers from memory after its files are gone: the files are looked at too.
          if (!config.databaseUrl && !existsSync(join(pgDir, 'PG_VERSION'))) return { ok: false, error: `the database files in ${pgDir} are gone` };
          await store.countTokens();
          return { ok: true };
        } catch (e) {
          return { ok: false, error: (e as Error).message.split('\n')[0] ?? 'unknown' };
        }
      },
      dataPlane: async () => {
        try {
          const h = await router.health();
          return { ok: true, pid: h.pid, port: h.port, build: h.build };
        } catch (e) {
          return { ok: false, error: (e as Error).message };
        }
      },
    });
    try {
      await api.listen({ port: config.apiPort, host: config.apiHost });
    } catch (e) {
      throw (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? apiPortTaken(config) : e;
    }
    cleanups.push(() => api.close());
    apiUrl = apiUrlOf(config.apiHost, (api.server.address() as AddressInfo).port);
    // The CLI finds this server from the data directory.
    writeFileSync(join(dataDir, 'api.json'), JSON.stringify({ url: apiUrl, pid: process.pid }));
    cleanups.push(() => rmSync(join(dataDir, 'api.json'), { force: true }));
    notifier.start();
    return {
      apiUrl,
      routerPort: dp.health.port,
      flagsPort: dp.health.flagsPort,
      flagServing,
      dataPlane: { pid: dp.health.pid, adopted: dp.adopted, build: dp.health.build },
      executor,
      events: bus,
      tokens,
      flags,
      dashboard: { url: `${apiUrl}/`, built: existsSync(join(webDir, 'index.html')) },
      retention,
      close,
      ...(newAdminToken ? { newAdminToken } : {}),
    };
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
}

/** `sluice down`: stops the control plane of a data directory if it runs, then its data plane and every app instance. */
export async function downSluice(dataDir: string): Promise<{ controlPlane: boolean; dataPlane: boolean; instances: number }> {
  const pid = readPidFile(join(dataDir, 'sluice.pid'));
  const controlPlane = pid !== undefined && pid !== process.pid && isAlive(pid);
  if (controlPlane) {
    // Its supervisor must not start the data plane again, and the control plane can tell why it is stopped.
    if (existsSync(join(dataDir, 'dataplane'))) writeFileSync(join(dataDir, 'dataplane', 'stop'), '');
    process.kill(pid, 'SIGTERM');
    for (const until = Date.now() + 15_000; isAlive(pid) && Date.now() < until; ) await sleep(50);
  }
  const dataPlane = existsSync(join(dataDir, 'dataplane')) ? await stopDataPlane(dataDir) : false;
  const instances = await stopLocalInstances(join(dataDir, 'local'));
  return { controlPlane, dataPlane, instances };
}

/** Written at the first start: the data directory has a database of its own, which must never be made again. */
const INITIALISED = 'initialised.json';

const apiPortTaken = (c: SluiceConfig) =>
  new SluiceError('CONFIG_INVALID', `the API port ${c.apiPort} on ${c.apiHost} is in use (another sluice up?); pass --port to use another`);

/** Where the CLI, links and tests reach the API: listening on every interface, they reach it on loopback. */
function apiUrlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '[::1]' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

function readPidFile(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

/** One control plane per data directory: PGlite and the local target both assume it. */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'sluice.pid');
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
  } catch {
    const other = readPidFile(path);
    if (other !== undefined && other !== process.pid && isAlive(other))
      throw new SluiceError('LOCKED', `another Sluice (pid ${other}) is using ${dataDir}; stop it or pass another --data-dir`);
    writeFileSync(path, String(process.pid));
  }
  return () => rmSync(path, { force: true });
}
