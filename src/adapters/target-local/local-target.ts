import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../../kernel/errors.js';
import type { ReleaseRef } from '../../journeys/journey-events.js';
import type { LocalTargetPlan, StagePlan } from '../../pipeline/pipeline.js';
import { isAlive, launch, readPid, terminate } from '../../platform/durable-run.js';
import { readJson, tail, writeFileAtomic } from '../../platform/files.js';
import { freePort, httpStatus } from '../../platform/net.js';
import type { Backend, Pool, RouterPort } from '../proxy-http1/router.js';
import { type CanaryOps, releaseEnv, type Target, type TargetRequest } from '../../journeys/ports/target.js';

/** Unpacks artifacts; the artifact store implements it. */
export interface ArtifactSource {
  unpack(digest: string, dest: string): Promise<string>;
}

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
  env: Record<string, string>;
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
}

export interface LocalTargetOptions {
  /** Where stage state, unpacked releases and instance logs live. */
  root: string;
  app: string;
  artifacts: ArtifactSource;
  router: RouterPort;
  routerPort: number;
  baseEnv: Record<string, string>;
}

const RESTART_BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 16000, 30000];

/**
 * Runs the app as N local processes per stage, behind the built-in router.
 * A new release is started beside the old one; the route moves only once every new instance is healthy;
 * then the old instances drain and stop (SIGTERM, then SIGKILL after stopTimeout).
 * Instances outlive a crash of Sluice: on restart they are adopted, not restarted.
 */
export class LocalTarget implements Target {
  readonly kind = 'local' as const;
  readonly canary: CanaryOps = {
    deployCanary: (req) => this.serial(req.stage.name, () => this.deployCanaryLocked(req.stage, req.release, req.key, req.io.log)),
    setCanaryWeight: (req) =>
      this.serial(req.stage.name, async () => {
        const st = this.load(req.stage.name);
        if (!st.canary || !sameRelease(st.canary.release, req.release)) throw new SluiceError('INVALID_STATE', `${req.stage.name} runs no canary of ${req.release.version}`);
        st.canary.weight = req.weight;
        this.save(req.stage.name, st);
        this.o.router.setCanaryWeight(this.host(req.stage.name), req.weight);
        req.io.log(`${req.weight}% of ${req.stage.name}'s users now reach ${req.release.version}`);
      }),
    promoteCanary: (req) => this.serial(req.stage.name, () => this.promoteLocked(req.stage, req.release, req.key, req.io.log)),
    previewUrl: (stage) => `http://${this.previewHost(stage.name)}:${this.o.routerPort}`,
  };

