import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../../kernel/errors.js';
import { KeyedQueue } from '../../kernel/keyed-queue.js';
import {
  type CanaryOps,
  type DesiredStage,
  digestOfReleaseFolder,
  type PruneResult,
  type ReleaseRef,
  releaseEnv,
  releaseFolder,
  type StagePlan,
  type StageSecrets,
  type Target,
  type TargetRequest,
} from '../../journeys/ports/target.js';
import { type ArtifactStore, REMOVING_PREFIX } from '../../releases/ports/artifact-store.js';
import { type Backend, type Pool, type TrafficRouter, verifyRoute } from '../../rollout/ports/traffic-router.js';
import { isAlive, launch, readPid, terminate } from '../../platform/durable-run.js';
import { removeStageFolder, tail, writeFileAtomic } from '../../platform/files.js';
import { freePort, httpStatus, portFree } from '../../platform/net.js';
import type { EnvironmentSleeper } from '../../environments/ports/environment-sleeper.js';
import type { StepIO } from '../../journeys/ports/step-workspace.js';
import { asAccount, lookupAccount, openReleaseTo } from './workload-user.js';

type LocalTargetPlan = NonNullable<StagePlan['local']>;

interface Instance {
  /** The deployment that started it (its run directory is named by it); absent: the deployment it belongs to. */
  runKey?: string;
  slot: number;
  /** Bumped at every restart, so each start has a fresh run directory. */
  gen: number;
  port: number;
}

interface Deployment {
  key: string;
  release: ReleaseRef;
  plan: LocalTargetPlan;
  /** Without the stage's secrets: their values are fetched at each start and never written here. */
  env: Record<string, string>;
  /** The names of the stage's secrets. */
  secrets?: string[];
  instances: Instance[];
}

interface StageFile {
  current?: Deployment;
  /** A deployment being brought up: its instances may be running, not yet routed to. */
  pending?: Deployment;
  /** Old deployments whose instances are being drained and stopped. */
  draining: Deployment[];
  /** A canary beside `current`, with its share of the traffic. */
  canary?: Deployment & { weight: number };
  /** Scaled to zero since then (docs/adr/0029): `current`'s instances are stopped, and its route holds requests. */
  asleepSince?: number;
}

export interface LocalTargetOptions {
  /** Where stage state, unpacked releases and instance logs live. */
  root: string;
  app: string;
  artifacts: Pick<ArtifactStore, 'unpack' | 'removeUnpacked'>;
  router: TrafficRouter;
  /** The port the data plane's router listens on, for stage URLs. */
  routerPort: number;
  /** Sluice's own environment: instances get only its allow-list (see `workloadEnv`). */
  baseEnv: Record<string, string>;
  /** The values of a stage's secrets, fetched at each start of an instance; none when absent. */
  secrets?: StageSecrets;
  /** One line for people about something repaired (a corrupt state file, a stage converged to the log). */
  notice?: (line: string) => void;
  /**
   * Run before a new deployment's instances start (the database's migrations, ADR 26), in its unpacked release with
   * the env its instances get; a throw fails the deploy and nothing new starts.
   */
  beforeStart?: BeforeStart;
}

/** What runs before a deployment's instances start: its stage, release, unpacked folder, the instances' env (with secrets), and the deploy's log. */
export type BeforeStart = (req: {
  stage: StagePlan;
  release: ReleaseRef;
  key: string;
  appDir: string;
  env: Record<string, string>;
  redact: string[];
  log: (l: string) => void;
}) => Promise<void>;

const RESTART_BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 16000, 30000];

/**
 * Runs the app as N local processes per stage, behind the built-in router.
 * A new release is started beside the old one; the route moves only once every new instance is healthy;
 * then the old instances drain and stop (SIGTERM, then SIGKILL after stopTimeout).
 * Instances outlive a crash of Sluice: on restart they are adopted, not restarted.
 */
export class LocalTarget implements Target, EnvironmentSleeper {
  readonly kind = 'local' as const;
  readonly canary: CanaryOps = {
    deployCanary: (req) => this.serial(req.stage.name, () => this.deployCanaryLocked(req.stage, req.release, req.key, req.io.log)),
    setCanaryWeight: (req) =>
      this.serial(req.stage.name, async () => {
        const st = this.load(req.stage.name);
        if (!st.canary || !sameRelease(st.canary.release, req.release)) throw new SluiceError('INVALID_STATE', `${req.stage.name} runs no canary of ${req.release.version}`);
        st.canary.weight = req.weight;
        this.save(req.stage.name, st);
        const host = this.host(req.stage.name);
        await this.o.router.setCanaryWeight(host, req.weight);
        await verifyRoute(this.o.router, host, { stable: st.current?.release.version ?? null, canary: req.release.version, weight: req.weight });
        req.io.log(`${req.weight}% of ${req.stage.name}'s users now reach ${req.release.version} (verified on the router)`);
      }),
    promoteCanary: (req) => this.serial(req.stage.name, () => this.promoteLocked(req.stage, req.release, req.key, req.io.log)),
    previewUrl: (stage) => `http://${this.previewHost(stage.name)}:${this.o.routerPort}`,
  };

