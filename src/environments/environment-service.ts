import type { AuditDraft } from '../audit/ports/audit-trail.js';
import type { DesiredStage } from '../journeys/desired-state.js';
import type { ReleaseRef } from '../journeys/journey-events.js';
import type { StepWorkspace } from '../journeys/ports/step-workspace.js';
import type { Target } from '../journeys/ports/target.js';
import { type Actor, actorLabel, systemActor, type TokenActor } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import { SluiceError } from '../kernel/errors.js';
import { formatDuration } from '../kernel/duration.js';
import { KeyedQueue } from '../kernel/keyed-queue.js';
import { secretName } from '../pipeline/pipeline-schema.js';
import type { Plan, StagePlan } from '../pipeline/pipeline.js';
import { DEFAULT_PROMOTERS } from '../journeys/protection.js';
import { ENV_IDLE_AFTER_MS, ENV_LIMITS, type EnvironmentRecord, type EnvironmentReview, envExpiresAt, envIdleSince, envNameFor, envNameProblem, envStagePlan, REVIEW_LIMITS, REVIEW_VERDICTS, REVIEWERS, type ReviewVerdict } from './environment.js';
import type { EnvironmentSleeper } from './ports/environment-sleeper.js';
import type { EnvironmentStore } from './ports/environment-store.js';
import type { PromotionOutcome, SourcePromoter } from './ports/source-promoter.js';
import type { DatabaseSource, EnvironmentDatabases } from './ports/environment-databases.js';

export interface EnvironmentServiceOptions {
  store: EnvironmentStore;
  /** The target an environment runs on (the local target: the only one that gives each its own address). */
  target: Pick<Target, 'deploy' | 'rollback' | 'health' | 'url' | 'forgetStage'>;
  /** A release by version, as kept. */
  release: (version: string) => Promise<ReleaseRef | undefined>;
  workspace: Pick<StepWorkspace, 'open' | 'readLog'>;
  clock: Clock;
  /** The pipeline now. */
  plan: () => Plan;
  onError?: (e: unknown) => void;
  /** Scales idle environments to zero and wakes them (docs/adr/0029); without it environments never sleep. */
  sleeper?: EnvironmentSleeper;
  /** Brings an approved environment's build to its source stage (ADR 27); without it, an approve only records the verdict. */
  promoter?: SourcePromoter;
  /** Told the names of the environments each write changed, made or removed (the dashboard's event stream). */
  changed?: (c: EnvironmentsChanged) => void;
  /** Environments' own databases (ADR 26): the port, and a stage's database with its password (from the stage's secret). */
  databases?: { port: EnvironmentDatabases; source: (stage: StagePlan) => Promise<DatabaseSource> };
}

/** Environments written, made or removed: the event stream's `environments.changed` frames. */
export interface EnvironmentsChanged {
  names: string[];
}

/** What `review` takes: the verdict, why, and what an approve does besides recording (the pipeline's `environments:` by default). */
export interface ReviewInput {
  verdict: ReviewVerdict;
  comment?: string;
  /** Bring the build to the source stage (default: `environments.onApprove` is promote). Only with approved. */
  promote?: boolean;
  /** Keep the environment after promoting it (default: not `environments.destroyOnPromote`). */
  keep?: boolean;
}

/** What a review did: the verdict kept, the promotion (when asked), and whether the environment is gone. */
export interface ReviewResult {
  name: string;
  review: EnvironmentReview;
  promotion: PromotionOutcome | null;
  destroyed: boolean;
  /** The environment now; null once destroyed. */
  environment: EnvironmentView | null;
}

/** What `create` takes: the name (or what to derive it from), the stage to clone and the build to run. */
export interface CreateEnvironmentInput {
  name?: string;
  branch?: string;
  pr?: number;
  from: string;
  /** A release's version. */
  ref: string;
  env?: Record<string, string>;
  ttlMs?: number;
}

/** An environment for people: its record, where it answers and when it expires. */
export interface EnvironmentView extends EnvironmentRecord {
  url: string | undefined;
  expiresAt: number | null;
  /** Scaled to zero (docs/adr/0029): the next request wakes it. */
  asleep: boolean;
}

/** How often expired environments are looked for. */
export const ENV_SWEEP_MS = 5_000;

/** The step key of an environment's nth deploy (its log is kept under it). */
const deployKey = (name: string, n: number) => `env-${name}/deploy-${n}`;