  private readonly watchers = new Map<string, { stop: () => void }>();
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
  private readonly locks = new Map<string, Promise<unknown>>();
  private serial<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(stage) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(
      stage,
      next.catch(() => {}),
    );
    return next;
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
        this.route(req.stage, st);
        this.save(req.stage.name, st);
        req.io.log(`all of ${req.stage.name}'s traffic is back on ${st.current?.release.version ?? 'nothing'}; stopping canary ${canary.release.version}`);
        await this.stopDeployment(req.stage.name, canary);
        return;
      }
      if (req.to === null) {
        req.io.log(`taking ${req.stage.name} down: it ran nothing before ${req.from.version}`);
        if (st.current) {
          this.o.router.removeRoute(this.host(req.stage.name));
          await this.stopDeployment(req.stage.name, st.current);
          st.current = undefined;
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

  async restore(
    stages: { stage: StagePlan; release: ReleaseRef | null }[],
    resuming: ReadonlySet<string>,
  ): Promise<void> {
    for (const { stage } of stages) {
      if (stage.target !== 'local') continue;
      await this.serial(stage.name, async () => {
        const st = this.load(stage.name);
        for (const d of st.draining) await this.stopDeployment(stage.name, d);
        st.draining = [];
        if (st.pending && !resuming.has(st.pending.key)) {
          await this.stopDeployment(stage.name, st.pending);
          st.pending = undefined;
        }
        if (st.current) {
          for (const i of st.current.instances) await this.ensureInstance(stage.name, st.current, i);
          this.save(stage.name, st);
          // A stage that does not come back healthy still gets its route and its supervisor, which keeps restarting it;
          // one broken stage must not keep Sluice from starting.
          await this.waitHealthy(stage.name, st.current, () => {}).catch((e: Error) => {
            for (const i of st.current!.instances) appendFileSync(this.logPath(stage.name, st.current!, i), `--- sluice: not healthy after restart: ${e.message}\n`);
          });
          if (st.canary) for (const i of st.canary.instances) await this.ensureInstance(stage.name, st.canary, i);
          this.route(stage, st);
          for (const d of [st.current, st.canary]) if (d) for (const i of d.instances) this.watch(stage.name, d.key, i);
        }
        this.save(stage.name, st);
      });
    }
  }

  /** Stops every instance (their state stays, so the next start brings them back). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers.values()) w.stop();
    this.watchers.clear();
    if (!existsSync(this.o.root)) return;
    for (const stage of readdirSync(this.o.root)) {
      await this.serial(stage, async () => {
        const st = this.load(stage);
        for (const d of [st.current, st.pending, st.canary, ...st.draining]) if (d) await this.stopDeployment(stage, d, false);
      });
    }
  }

  private async deployLocked(
    stage: StagePlan,
    release: ReleaseRef,
    key: string,
    log: (l: string) => void,
  ): Promise<void> {
    if (!stage.local) throw new SluiceError('INTERNAL', `stage ${stage.name} has no local target settings`);
    const st = this.load(stage.name);
    if (st.current?.key === key) {
      log(`deploy ${key} already done; ${release.version} serves ${stage.name}`);
      return;
    }
    const dir = await this.o.artifacts.unpack(
      release.digest,
      join(this.o.root, stage.name, 'releases', release.digest.replace(':', '-')),
    );
    let d = st.pending?.key === key ? st.pending : undefined;
    if (st.pending && !d) {
      await this.stopDeployment(stage.name, st.pending);
      st.pending = undefined;
    }
    if (!d) {
      const instances: Instance[] = [];
      for (let slot = 0; slot < stage.local.instances; slot++) instances.push({ slot, gen: 0, port: await freePort() });
      d = {
        key,
        release,
        plan: stage.local,
        env: { ...releaseEnv(this.o.baseEnv, stage, release), SLUICE_APP_DIR: dir },
        instances,
      };
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
    this.route(stage, st);
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

  private async deployCanaryLocked(stage: StagePlan, release: ReleaseRef, key: string, log: (l: string) => void): Promise<void> {
    if (!stage.local || !stage.canary) throw new SluiceError('INTERNAL', `stage ${stage.name} has no local canary settings`);
    const st = this.load(stage.name);
    if (!st.current) throw new SluiceError('INVALID_STATE', `${stage.name} serves nothing to compare a canary with`);
    let d = st.canary?.key === key ? st.canary : undefined;
    if (st.canary && !d) {
      await this.stopDeployment(stage.name, st.canary);
      st.canary = undefined;
    }
    if (!d) {
      const dir = await this.o.artifacts.unpack(release.digest, join(this.o.root, stage.name, 'releases', release.digest.replace(':', '-')));
      const instances: Instance[] = [];
      for (let slot = 0; slot < stage.canary.instances; slot++) instances.push({ slot, gen: 0, port: await freePort() });
      d = { key, release, plan: stage.local, env: { ...releaseEnv(this.o.baseEnv, stage, release), SLUICE_APP_DIR: dir }, instances, weight: 0 };
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
    this.route(stage, st);
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
    this.route(stage, st);
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

  /** Makes sure the instance runs: adopts it when its run is alive, else starts a new generation. */
  private async ensureInstance(stage: string, d: Deployment, i: Instance): Promise<void> {
    let dir = this.runDir(stage, d, i);
    if (existsSync(join(dir, 'lock'))) {
      if (this.instanceAlive(stage, d, i)) return;
      i.gen++;
      dir = this.runDir(stage, d, i);
    }
    const logPath = this.logPath(stage, d, i);
    mkdirSync(join(this.o.root, stage, 'logs'), { recursive: true });
    appendFileSync(
      logPath,
      `--- sluice: starting ${d.release.version} instance ${i.slot} (start ${i.gen}) on port ${i.port} at ${new Date().toISOString()}\n`,
    );
    await launch({
      dir,
      command: d.plan.start,
      cwd: d.env.SLUICE_APP_DIR ?? this.o.root,
      env: { ...d.env, PORT: String(i.port), SLUICE_INSTANCE: String(i.slot) },
      logPath,
      mode: 'service',
    });
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

  /** Routes the stage to its current deployment and, if there is one, its canary. */
  private route(stage: StagePlan | string, st: StageFile): void {
    const name = typeof stage === 'string' ? stage : stage.name;
    const sticky = typeof stage === 'string' ? undefined : stage.canary?.sticky;
    this.o.router.setRoute(this.host(name), {
      stage: name,
      stable: st.current ? this.pool(name, st.current) : null,
      canary: st.canary ? this.pool(name, st.canary) : null,
      canaryWeight: st.canary?.weight ?? 0,
      ...(sticky ? { sticky } : {}),
    });
    if (st.canary) this.o.router.setRoute(this.previewHost(name), { stage: name, stable: this.pool(name, st.canary) });
    else this.o.router.removeRoute(this.previewHost(name));
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
          if (!cd || !ci || this.instanceAlive(stage, cd, ci)) return;
          await this.ensureInstance(stage, cd, ci);
          this.save(stage, cur);
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

  private load(stage: string): StageFile {
    return readJson<StageFile>(join(this.o.root, stage, 'state.json')) ?? { draining: [] };
  }

  private save(stage: string, st: StageFile): void {
    writeFileAtomic(join(this.o.root, stage, 'state.json'), JSON.stringify(st, null, 1));
  }
}

const sameRelease = (a: ReleaseRef, b: ReleaseRef) => a.version === b.version && a.digest === b.digest;
const keyDir = (key: string) => key.replace(/[^A-Za-z0-9._-]+/g, '_');
const watchKey = (stage: string, key: string, i: Instance) => `${stage}|${key}|${i.slot}`;