  private readonly watchers = new Map<string, { stop: () => void }>();
  /** The plan each stage was last routed with (stickiness, guard), for routing it again when an instance moves port. */
  private readonly routed = new Map<string, StagePlan>();
  private readonly restarts = new Map<string, { count: number; at: number }>();
  private closed = false;

  constructor(private readonly o: LocalTargetOptions) {
    mkdirSync(o.root, { recursive: true });
  }

  host(stage: string): string {
    return `${stage}.${this.o.app}.localhost`;
  }

  url(stage: Pick<StagePlan, 'name'>): string {
    return `http://${this.host(stage.name)}:${this.o.routerPort}`;
  }

  /** `<stage>-preview.<app>.localhost`: the canary alone. */
  previewHost(stage: string): string {
    return `${stage}-preview.${this.o.app}.localhost`;
  }

  /** Stage-level lock: deploy, rollback and restarts of one stage never interleave. */
  private readonly queue = new KeyedQueue();
  private serial<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(stage, fn);
  }

  async deploy(req: TargetRequest & { release: ReleaseRef }): Promise<void> {
    await this.serial(req.stage.name, () => this.deployLocked(req.stage, req.release, req.key, req.io.log));
  }

  async rollback(req: TargetRequest & { from: ReleaseRef; to: ReleaseRef | null }): Promise<void> {
    await this.serial(req.stage.name, async () => {
      const st = this.load(req.stage.name);
      if (st.canary && sameRelease(st.canary.release, req.from)) {
        // The canary never took over: all traffic back to the stable version at once, then the canary stops.
        const canary = st.canary;
        st.canary = undefined;
        this.save(req.stage.name, st);
        await this.route(req.stage, st);
        req.io.log(`all of ${req.stage.name}'s traffic is back on ${st.current?.release.version ?? 'nothing'}; stopping canary ${canary.release.version}`);
        await this.stopDeployment(req.stage.name, canary);
        return;
      }
      if (req.to === null) {
        req.io.log(`taking ${req.stage.name} down: it ran nothing before ${req.from.version}`);
        if (st.current) {
          await this.o.router.removeRoute(this.host(req.stage.name));
          await this.stopDeployment(req.stage.name, st.current);
          st.current = undefined;
          delete st.asleepSince;
          this.save(req.stage.name, st);
        }
        return;
      }
      if (
        st.current &&
        sameRelease(st.current.release, req.to) &&
        st.current.instances.every((i) => this.instanceAlive(req.stage.name, st.current!, i))
      ) {
        req.io.log(`${req.stage.name} already serves ${req.to.version}; nothing to do`);
        return;
      }
      req.io.log(`rolling ${req.stage.name} back from ${req.from.version} to ${req.to.version}`);
      await this.deployLocked(req.stage, req.to, req.key, req.io.log);
    });
  }

  async health(req: TargetRequest & { release: ReleaseRef }): Promise<{ ok: boolean; detail: string }> {
    const st = this.load(req.stage.name);
    const d = st.current;
    if (!d || !sameRelease(d.release, req.release))
      return { ok: false, detail: `${req.stage.name} does not serve ${req.release.version}` };
    for (const i of d.instances) {
      const code = await httpStatus(i.port, d.plan.healthPath);
      if (code < 200 || code >= 300)
        return {
          ok: false,
          detail: `instance ${i.slot} on port ${i.port} answered ${code || 'nothing'} at ${d.plan.healthPath}`,
        };
    }
    return { ok: true, detail: `${d.instances.length} instance(s) healthy` };
  }

  async restore(desired: DesiredStage[], resuming: ReadonlySet<string>): Promise<void> {
    const stages = desired.filter((d) => d.plan.target === 'local');
    for (const d of stages) await this.serial(d.stage, () => this.converge(d, resuming));
    // Stages the log does not say should serve anything: a first deploy under way keeps its instances (the engine
    // resumes it); anything else there stops (left by a crash, or a data directory reused for another pipeline).
    if (!existsSync(this.o.root)) return;
    for (const stage of readdirSync(this.o.root)) {
      if (stages.some((d) => d.stage === stage) || !existsSync(join(this.o.root, stage, 'instances'))) continue;
      await this.serial(stage, async () => {
        const st = this.load(stage);
        const keep = (dep: Deployment | undefined) => (dep && resuming.has(dep.key) ? dep : undefined);
        const resumed: StageFile = { draining: [], pending: keep(st.pending), current: keep(st.current) };
        await this.stopOrphans(stage, this.ownedRunDirs(stage, resumed));
      });
    }
  }

  /**
   * Makes one stage serve what the log says: adopts the instances its state file names when they match, and otherwise
   * starts the desired release afresh (the router keeps serving the old instances meanwhile), then stops whatever
   * runs that nobody owns.
   */
  private async converge(d: DesiredStage, resuming: ReadonlySet<string>): Promise<void> {
    const stage = d.stage;
    const st = this.load(stage);
    const say = (line: string) => {
      this.o.notice?.(`local target: ${line}`);
      mkdirSync(join(this.o.root, stage), { recursive: true });
      appendFileSync(join(this.o.root, stage, 'restore.log'), `${new Date().toISOString()} ${line}\n`);
    };
    const log = (line: string) => appendFileSync(join(this.o.root, stage, 'restore.log'), `${line}\n`);
    for (const old of st.draining) await this.stopDeployment(stage, old);
    st.draining = [];
    if (st.pending && !resuming.has(st.pending.key)) {
      await this.stopDeployment(stage, st.pending);
      st.pending = undefined;
    }
    const want = d.stable?.release;
    // A deployment whose step the engine resumes is its to finish: the log catches up when that step ends.
    const inFlight = st.current !== undefined && resuming.has(st.current.key);
    if (d.asleep && !inFlight && st.current && want && sameRelease(st.current.release, want)) {
      // Asleep (docs/adr/0029): nothing of it runs, and its route holds requests until it is woken.
      await this.stopDeployment(stage, st.current, false);
      this.forgetRuns(stage, st.current);
      st.asleepSince ??= Date.now();
    } else if (st.current && (inFlight || (want && sameRelease(st.current.release, want)))) {
      delete st.asleepSince;
      for (const i of st.current.instances) await this.ensureInstance(stage, st.current, i);
      this.save(stage, st);
      // A stage that does not come back healthy still gets its route and its supervisor, which keeps restarting it;
      // one broken stage must not keep Sluice from starting.
      await this.waitHealthy(stage, st.current, () => {}).catch((e: Error) => {
        for (const i of st.current!.instances) appendFileSync(this.logPath(stage, st.current!, i), `--- sluice: not healthy after restart: ${e.message}\n`);
      });
    } else if (want) {
      say(`${stage} should serve ${want.version} (the event log says so), but its state file ${st.current ? `names ${st.current.release.version}` : 'names nothing'}; starting ${want.version} again`);
      try {
        await this.deployLocked(d.plan, want, `restore-${d.stable!.journeyId}-${Date.now()}`, log, st);
      } catch (e) {
        say(`${stage} could not be brought back to ${want.version}: ${(e as Error).message.split('\n')[0]}`);
      }
    } else if (st.current) {
      say(`${stage} should serve nothing (the event log says so); stopping ${st.current.release.version}`);
      await this.o.router.removeRoute(this.host(stage));
      await this.stopDeployment(stage, st.current);
      st.current = undefined;
    }
    // (A promotion the engine resumes may already have made the canary the current deployment.)
    if (d.canary && st.current && !(inFlight && sameRelease(st.current.release, d.canary.release))) {
      const c = d.canary;
      if (st.canary && sameRelease(st.canary.release, c.release)) {
        for (const i of st.canary.instances) await this.ensureInstance(stage, st.canary, i);
      } else {
        say(`${stage} rolls ${c.release.version} out as a canary (the event log says so), but its state file ${st.canary ? `names ${st.canary.release.version}` : 'names none'}; starting it again`);
        try {
          await this.deployCanaryLocked(d.plan, c.release, `restore-canary-${c.journeyId}-${Date.now()}`, log, st);
        } catch (e) {
          say(`the canary ${c.release.version} of ${stage} could not be started again: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      if (st.canary) st.canary.weight = c.weight;
    } else if (st.canary && !resuming.has(st.canary.key) && !(st.pending && resuming.has(st.pending.key))) {
      // A canary the log does not want (its rollback or promotion ended while Sluice was away), and that no step
      // resuming now is still deploying.
      await this.stopDeployment(stage, st.canary);
      st.canary = undefined;
    }
    if (d.asleep && st.current && st.asleepSince === undefined && !inFlight) {
      // Started again above from a state file that named something else: it goes back to sleep as it should be.
      await this.stopDeployment(stage, st.current);
      this.forgetRuns(stage, st.current);
      st.asleepSince = Date.now();
    }
    this.save(stage, st);
    if (st.current) {
      await this.route(d.plan, st);
      const watched = st.asleepSince === undefined ? [st.current, st.canary] : [];
      for (const dep of watched) if (dep) for (const i of dep.instances) this.watch(stage, dep.key, i);
    }
    await this.stopOrphans(stage, this.ownedRunDirs(stage, st));
  }

  // ---- scale to zero (docs/adr/0029) --------------------------------------------------------------------------

  async lastRequestAt(stage: StagePlan): Promise<number | undefined> {
    return (await this.o.router.activity(this.host(stage.name)))?.lastRequestAt;
  }

  async sleep(stage: StagePlan, io: StepIO): Promise<boolean> {
    return this.serial(stage.name, async () => {
      const st = this.load(stage.name);
      const d = st.current;
      if (!d || st.asleepSince !== undefined || st.canary || st.pending) return false;
      st.asleepSince = Date.now();
      this.save(stage.name, st);
      // The route first: from now on the router holds new requests; those under way finish before the instances stop.
      await this.route(stage, st);
      await this.stopDeployment(stage.name, d);
      this.forgetRuns(stage.name, d);
      io.log(`asleep: ${d.instances.length} instance(s) of ${d.release.version} stopped; the router holds the next request and asks to wake it`);
      return true;
    });
  }

  /**
   * Removes the run directories of a deployment's stopped instances: an asleep stage keeps no pid that the system may
   * give to another process meanwhile (nothing would stop that one at the next start), and each wake starts afresh.
   */
  private forgetRuns(stage: string, d: Deployment): void {
    for (const i of d.instances) if (!this.instanceAlive(stage, d, i)) rmSync(this.runDir(stage, d, i), { recursive: true, force: true });
  }

  async wake(stage: StagePlan, io: StepIO): Promise<void> {
    await this.serial(stage.name, async () => {
      const st = this.load(stage.name);
      const d = st.current;
      if (!d) throw new SluiceError('INVALID_STATE', `${stage.name} runs nothing to wake`);
      if (st.asleepSince === undefined && d.instances.every((i) => this.instanceAlive(stage.name, d, i))) {
        // Awake already (a second call for one wake): the route is set again, which lets any held request go on.
        await this.route(stage, st);
        return;
      }
      for (const i of d.instances) {
        await this.ensureInstance(stage.name, d, i);
        this.save(stage.name, st);
      }
      try {
        await this.waitHealthy(stage.name, d, io.log);
      } catch (e) {
        // Not healthy: it stays asleep (held requests time out with 503), and the next request tries again.
        await this.stopDeployment(stage.name, d, false);
        this.forgetRuns(stage.name, d);
        throw e;
      }
      delete st.asleepSince;
      this.save(stage.name, st);
      await this.route(stage, st);
      for (const i of d.instances) this.watch(stage.name, d.key, i);
    });
  }

  /** Run directories the stage's state names (instances of its deployments, and the runs a promotion keeps). */
  private ownedRunDirs(stage: string, st: StageFile): Set<string> {
    const owned = new Set<string>();
    for (const dep of [st.current, st.pending, st.canary, ...st.draining])
      for (const i of dep?.instances ?? []) owned.add(this.runDir(stage, dep!, i));
    return owned;
  }

  /** Stops instances that run but that no deployment of the stage owns (left by a lost state file, or a crash mid-deploy). */
  private async stopOrphans(stage: string, owned: ReadonlySet<string>): Promise<void> {
    const dir = join(this.o.root, stage, 'instances');
    if (!existsSync(dir)) return;
    await Promise.all(
      readdirSync(dir).map(async (name) => {
        const runDir = join(dir, name);
        if (owned.has(runDir)) return;
        const pid = readPid(runDir);
        if (pid !== undefined && isAlive(pid)) {
          this.o.notice?.(`local target: stopping instance ${name} of ${stage} (pid ${pid}): no deployment the stage's state names owns it (a lost state file, or a crash mid-deploy)`);
          await terminate(pid, 5000);
        }
      }),
    );
  }

  async forgetStage(stage: string): Promise<void> {
    await this.serial(stage, async () => {
      await this.o.router.removeRoute(this.host(stage));
      await this.o.router.removeRoute(this.previewHost(stage));
      await this.stopOrphans(stage, new Set());
      await removeStageFolder((dest, since) => this.o.artifacts.removeUnpacked(dest, since), join(this.o.root, stage));
    });
  }

  async pruneReleases(keep: ReadonlyMap<string, ReadonlySet<string>>, unusedSince: number): Promise<PruneResult> {
    const result: PruneResult = { removed: [], deferred: 0 };
    if (!existsSync(this.o.root)) return result;
    for (const stage of readdirSync(this.o.root)) {
      const dir = join(this.o.root, stage, 'releases');
      if (!existsSync(dir)) continue;
      // Judged and moved aside under the stage's lock, so that no deploy, promotion or restart of the stage unpacks or
      // starts between the look at its state file and the removal; deleting the files waits for no one.
      const removals = await this.serial(stage, async () => {
        const st = this.peek(stage);
        if (!st) {
          // A corrupt state file names nothing we can trust; restore rebuilds it, and the next pass judges again.
          result.deferred++;
          return [];
        }
        const needed = new Set(keep.get(stage));
        for (const d of [st.current, st.pending, st.canary, ...st.draining]) if (d) needed.add(d.release.digest);
        const out: { digest: string | undefined; done: Promise<boolean> }[] = [];
        for (const name of readdirSync(dir)) {
          const digest = digestOfReleaseFolder(name);
          if (digest !== undefined && needed.has(digest)) continue;
          if (digest === undefined && !name.startsWith(REMOVING_PREFIX)) continue;
          // A leftover of an interrupted removal was judged already: it goes whatever its time.
          out.push({ digest, done: this.o.artifacts.removeUnpacked(join(dir, name), digest === undefined ? Number.POSITIVE_INFINITY : unusedSince) });
        }
        return out;
      });
      // Every removal is waited for, so that one failing leaves none of the others unobserved.
      const settled = await Promise.allSettled(removals.map((r) => r.done));
      let failure: unknown;
      settled.forEach((outcome, i) => {
        const digest = removals[i]!.digest;
        if (outcome.status === 'rejected') failure ??= outcome.reason;
        else if (digest === undefined) return;
        else if (outcome.value) result.removed.push({ stage, digest });
        else result.deferred++;
      });
      if (failure !== undefined) throw failure;
    }
    return result;
  }

  /** The control plane stops: instances keep running and serving; only watching them stops. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers.values()) w.stop();
    this.watchers.clear();
  }

  private async deployLocked(
    stage: StagePlan,
    release: ReleaseRef,
    key: string,
    log: (l: string) => void,
    st = this.load(stage.name),
  ): Promise<void> {
    if (!stage.local) throw new SluiceError('INTERNAL', `stage ${stage.name} has no local target settings`);
    if (st.current?.key === key) {
      log(`deploy ${key} already done; ${release.version} serves ${stage.name}`);
      return;
    }
    const dir = await this.o.artifacts.unpack(release.digest, this.releaseDir(stage.name, release));
    let d = st.pending?.key === key ? st.pending : undefined;
    if (st.pending && !d) {
      await this.stopDeployment(stage.name, st.pending);
      st.pending = undefined;
    }
    if (!d) {
      await this.beforeStart(stage, release, key, dir, log);
      d = await this.newDeployment(key, stage, stage.local, release, dir, stage.local.instances);
      st.pending = d;
      this.save(stage.name, st);
    }
    const pending = d;
    log(
      `starting ${pending.instances.length} instance(s) of ${release.version} (${release.digest.slice(0, 19)}) for ${stage.name}`,
    );
    for (const i of pending.instances) {
      await this.ensureInstance(stage.name, pending, i);
      this.save(stage.name, st);
      log(`  instance ${i.slot} on port ${i.port} (log: ${this.logPath(stage.name, pending, i)})`);
    }
    try {
      await this.waitHealthy(stage.name, pending, log);
    } catch (e) {
      log(
        `${(e as Error).message}; stopping the new instances, ${st.current ? `${st.current.release.version} keeps serving` : 'nothing was serving'}`,
      );
      await this.stopDeployment(stage.name, pending);
      st.pending = undefined;
      this.save(stage.name, st);
      throw e;
    }
    // Switch: one route write; then the old instances drain and stop.
    const old = st.current;
    st.current = pending;
    st.pending = undefined;
    delete st.asleepSince;
    await this.route(stage, st);
    if (old) st.draining.push(old);
    this.save(stage.name, st);
    for (const i of pending.instances) this.watch(stage.name, pending.key, i);
    log(`${stage.name} now routes to ${release.version}`);
    if (old) {
      log(`draining ${old.release.version}`);
      await this.stopDeployment(stage.name, old);
      st.draining = st.draining.filter((x) => x.key !== old.key);
      this.save(stage.name, st);
      log(`stopped ${old.release.version}`);
    }
  }

  private async deployCanaryLocked(
    stage: StagePlan,
    release: ReleaseRef,
    key: string,
    log: (l: string) => void,
    st = this.load(stage.name),
  ): Promise<void> {
    if (!stage.local || !stage.canary) throw new SluiceError('INTERNAL', `stage ${stage.name} has no local canary settings`);
    if (!st.current) throw new SluiceError('INVALID_STATE', `${stage.name} serves nothing to compare a canary with`);
    let d = st.canary?.key === key ? st.canary : undefined;
    if (st.canary && !d) {
      await this.stopDeployment(stage.name, st.canary);
      st.canary = undefined;
    }
    if (!d) {
      const dir = await this.o.artifacts.unpack(release.digest, this.releaseDir(stage.name, release));
      await this.beforeStart(stage, release, key, dir, log);
      d = { ...(await this.newDeployment(key, stage, stage.local, release, dir, stage.canary.instances)), weight: 0 };
      st.canary = d;
      this.save(stage.name, st);
    }
    const canary = d;
    log(`starting canary ${release.version}: ${canary.instances.length} instance(s) beside ${st.current.release.version}, no traffic yet`);
    for (const i of canary.instances) {
      await this.ensureInstance(stage.name, canary, i);
      this.save(stage.name, st);
    }
    try {
      await this.waitHealthy(stage.name, canary, log);
    } catch (e) {
      await this.stopDeployment(stage.name, canary);
      st.canary = undefined;
      this.save(stage.name, st);
      throw e;
    }
    await this.route(stage, st);
    for (const i of canary.instances) this.watch(stage.name, canary.key, i);
  }

  private async promoteLocked(stage: StagePlan, release: ReleaseRef, key: string, log: (l: string) => void): Promise<void> {
    if (!stage.local) throw new SluiceError('INTERNAL', `stage ${stage.name} has no local target settings`);
    const st = this.load(stage.name);
    if (st.current?.key === key) return;
    const canary = st.canary;
    if (!canary || !sameRelease(canary.release, release)) throw new SluiceError('INVALID_STATE', `${stage.name} runs no canary of ${release.version} to promote`);
    // Grow to full size: the canary's instances stay, and more start beside them.
    const kept = canary.instances.map((i) => ({ ...i, runKey: i.runKey ?? canary.key }));
    let full: Deployment = st.pending?.key === key ? st.pending : { ...canary, key, instances: kept };
    if (full !== st.pending) {
      for (let slot = full.instances.length; slot < stage.local.instances; slot++) full.instances.push({ slot, gen: 0, port: await freePort() });
      st.pending = full;
      this.save(stage.name, st);
    }
    full = st.pending!;
    log(`promoting ${release.version}: ${full.instances.length} instance(s)`);
    for (const i of full.instances) {
      await this.ensureInstance(stage.name, full, i);
      this.save(stage.name, st);
    }
    await this.waitHealthy(stage.name, full, log);
    const old = st.current;
    st.current = full;
    st.pending = undefined;
    st.canary = undefined;
    if (old) st.draining.push(old);
    await this.route(stage, st);
    this.save(stage.name, st);
    for (const i of canary.instances) this.watchers.get(watchKey(stage.name, canary.key, i))?.stop();
    for (const i of full.instances) this.watch(stage.name, full.key, i);
    log(`${stage.name} now routes all traffic to ${release.version}`);
    if (old) {
      await this.stopDeployment(stage.name, old);
      st.draining = st.draining.filter((x) => x.key !== old.key);
      this.save(stage.name, st);
      log(`stopped ${old.release.version}`);
    }
  }

  private runDir(stage: string, d: Deployment, i: Instance): string {
    return join(this.o.root, stage, 'instances', `${keyDir(i.runKey ?? d.key)}-${i.slot}-${i.gen}`);
  }

  logPath(stage: string, d: Deployment, i: Instance): string {
    return join(this.o.root, stage, 'logs', `${d.release.version}-${i.slot}.log`);
  }

  private instanceAlive(stage: string, d: Deployment, i: Instance): boolean {
    const pid = readPid(this.runDir(stage, d, i));
    return pid !== undefined && isAlive(pid);
  }

  /** Where a stage's copy of a release is unpacked. */
  /** A deployment of `release` from its unpacked `dir`, with `count` instances on free ports, none started yet. */
  private async newDeployment(
    key: string,
    stage: StagePlan,
    plan: LocalTargetPlan,
    release: ReleaseRef,
    dir: string,
    count: number,
  ): Promise<Deployment> {
    const instances: Instance[] = [];
    for (let slot = 0; slot < count; slot++) instances.push({ slot, gen: 0, port: await freePort() });
    const env = releaseEnv(this.o.baseEnv, stage, release, { SLUICE_APP_DIR: dir });
    return { key, release, plan, env, secrets: [...(stage.secrets ?? [])], instances };
  }

  /** The `beforeStart` hook, given the env the deployment's instances will get, secrets included (ADR 26). */
  private async beforeStart(stage: StagePlan, release: ReleaseRef, key: string, appDir: string, log: (l: string) => void): Promise<void> {
    // Only stages with something to run before they start pay for reading their secrets here.
    if (!this.o.beforeStart || (!stage.migrate && !stage.database)) return;
    const secrets = this.o.secrets ? await this.o.secrets({ name: stage.name, secrets: stage.secrets ?? [] }) : {};
    const env = { ...releaseEnv(this.o.baseEnv, stage, release, { SLUICE_APP_DIR: appDir }), ...secrets };
    await this.o.beforeStart({ stage, release, key, appDir, env, redact: Object.keys(secrets), log });
  }

  private releaseDir(stage: string, release: ReleaseRef): string {
    return join(this.o.root, stage, 'releases', releaseFolder(release.digest));
  }

  /**
   * Makes sure the instance runs: adopts it when its run is alive, else starts a new generation, unpacking its release
   * again if its folder is gone and moving to a free port if its old one was taken meanwhile. True when the port moved
   * (the stage must be routed again).
   */
  private async ensureInstance(stage: string, d: Deployment, i: Instance): Promise<boolean> {
    let dir = this.runDir(stage, d, i);
    if (existsSync(join(dir, 'lock'))) {
      if (this.instanceAlive(stage, d, i)) return false;
      i.gen++;
      dir = this.runDir(stage, d, i);
    }
    const moved = !(await portFree(i.port));
    if (moved) i.port = await freePort();
    const appDir = await this.o.artifacts.unpack(d.release.digest, this.releaseDir(stage, d.release));
    const secrets = this.o.secrets ? await this.o.secrets({ name: stage, secrets: d.secrets ?? [] }) : {};
    const account = d.plan.user ? lookupAccount(d.plan.user) : undefined;
    if (account) openReleaseTo(account, appDir, [dirname(this.o.root), this.o.root, join(this.o.root, stage), join(this.o.root, stage, 'releases')]);
    const logPath = this.logPath(stage, d, i);
    mkdirSync(join(this.o.root, stage, 'logs'), { recursive: true });
    appendFileSync(logPath, `--- sluice: starting ${d.release.version} instance ${i.slot} (start ${i.gen}) on port ${i.port} at ${new Date().toISOString()}\n`);
    await launch({
      dir,
      command: account ? asAccount(d.plan.start, account) : d.plan.start,
      cwd: appDir,
      // The folder is where this data directory is now (it may have moved since the deployment was recorded).
      env: {
        ...d.env,
        ...(account ? { HOME: account.home, USER: account.name, LOGNAME: account.name } : {}),
        ...secrets,
        SLUICE_APP_DIR: appDir,
        PORT: String(i.port),
        SLUICE_INSTANCE: String(i.slot),
      },
      redact: Object.keys(secrets),
      logPath,
      mode: 'service',
    });
    return moved;
  }

  private async waitHealthy(stage: string, d: Deployment, log: (l: string) => void): Promise<void> {
    const until = Date.now() + d.plan.healthTimeoutMs;
    const pending = new Set(d.instances);
    while (pending.size > 0) {
      for (const i of [...pending]) {
        if (!this.instanceAlive(stage, d, i)) {
          throw new SluiceError(
            'INTERNAL',
            `instance ${i.slot} of ${d.release.version} exited before it was healthy; its log ends:\n${tail(this.logPath(stage, d, i), 1500)}`,
          );
        }
        const code = await httpStatus(i.port, d.plan.healthPath, 1000);
        if (code >= 200 && code < 300) {
          pending.delete(i);
          log(`  instance ${i.slot} healthy (${d.plan.healthPath} answered ${code})`);
        }
      }
      if (pending.size === 0) break;
      if (Date.now() > until)
        throw new SluiceError(
          'INTERNAL',
          `instance(s) ${[...pending].map((i) => i.slot).join(', ')} of ${d.release.version} not healthy at ${d.plan.healthPath} within ${d.plan.healthTimeoutMs}ms`,
        );
      await sleep(25);
    }
  }

  private async stopDeployment(stage: string, d: Deployment, drain = true): Promise<void> {
    for (const i of d.instances) this.watchers.get(watchKey(stage, d.key, i))?.stop();
    if (drain) await this.o.router.drain(this.backends(stage, d), d.plan.stopTimeoutMs);
    await Promise.all(
      d.instances.map(async (i) => {
        const pid = readPid(this.runDir(stage, d, i));
        if (pid !== undefined) await terminate(pid, d.plan.stopTimeoutMs);
      }),
    );
  }

  /** Routes the stage to its current deployment and, if there is one, its canary; then checks the router took it. */
  private async route(stage: StagePlan, st: StageFile): Promise<void> {
    const name = stage.name;
    this.routed.set(name, stage);
    const host = this.host(name);
    const canary = st.canary && st.current ? st.canary : undefined;
    await this.o.router.setRoute(host, {
      stage: name,
      stable: st.current ? this.pool(name, st.current) : null,
      canary: canary ? this.pool(name, canary) : null,
      canaryWeight: canary?.weight ?? 0,
      ...(stage.canary?.sticky ? { sticky: stage.canary.sticky } : {}),
      ...(canary && stage.canary?.guard ? { guard: stage.canary.guard } : {}),
      ...(st.asleepSince !== undefined ? { asleep: true } : {}),
    });
    if (st.canary) await this.o.router.setRoute(this.previewHost(name), { stage: name, stable: this.pool(name, st.canary) });
    else await this.o.router.removeRoute(this.previewHost(name));
    const got = await this.o.router.route(host);
    const want = { stable: st.current?.release.version ?? null, canary: canary?.release.version ?? null };
    if (!got || got.stable !== want.stable || got.canary !== want.canary)
      throw new SluiceError('INTERNAL', `the router does not serve what it was told for ${host}: want ${JSON.stringify(want)}, it serves ${got ? JSON.stringify({ stable: got.stable, canary: got.canary }) : 'nothing'}`);
  }

  private pool(stage: string, d: Deployment): Pool {
    return { version: d.release.version, backends: this.backends(stage, d) };
  }

  private backends(stage: string, d: Deployment): Backend[] {
    return d.instances.map((i) => ({ id: `${stage}/${d.key}/${i.slot}`, port: i.port }));
  }

  /** Restarts a crashed instance of the current deployment, with exponential backoff. */
  private watch(stage: string, key: string, i: Instance): void {
    const wk = watchKey(stage, key, i);
    this.watchers.get(wk)?.stop();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      if (stopped || this.closed) return;
      const st = this.load(stage);
      const d = [st.current, st.canary].find((x) => x?.key === key);
      const inst = d?.instances.find((x) => x.slot === i.slot);
      if (!d || !inst) return;
      if (!this.instanceAlive(stage, d, inst)) {
        const prev = this.restarts.get(wk);
        // A run of 30 s without a crash forgives earlier crashes.
        const n = prev && Date.now() - prev.at < 30_000 ? prev.count : 0;
        const delay = RESTART_BACKOFF_MS[Math.min(n, RESTART_BACKOFF_MS.length - 1)]!;
        this.restarts.set(wk, { count: n + 1, at: Date.now() + delay });
        appendFileSync(
          this.logPath(stage, d, inst),
          `--- sluice: instance ${inst.slot} exited; restarting in ${delay}ms\n`,
        );
        await sleep(delay);
        if (stopped || this.closed) return;
        await this.serial(stage, async () => {
          const cur = this.load(stage);
          const cd = [cur.current, cur.canary].find((x) => x?.key === key);
          const ci = cd?.instances.find((x) => x.slot === i.slot);
          // (Stopped, or put to sleep, while this restart waited its turn: nothing to restart.)
          if (stopped || cur.asleepSince !== undefined || !cd || !ci || this.instanceAlive(stage, cd, ci)) return;
          const moved = await this.ensureInstance(stage, cd, ci);
          this.save(stage, cur);
          const plan = this.routed.get(stage);
          if (moved && plan) await this.route(plan, cur);
        }).catch((e: unknown) => {
          // A start that cannot happen now (a secret unset meanwhile, say) is said, and tried again at the next tick.
          const line = `--- sluice: instance ${inst.slot} of ${stage} cannot start: ${(e as Error).message}`;
          appendFileSync(this.logPath(stage, d, inst), `${line}\n`);
          this.o.notice?.(line);
        });
      }
      if (!stopped) timer = setTimeout(tick, 250);
    };
    timer = setTimeout(tick, 250);
    this.watchers.set(wk, {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        this.watchers.delete(wk);
      },
    });
  }

  /**
   * The stage's state file: a cache of what runs there. A missing one is an empty stage; a corrupt one is named in one
   * line, set aside, and read as empty, so that restore rebuilds the stage from the desired state.
   */
  private load(stage: string): StageFile {
    const path = join(this.o.root, stage, 'state.json');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return { draining: [] };
    }
    try {
      return parseStageFile(text);
    } catch (e) {
      const aside = `${path}.corrupt-${Date.now()}`;
      renameSync(path, aside);
      this.o.notice?.(`local target: ${path} is corrupt (${oneLine((e as Error).message)}); moved to ${aside}; the stage is rebuilt from the event log`);
      return { draining: [] };
    }
  }

  /** The stage's state file as it is, changing nothing; undefined when it is corrupt. */
  private peek(stage: string): StageFile | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.o.root, stage, 'state.json'), 'utf8');
    } catch {
      return { draining: [] };
    }
    try {
      return parseStageFile(text);
    } catch {
      return undefined;
    }
  }

  private save(stage: string, st: StageFile): void {
    writeFileAtomic(join(this.o.root, stage, 'state.json'), JSON.stringify(st, null, 1));
  }
}