/**
 * Makes, deploys and destroys environments (ADR 25). An environment's record is its desired state: the target
 * converges to it at start (`desired`), so instances outlive the control plane as a stage's do. Work on one
 * environment runs one thing at a time; of several replicas, the store's conditional writes let one win.
 */
export class EnvironmentService {
  private readonly queue = new KeyedQueue();

  constructor(private readonly o: EnvironmentServiceOptions) {}

  /** Reads every environment and finishes what a stop interrupted: a deploy's outcome, a destroy. */
  async start(): Promise<void> {
    for (const e of await this.o.store.listEnvironments()) {
      if (e.status === 'destroying') await this.serial(e.name, () => this.finishDestroy(e, [])).catch((err: unknown) => this.o.onError?.(err));
      else if (e.status === 'deploying') await this.serial(e.name, () => this.settleInterrupted(e)).catch((err: unknown) => this.o.onError?.(err));
    }
    await this.sweepDatabases().catch((err: unknown) => this.o.onError?.(err));
  }

  // --- databases (ADR 26) ---
  /**
   * Drops the databases made for environments that have no record (a create or destroy cut short by a kill -9), on
   * the server of each stage that declares a database; answers the environments whose database was dropped.
   */
  async sweepDatabases(): Promise<string[]> {
    const dbs = this.o.databases;
    if (!dbs) return [];
    const plan = this.o.plan();
    const known = new Set((await this.o.store.listEnvironments()).map((e) => e.name));
    const servers = new Map<string, StagePlan>();
    for (const sp of plan.stages) if (sp.database) servers.set(new URL(sp.database.server ?? sp.database.url).host, sp);
    const dropped: string[] = [];
    for (const sp of servers.values()) {
      const source = await dbs.source(sp);
      for (const name of await dbs.port.list(plan.app, source)) {
        if (known.has(name)) continue;
        // Taken by the environment's queue: a create under way on this node has written its record before its database.
        await this.serial(name, async () => {
          if (await this.o.store.getEnvironment(name)) return;
          if (await dbs.port.drop(plan.app, name, source)) dropped.push(name);
        });
      }
    }
    return dropped;
  }

  /** Makes the environment's copy of its source's database at its first deploy, or when it is missing. */
  private async ensureDatabase(rec: EnvironmentRecord, sp: StagePlan, log: (l: string) => void): Promise<void> {
    const dbs = this.o.databases;
    if (!dbs || !sp.database) return;
    const app = this.o.plan().app;
    const source = await dbs.source(sp);
    if (rec.deploys > 1 && (await dbs.port.list(app, source)).includes(rec.name)) return;
    const t0 = this.o.clock.now();
    const url = await dbs.port.clone(app, rec.name, source, log);
    log(`environment ${rec.name} has its own database (${sp.database.clone} of ${sp.name}'s) at ${url}, made in ${this.o.clock.now() - t0} ms`);
  }

  /** Drops the environment's database, if its source stage declares one. */
  private async dropDatabase(e: EnvironmentRecord, log: (l: string) => void): Promise<void> {
    const dbs = this.o.databases;
    const sp = this.o.plan().stages.find((s) => s.name === e.source);
    if (!dbs || !sp?.database) return;
    if (await dbs.port.drop(this.o.plan().app, e.name, await dbs.source(sp))) log(`dropped environment ${e.name}'s database`);
  }
  // --- end databases ---

  /** What each environment should serve: given to the target with the stages' desired state at start. */
  async desired(): Promise<DesiredStage[]> {
    const out: DesiredStage[] = [];
    const pipeline = this.o.plan();
    for (const e of await this.o.store.listEnvironments()) {
      if (e.status === 'destroying') continue;
      // A failed deploy serves what it served before (nothing, for a first deploy).
      const serves = e.status === 'failed' ? e.previous : e.release;
      const plan = this.planOf(e, pipeline);
      const asleep = e.asleepSince !== undefined && e.status === 'ready' ? { asleep: true } : {};
      if (plan) out.push({ stage: e.name, stable: serves ? { release: serves, journeyId: `env-${e.name}` } : null, canary: null, plan, ...asleep });
    }
    return out;
  }

