import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EventBus } from '../journeys/event-bus.js';
import { buildApi } from '../interfaces/http/server.js';
import { ArtifactStore } from '../adapters/artifacts-fs/artifact-store.js';
import { TokenService } from '../auth/token-service.js';
import type { SluiceConfig } from './config.js';
import { SluiceError } from '../kernel/errors.js';
import { liveReleases } from '../journeys/journey-decider.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import { type Clock, systemClock } from '../kernel/clock.js';
import { StepRunner } from '../journeys/step-runner.js';
import { BuiltinMetrics } from '../adapters/metrics-builtin/builtin-metrics.js';
import { Notifier } from '../notifications/notifier.js';
import { Executor } from '../journeys/executor.js';
import { isAlive } from '../platform/durable-run.js';
import { ReleaseService } from '../releases/release-service.js';
import { Router } from '../adapters/proxy-http1/router.js';
import { openStore } from '../adapters/store-sql/open-store.js';
import { CommandTarget } from '../adapters/target-command/command-target.js';
import { LocalTarget } from '../adapters/target-local/local-target.js';
import type { Target } from '../journeys/ports/target.js';

export const SLUICE_VERSION = '0.1.0';

export interface RunningSluice {
  apiUrl: string;
  routerPort: number;
  /** Set on the first start only: the admin token, also written to <dataDir>/admin-token. */
  newAdminToken?: string;
  executor: Executor;
  events: EventBus;
  close(): Promise<void>;
}

/** The composition root: wires the adapters to the ports and starts server, engine and router in one process. */
export async function startSluice(
  config: SluiceConfig,
  opts: { env: Record<string, string>; clock?: Clock; onError?: (e: unknown) => void },
): Promise<RunningSluice> {
  const clock = opts.clock ?? systemClock;
  const dataDir = config.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const releaseLock = lockDataDir(dataDir);
  const cleanups: (() => Promise<unknown> | unknown)[] = [releaseLock];
  const close = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const store = await openStore({ dataDir, ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}) });
    cleanups.push(() => store.close());
    const artifacts = new ArtifactStore(join(dataDir, 'artifacts'));
    const router = new Router();
    const routerPort = await router.listen(config.routerPort, config.host);
    cleanups.push(() => router.close());

    // The app name for hosts comes from the file; a broken file at start-up still lets the server come up.
    let app: string;
    try {
      app = parsePipeline(readFileSync(config.pipelineFile, 'utf8'), config.pipelineFile).app;
    } catch {
      // Reported when a release is created; the server still comes up with the app name of the last journey.
      const created = (await store.loadEvents()).findLast((e) => e.type === 'journey.created');
      app = created?.type === 'journey.created' ? created.plan.app : 'app';
    }
    const baseEnv = opts.env;
    const local = new LocalTarget({ root: join(dataDir, 'local'), app, artifacts, router, routerPort, baseEnv });
    const command = new CommandTarget({ root: join(dataDir, 'command'), artifacts, baseEnv, appDir: config.appDir });
    const targets: Record<string, Target> = { local, command };
    cleanups.push(async () => {
      for (const t of Object.values(targets)) await t.close();
    });

    const runsRoot = join(dataDir, 'runs');
    const bus = new EventBus();
    const executor = new Executor({
      store,
      clock,
      runner: new StepRunner({ targets, runsRoot, appDir: config.appDir, baseEnv, metrics: new BuiltinMetrics(router.metrics) }),
      onEvent: (e) => bus.publish(e),
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    let apiUrl = `http://${config.host}:${config.apiPort}`;
    const notifier = new Notifier({ store, clock, apiUrl: () => apiUrl, ...(opts.onError ? { onError: opts.onError } : {}) });
    bus.subscribe(() => notifier.handle());
    cleanups.push(() => notifier.stop());
    await executor.load();
    // Bring back what each stage served before the last stop, adopting instances that survived a crash.
    const journeys = executor.list();
    const live = liveReleases(journeys);
    const restore = [...live].flatMap(([stage, l]) => {
      const sp = journeys.find((j) => j.id === l.journeyId)?.plan.stages.find((s) => s.name === stage);
      return sp ? [{ stage: sp, release: l.release }] : [];
    });
    const resuming = executor.runningKeys();
    for (const t of Object.values(targets)) await t.restore(restore, resuming);
    cleanups.push(() => executor.stop());
    await executor.resume();

    const releases = new ReleaseService({
      store,
      executor,
      artifacts,
      clock,
      appDir: config.appDir,
      pipelineFile: config.pipelineFile,
      baseEnv,
    });
    const tokens = new TokenService(store, clock);
    let newAdminToken: string | undefined;
    if ((await tokens.count()) === 0) {
      newAdminToken = (await tokens.create('admin')).token;
      const path = join(dataDir, 'admin-token');
      writeFileSync(path, `${newAdminToken}\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
    }
    const api = await buildApi({
      store,
      executor,
      releases,
      tokens,
      bus,
      runsRoot,
      stageUrl: (stage) => {
        const sp = executor
          .list()
          .at(-1)
          ?.plan.stages.find((s) => s.name === stage);
        return sp ? targets[sp.target]?.url(sp) : local.url({ name: stage });
      },
      version: SLUICE_VERSION,
      metricsText: () => router.metrics.prometheus(),
    });
    await api.listen({ port: config.apiPort, host: config.host });
    cleanups.push(() => api.close());
    const addr = api.server.address() as AddressInfo;
    apiUrl = `http://${config.host}:${addr.port}`;
    notifier.start();
    return {
      apiUrl,
      routerPort,
      executor,
      events: bus,
      close,
      ...(newAdminToken ? { newAdminToken } : {}),
    };
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
}

/** One Sluice process per data directory: PGlite and the local target both assume it. */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'sluice.pid');
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
  } catch {
    const other = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (other !== process.pid && isAlive(other))
      throw new SluiceError(
        'LOCKED',
        `another Sluice (pid ${other}) is using ${dataDir}; stop it or pass another --data-dir`,
      );
    writeFileSync(path, String(process.pid));
  }
  return () => rmSync(path, { force: true });
}