function parseStageFile(text: string): StageFile {
  const st = JSON.parse(text) as StageFile;
  if (typeof st !== 'object' || st === null || !Array.isArray(st.draining)) throw new Error('not a stage state');
  return st;
}

const sameRelease = (a: ReleaseRef, b: ReleaseRef) => a.version === b.version && a.digest === b.digest;
const keyDir = (key: string) => key.replace(/[^A-Za-z0-9._-]+/g, '_');
const watchKey = (stage: string, key: string, i: Instance) => `${stage}|${key}|${i.slot}`;

/** `sluice down`: stops every instance the local target runs under `root` (state files stay; the next start brings them back). */
export async function stopLocalInstances(root: string): Promise<number> {
  if (!existsSync(root)) return 0;
  let stopped = 0;
  for (const stage of readdirSync(root)) {
    const dir = join(root, stage, 'instances');
    if (!existsSync(dir)) continue;
    await Promise.all(
      readdirSync(dir).map(async (name) => {
        const pid = readPid(join(dir, name));
        if (pid !== undefined && isAlive(pid)) {
          stopped++;
          await terminate(pid, 10_000);
        }
      }),
    );
  }
  return stopped;
}

/** An error message on one line (JSON.parse quotes the text it choked on, line breaks and all). */
const oneLine = (m: string) => m.replace(/\s*\n\s*/g, ' ');