  /** The builds each environment needs kept on disk (what it runs, and what a failed deploy goes back to), by name. */
  async kept(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const e of await this.o.store.listEnvironments()) out.set(e.name, new Set([e.release.digest, ...(e.previous ? [e.previous.digest] : [])]));
    return out;
  }

  /** The stage whose secrets and flags an environment's workloads get, or undefined when `name` is no environment. */
  async sourceOf(name: string): Promise<string | undefined> {
    return (await this.o.store.getEnvironment(name))?.source;
  }

  async list(): Promise<EnvironmentView[]> {
    const pipeline = this.o.plan();
    return (await this.o.store.listEnvironments()).map((e) => this.view(e, pipeline));
  }

  async show(name: string): Promise<EnvironmentView> {
    return this.view(await this.get(name));
  }

  /** Makes an environment from a stage and deploys the given build to it; answers once it serves (or failed to). */
  async create(actor: Actor, input: CreateEnvironmentInput, audit: readonly AuditDraft[] = []): Promise<EnvironmentView> {
    const name = input.name ?? envNameFor(input);
    if (!name) throw new SluiceError('BAD_REQUEST', 'name the environment, or give the branch or pull request it is for');
    const plan = this.o.plan();
    const problem = envNameProblem(name, plan.stages.map((s) => s.name));
    if (problem) throw new SluiceError('BAD_REQUEST', problem);
    const sp = this.sourcePlan(plan, input.from);
    const env = checkEnv(input.env ?? {});
    if (sp.database && sp.database.env in env)
      throw new SluiceError('BAD_REQUEST', `env override ${sp.database.env}: it is the environment's own database, which Sluice sets; override another variable`);
    const ttlMs = checkTtl(input.ttlMs);
    const release = await this.releaseOf(input.ref);
    return this.serial(name, async () => {
      const all = await this.o.store.listEnvironments();
      if (all.some((e) => e.name === name)) throw new SluiceError('CONFLICT', `environment ${name} exists already: redeploy it (sluice env redeploy ${name} --ref ${input.ref}) or pick another name`);
      if (all.length >= ENV_LIMITS.count) throw new SluiceError('TOO_LARGE', `${all.length} environments exist, the most Sluice keeps at once; destroy one first`);
      const now = this.o.clock.now();
      const rec: EnvironmentRecord = {
        name,
        source: input.from,
        release,
        previous: null,
        env,
        status: 'deploying',
        deploys: 1,
        createdAt: now,
        createdBy: actorLabel(actor),
        deployedAt: now,
        ttlMs,
        maxAgeMs: ENV_LIMITS.maxAgeMs,
        pinned: false,
        ...(input.branch !== undefined ? { branch: input.branch } : {}),
        ...(input.pr !== undefined ? { pr: input.pr } : {}),
      };
      if (!(await this.o.store.putEnvironment(rec, undefined, this.drafts(audit, rec), now)))
        throw new SluiceError('CONFLICT', `environment ${name} was made by another request meanwhile`);
      this.announce(name);
      return this.view(await this.deploy(rec));
    });
  }

  /** Deploys a build (the same one, by default) to an environment again; the TTL starts again. */
  async redeploy(name: string, ref: string | undefined, audit: readonly AuditDraft[] = []): Promise<EnvironmentView> {
    return this.serial(name, async () => {
      const cur = await this.get(name);
      if (cur.status === 'destroying') throw new SluiceError('INVALID_STATE', `environment ${name} is being destroyed`);
      const release = ref === undefined ? cur.release : await this.releaseOf(ref);
      const now = this.o.clock.now();
      const next: EnvironmentRecord = { ...cur, release, previous: cur.status === 'failed' ? cur.previous : cur.release, status: 'deploying', deploys: cur.deploys + 1, deployedAt: now };
      delete next.reason;
      // A deploy starts its instances: an asleep environment is awake again.
      delete next.asleepSince;
      // A verdict is about a build: another build needs a review of its own.
      if (release.digest !== cur.release.digest) delete next.review;
      await this.write(next, cur, this.drafts(audit, next), now);
      return this.view(await this.deploy(next));
    });
  }

  /** Pins an environment (it never expires) or unpins it (its TTL counts again from its last deploy). */
  async pin(name: string, pinned: boolean, audit: readonly AuditDraft[] = []): Promise<EnvironmentView> {
    return this.serial(name, async () => {
      const cur = await this.get(name);
      const next = { ...cur, pinned };
      await this.write(next, cur, this.drafts(audit, next), this.o.clock.now());
      return this.view(next);
    });
  }

  /** Starts an environment's sliding TTL again from now, without a deploy (what a deploy does to it too). */
  async extend(name: string, audit: readonly AuditDraft[] = []): Promise<EnvironmentView> {
    return this.serial(name, async () => {
      const cur = await this.get(name);
      if (cur.status === 'destroying') throw new SluiceError('INVALID_STATE', `environment ${name} is being destroyed`);
      const now = this.o.clock.now();
      const next = { ...cur, deployedAt: now };
      await this.write(next, cur, this.drafts(audit, next), now);
      return this.view(next);
    });
  }

  /** Takes an environment down and removes everything it made: instances, route, folders, record. */
  async destroy(name: string, audit: readonly AuditDraft[] = []): Promise<void> {
    await this.serial(name, async () => this.destroyNow(await this.get(name), audit));
  }

  /**
   * Records a delivery lead's verdict on the build an environment runs (ADR 27). An approve, unless told otherwise
   * (the pipeline's `environments:`, or `promote`/`keep`), then brings the build to the source stage through its
   * journey, as `sluice promote` does, and destroys the environment. Nothing is written when the promotion is refused.
   */
  async review(actor: TokenActor, name: string, input: ReviewInput, audit: readonly AuditDraft[] = []): Promise<ReviewResult> {
    const comment = checkComment(input);
    const approved = input.verdict === 'approved';
    if (!approved && (input.promote !== undefined || input.keep !== undefined))
      throw new SluiceError('BAD_REQUEST', 'promote and keep go with an approve only; a request for changes records the verdict and its comment');
    return this.serial(name, async () => {
      const cur = await this.get(name);
      if (cur.status === 'destroying') throw new SluiceError('INVALID_STATE', `environment ${name} is being destroyed`);
      if (approved && cur.status !== 'ready')
        throw new SluiceError('INVALID_STATE', `environment ${name} is ${cur.status}, so its build ${cur.release.version} cannot be approved: approve once it is ready (sluice env show ${name})`, { status: cur.status });
      const config = { ...ENV_REVIEW_DEFAULTS, ...this.o.plan().environments };
      const promote = approved && (input.promote ?? config.onApprove === 'promote');
      const now = this.o.clock.now();
      const review: EnvironmentReview = {
        verdict: input.verdict,
        version: cur.release.version,
        by: actor.name,
        byId: actor.id,
        at: now,
        ...(comment ? { comment } : {}),
      };
      let promotion: PromotionOutcome | null = null;
      if (promote) {
        if (!this.o.promoter) throw new SluiceError('INVALID_STATE', 'this server cannot promote from an environment; record the verdict only (--no-promote)');
        const why = `environment ${name} approved by ${actor.name}${comment ? `: ${comment}` : ''}`;
        const draft: AuditDraft = { actor, action: 'stage.promote', reason: why.slice(0, 1000), links: { environment: name, release: cur.release.version, stage: cur.source }, outcome: 'done' };
        // The journey is asked first: a promotion it refuses leaves the verdict unwritten, so nothing changes.
        promotion = await this.o.promoter.promote(actor, cur.release, cur.source, [...DEFAULT_PROMOTERS, ...REVIEWERS], [draft]);
      }
      const next: EnvironmentRecord = { ...cur, review };
      await this.write(next, cur, this.drafts(audit, next), now);
      const destroyed = promotion !== null && !(input.keep ?? !config.destroyOnPromote);
      if (destroyed) {
        const reason = `approved and ${promotion!.outcome === 'promoted' ? 'promoted' : 'on its way'} to ${cur.source}`;
        await this.destroyNow(next, [{ actor, action: 'environment.destroy', reason, links: {}, outcome: 'done' }]);
      }
      return { name, review, promotion, destroyed, environment: destroyed ? null : this.view(next) };
    });
  }

  /** The log of an environment's last deploy: up to `max` bytes from `offset`. */
  async logs(name: string, offset = 0, max = 1 << 20): Promise<string> {
    const e = await this.get(name);
    return this.o.workspace.readLog(deployKey(e.name, e.deploys), offset, max)?.data.toString('utf8') ?? '';
  }

  /** Destroys every environment whose TTL (or maximum age) is over; answers their names. */
  async sweep(): Promise<string[]> {
    const now = this.o.clock.now();
    const gone: string[] = [];
    for (const e of await this.o.store.listEnvironments()) {
      const at = envExpiresAt(e);
      if (at === null || at > now || e.status === 'destroying') continue;
      const actor = systemActor(`environment ${e.name} expired`);
      const why = at === e.createdAt + e.maxAgeMs ? 'its maximum age is reached' : `no deploy for ${Math.round(e.ttlMs / 3_600_000)} h`;
      try {
        await this.destroy(e.name, [{ actor, action: 'environment.expire', reason: `${why} (expired at ${new Date(at).toISOString()})`, links: { environment: e.name }, outcome: 'done' }]);
        gone.push(e.name);
      } catch (err) {
        this.o.onError?.(err);
      }
    }
    return gone;
  }

  // ---- scale to zero (docs/adr/0029) ----------------------------------------------------------------------------

  /** How long an environment may go without a request before it sleeps, as the pipeline says now. */
  idleAfterMs(): number {
    return this.o.plan().envIdleAfterMs ?? ENV_IDLE_AFTER_MS;
  }

  /**
   * Puts every environment that got no request for `environments.idleAfter` to sleep: its record says so first (the
   * desired state: a restart does not start it), then its instances stop. Answers their names.
   */
  async sleepIdle(): Promise<string[]> {
    const sleeper = this.o.sleeper;
    if (!sleeper) return [];
    const idleAfter = this.idleAfterMs();
    const slept: string[] = [];
    for (const e of await this.o.store.listEnvironments()) {
      if (e.status !== 'ready' || e.asleepSince !== undefined) continue;
      try {
        const done = await this.serial(e.name, async () => {
          const cur = await this.o.store.getEnvironment(e.name);
          const plan = cur && this.planOf(cur);
          if (!cur || !plan || cur.status !== 'ready' || cur.asleepSince !== undefined) return false;
          const last = await sleeper.lastRequestAt(plan);
          const now = this.o.clock.now();
          if (last === undefined || now - envIdleSince(cur, last) < idleAfter) return false;
          await this.write({ ...cur, asleepSince: now }, cur, [], now);
          const io = this.o.workspace.open(deployKey(cur.name, cur.deploys));
          io.log(`${new Date(now).toISOString()} no request for ${formatDuration(now - envIdleSince(cur, last))} (environments.idleAfter: ${formatDuration(idleAfter)}): going to sleep`);
          await sleeper.sleep(plan, io);
          return true;
        });
        if (done) slept.push(e.name);
      } catch (err) {
        this.o.onError?.(err);
      }
    }
    return slept;
  }

  /**
   * A request waits for an environment (the router holds it): its record says awake, its instances start, and once
   * they are healthy its route takes the held requests. An environment that is awake only has its route set again.
   */
  async wake(name: string): Promise<void> {
    const sleeper = this.o.sleeper;
    if (!sleeper) return;
    await this.serial(name, async () => {
      const cur = await this.o.store.getEnvironment(name);
      const plan = cur && this.planOf(cur);
      if (!cur || !plan || cur.status === 'destroying') return;
      const io = this.o.workspace.open(deployKey(cur.name, cur.deploys));
      const began = this.o.clock.now();
      const next: EnvironmentRecord = { ...cur, wokeAt: began };
      delete next.asleepSince;
      if (cur.asleepSince !== undefined) {
        await this.write(next, cur, [], began);
        io.log(`${new Date(began).toISOString()} a request came after ${formatDuration(began - cur.asleepSince)} asleep: waking up`);
      }
      try {
        await sleeper.wake(plan, io);
      } catch (e) {
        // It did not come up: it stays asleep (the held requests get 503 when their time is up), and the next request
        // tries again.
        io.log(`it could not wake: ${(e as Error).message.split('\n')[0]}`);
        if (cur.asleepSince !== undefined) await this.write(cur, next, [], this.o.clock.now());
        throw e;
      }
      if (cur.asleepSince !== undefined) io.log(`awake: ${cur.release.version} serves again, ${formatDuration(this.o.clock.now() - began)} after the request came`);
    });
  }

  private async deploy(rec: EnvironmentRecord): Promise<EnvironmentRecord> {
    const plan = this.planOf(rec);
    if (!plan) return this.fail(rec, `its source stage ${rec.source} is no longer in the pipeline`);
    const key = deployKey(rec.name, rec.deploys);
    const io = this.o.workspace.open(key);
    io.log(`deploying ${rec.release.version} to environment ${rec.name} (a clone of ${rec.source})`);
    const sp = this.o.plan().stages.find((s) => s.name === rec.source);
    try {
      if (sp) await this.ensureDatabase(rec, sp, io.log);
    } catch (e) {
      const reason = `its database could not be made: ${(e as Error).message.split('\n')[0]!}`;
      io.log(reason);
      return this.fail(rec, reason);
    }
    try {
      await this.o.target.deploy({ stage: plan, key, io, release: rec.release });
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0]!;
      io.log(`the deploy failed: ${reason}`);
      // What it served before comes back (a first deploy leaves nothing running).
      await this.o.target.rollback({ stage: plan, key: `${key}/rollback`, io, from: rec.release, to: rec.previous }).catch((err: Error) => io.log(`the rollback failed too: ${err.message}`));
      return this.fail(rec, reason);
    }
    io.log(`environment ${rec.name} serves ${rec.release.version} at ${this.o.target.url(plan) ?? '(no address)'}`);
    const ready: EnvironmentRecord = { ...rec, status: 'ready' };
    await this.write(ready, rec, [], this.o.clock.now());
    return ready;
  }

  private async fail(rec: EnvironmentRecord, reason: string): Promise<EnvironmentRecord> {
    const failed: EnvironmentRecord = { ...rec, status: 'failed', reason };
    await this.write(failed, rec, [], this.o.clock.now());
    return failed;
  }

  /** A deploy the control plane's stop interrupted: the target has brought the release back at start; is it healthy? */
  private async settleInterrupted(e: EnvironmentRecord): Promise<void> {
    const plan = this.planOf(e);
    const key = deployKey(e.name, e.deploys);
    const h = plan ? await this.o.target.health({ stage: plan, key, io: this.o.workspace.open(key), release: e.release }) : undefined;
    if (h?.ok) await this.write({ ...e, status: 'ready' }, e, [], this.o.clock.now());
    else await this.fail(e, `the control plane stopped during the deploy, and the environment is not healthy since: ${h?.detail ?? `its source stage ${e.source} is gone`}`);
  }

  private async destroyNow(cur: EnvironmentRecord, audit: readonly AuditDraft[]): Promise<void> {
    const next: EnvironmentRecord = { ...cur, status: 'destroying' };
    if (cur.status !== 'destroying') await this.write(next, cur, [], this.o.clock.now());
    await this.finishDestroy(next, this.drafts(audit, next));
  }

  private async finishDestroy(e: EnvironmentRecord, audit: readonly AuditDraft[]): Promise<void> {
    const plan = this.planOf(e) ?? ({ ...fallbackPlan, name: e.name } satisfies StagePlan);
    const key = `env-${e.name}/destroy`;
    const io = this.o.workspace.open(key);
    await this.o.target.rollback({ stage: plan, key, io, from: e.release, to: null });
    await this.dropDatabase(e, io.log);
    await this.o.target.forgetStage(e.name);
    await this.o.store.deleteEnvironment(e.name, audit, this.o.clock.now());
    this.announce(e.name);
  }

  private announce(name: string): void {
    try {
      this.o.changed?.({ names: [name] });
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  private async write(next: EnvironmentRecord, cur: EnvironmentRecord, audit: readonly AuditDraft[], at: number): Promise<void> {
    if (!(await this.o.store.putEnvironment(next, { deploys: cur.deploys, status: cur.status }, audit, at)))
      throw new SluiceError('CONFLICT', `environment ${cur.name} was changed by another request meanwhile; read it again`);
    this.announce(next.name);
  }

  private async get(name: string): Promise<EnvironmentRecord> {
    const e = await this.o.store.getEnvironment(name);
    if (!e) throw new SluiceError('NOT_FOUND', `there is no environment ${name} (sluice env list shows them)`);
    return e;
  }

  private async releaseOf(version: string): Promise<ReleaseRef> {
    const r = await this.o.release(version);
    if (!r) throw new SluiceError('NOT_FOUND', `there is no release ${version}: create it first (sluice release create ${version})`);
    return r;
  }

  /** The source stage's plan, checked: it exists, runs on the local target and is not one of the pipeline's last stages. */
  private sourcePlan(plan: Plan, from: string): StagePlan {
    const sp = plan.stages.find((s) => s.name === from);
    if (!sp) throw new SluiceError('BAD_REQUEST', `--from ${from}: the pipeline has no such stage (it has ${plan.stages.map((s) => s.name).join(', ')})`);
    if (sp.target !== 'local') throw new SluiceError('BAD_REQUEST', `--from ${from}: stage ${from} runs on the ${sp.target} target; environments run on the local target, which gives each its own address`);
    const last = new Set(plan.stages.map((s) => s.name));
    for (const s of plan.stages) for (const a of s.after) last.delete(a);
    // Production's secrets never reach an environment: it is cloned from a stage before the last ones.
    if (last.has(from) && plan.stages.length > 1)
      throw new SluiceError('BAD_REQUEST', `--from ${from}: ${from} is a last stage of the pipeline (production); environments are cloned from a stage before it, such as ${plan.stages.find((s) => !last.has(s.name))?.name}, and production's secrets never reach one`);
    return sp;
  }

  /**
   * The plan an environment deploys with now, or undefined when its source stage is gone from the pipeline. A caller
   * going through many environments reads the pipeline once and passes it.
   */
  private planOf(e: Pick<EnvironmentRecord, 'name' | 'env' | 'source'>, pipeline: Plan = this.o.plan()): StagePlan | undefined {
    const sp = pipeline.stages.find((s) => s.name === e.source);
    return sp && envStagePlan(sp, e);
  }

  private view(e: EnvironmentRecord, pipeline?: Plan): EnvironmentView {
    const plan = this.planOf(e, pipeline);
    return { ...e, url: plan ? this.o.target.url(plan) : undefined, expiresAt: envExpiresAt(e), asleep: e.asleepSince !== undefined };
  }

  /** The route's audit records, linked to the environment. */
  private drafts(audit: readonly AuditDraft[], e: EnvironmentRecord): AuditDraft[] {
    return audit.map((d) => ({ ...d, links: { ...d.links, environment: e.name, release: e.release.version, stage: e.source } }));
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(name, fn);
  }
}

/** Enough of a plan to take down an environment whose source stage left the pipeline. */
const fallbackPlan: Omit<StagePlan, 'name'> = { after: [], target: 'local', env: {}, config: {}, verify: [], approval: false, bakeMs: 0, autoPromote: true };

function checkEnv(env: Record<string, string>): Record<string, string> {
  const entries = Object.entries(env);
  if (entries.length > ENV_LIMITS.envVars) throw new SluiceError('TOO_LARGE', `${entries.length} env overrides; at most ${ENV_LIMITS.envVars}`);
  for (const [k, v] of entries) {
    if (!secretName.safeParse(k).success)
      throw new SluiceError('BAD_REQUEST', `env override ${JSON.stringify(k.slice(0, 80))} is not a variable an environment may set (a name of letters, digits and _, not SLUICE_* or PORT)`);
    if (typeof v !== 'string' || v.length > ENV_LIMITS.envValueLength || v.includes('\0'))
      throw new SluiceError('BAD_REQUEST', `env override ${k}: a string of at most ${ENV_LIMITS.envValueLength} characters without NUL`);
  }
  return Object.fromEntries(entries);
}

/** What an approve does when the pipeline's `environments:` does not say: promote to the source stage, then destroy. */
const ENV_REVIEW_DEFAULTS = { onApprove: 'promote', destroyOnPromote: true } as const;

function checkComment(input: ReviewInput): string | undefined {
  if (!(REVIEW_VERDICTS_SET as ReadonlySet<string>).has(input.verdict))
    throw new SluiceError('BAD_REQUEST', `verdict ${JSON.stringify(String(input.verdict).slice(0, 40))}: approved or changes-requested`);
  const text = input.comment?.trim() ?? '';
  if (text.length > REVIEW_LIMITS.commentLength || text.includes('\0'))
    throw new SluiceError('BAD_REQUEST', `comment: at most ${REVIEW_LIMITS.commentLength} characters without NUL, not ${text.length}`);
  if (input.verdict === 'changes-requested' && text.length === 0)
    throw new SluiceError('BAD_REQUEST', 'a request for changes needs a comment that says which (--comment "...")');
  return text || undefined;
}

const REVIEW_VERDICTS_SET: ReadonlySet<ReviewVerdict> = new Set(REVIEW_VERDICTS);

function checkTtl(ttlMs: number | undefined): number {
  if (ttlMs === undefined) return ENV_LIMITS.ttlMs;
  if (!Number.isInteger(ttlMs) || ttlMs < 10_000 || ttlMs > ENV_LIMITS.maxTtlMs)
    throw new SluiceError('BAD_REQUEST', `ttl: from 10 s to ${ENV_LIMITS.maxTtlMs / 86_400_000} days, not ${ttlMs} ms`);
  return ttlMs;
}
