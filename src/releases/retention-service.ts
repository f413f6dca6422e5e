import type { Clock } from '../kernel/clock.js';
import type { StoredEvent } from '../journeys/journey-events.js';
import type { JourneyState } from '../journeys/journey-reducer.js';
import type { Target } from '../journeys/ports/target.js';
import type { ArtifactStore } from './ports/artifact-store.js';
import type { ReleaseStore } from './ports/release-store.js';
import { retentionPlan } from './retention-plan.js';

export interface RetentionServiceOptions {
  /** How many of the newest releases each stage ran it keeps on disk (at least 1). */
  keep: number;
  /** The journeys as the engine has them now. */
  journeys: () => readonly JourneyState[];
  releases: Pick<ReleaseStore, 'listReleases'>;
  artifacts: Pick<ArtifactStore, 'list' | 'remove'>;
  targets: readonly Pick<Target, 'pruneReleases'>[];
  /** The clock file times follow: the system's, in production. */
  clock: Clock;
  /**
   * What was used this recently (ms) before a pass took its snapshot stays, and is looked at again by a later pass:
   * a release recorded, or a journey started, after the snapshot may be using it. Default 5 s.
   */
  recentMs?: number;
  /** How long after a trigger a pass starts, so that a burst of triggers makes one pass. Default 1 s. */
  delayMs?: number;
  /** One line for people: what a pass removed, or why it failed. */
  notice: (line: string) => void;
  /** What runs besides the pipeline's stages and must stay: the digests by stage name (environments: ADR 25). */
  alsoKeep?: () => Promise<ReadonlyMap<string, ReadonlySet<string>>>;
}

/** What one pass removed. */
export interface RetentionReport {
  folders: { stage: string; digest: string }[];
  artifacts: { digest: string; bytes: number }[];
  /** What it left only because it was used too recently to judge; a later pass looks again. */
  deferred: number;
}

/**
 * Keeps the disk from filling with old releases: removes the unpacked folders and the artifacts that the retention
 * plan keeps for no stage. Passes run one at a time, in the background, after a stage's deploy, promotion or
 * rollback, and at start-up; they never hold a journey up, and a failing pass is one line and changes nothing else.
 */
export class RetentionService {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Passes in a row that were scheduled only to look again at what an earlier one deferred. */
  private followUps = 0;
  private readonly recentMs: number;
  private readonly delayMs: number;

  constructor(private readonly o: RetentionServiceOptions) {
    this.recentMs = o.recentMs ?? 5_000;
    this.delayMs = o.delayMs ?? 1_000;
  }

  /** Schedules a pass after an event that changes what a stage runs: a deploy, promotion or rollback that finished. */
  observe(e: StoredEvent): void {
    if (e.type === 'step.finished' && e.ok && (e.step === 'deploy' || e.step === 'promote' || e.step === 'rollback')) this.schedule();
  }

  /** Runs a pass after `delayMs`, unless one is scheduled already. */
  schedule(delayMs = this.delayMs): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
    // A pending pass is no reason for the process to stay up.
    this.timer.unref();
  }

  /** Runs one pass now (after the one under way, if any). Resolves undefined when it failed, which it has said in one line. */
  run(): Promise<RetentionReport | undefined> {
    const next = this.chain.then(async () => {
      if (this.stopped) return undefined;
      try {
        return await this.pass();
      } catch (e) {
        this.o.notice(`retention: a clean-up pass failed, nothing else is affected and the next deploy tries again: ${((e as Error).message ?? String(e)).split('\n')[0]}`);
        return undefined;
      }
    });
    this.chain = next;
    return next;
  }

  /** No more passes; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private async pass(): Promise<RetentionReport> {
    const snapshotAt = this.o.clock.now();
    // Releases before journeys: a release recorded in between is then in both, never in neither.
    const releases = await this.o.releases.listReleases();
    const journeys = this.o.journeys();
    const plan = retentionPlan({ journeys, releases, keep: this.o.keep });
    const unusedSince = snapshotAt - this.recentMs;
    const report: RetentionReport = { folders: [], artifacts: [], deferred: 0 };
    const keepByStage = new Map([...plan.stages].map(([stage, kept]) => [stage, new Set(kept.keys())]));
    const keepArtifacts = new Set(plan.artifacts.keys());
    for (const [stage, digests] of (await this.o.alsoKeep?.()) ?? []) {
      keepByStage.set(stage, new Set([...(keepByStage.get(stage) ?? []), ...digests]));
      for (const d of digests) keepArtifacts.add(d);
    }
    for (const t of this.o.targets) {
      const r = await t.pruneReleases(keepByStage, unusedSince);
      report.folders.push(...r.removed);
      report.deferred += r.deferred;
    }
    const why = `retention: not among the newest ${this.o.keep} release(s) of any stage, and not served, a canary, a rollback target or in flight`;
    for (const a of this.o.artifacts.list()) {
      if (keepArtifacts.has(a.digest)) continue;
      if (this.o.artifacts.remove(a.digest, unusedSince, why)) report.artifacts.push({ digest: a.digest, bytes: a.bytes });
      else report.deferred++;
    }
    // What was too recent is judged again once it is not, a few times at most: something that stays deferred (a
    // corrupt state file, say) waits for the next deploy instead of waking Sluice every few seconds.
    if (report.deferred === 0) this.followUps = 0;
    else if (this.followUps < 3) {
      this.followUps++;
      this.schedule(this.recentMs + this.delayMs);
    }
    if (report.folders.length > 0 || report.artifacts.length > 0) this.o.notice(summary(report, releases, this.o.keep));
    return report;
  }
}

function summary(r: RetentionReport, releases: readonly { version: string; digest: string; createdAt: number }[], keep: number): string {
  const versionOf = (digest: string) => releases.filter((x) => x.digest === digest).map((x) => x.version).join('/') || digest.slice(0, 19);
  // Oldest release first, as people count them; an artifact of no release last.
  const createdAt = (digest: string) => Math.min(...releases.filter((x) => x.digest === digest).map((x) => x.createdAt));
  const oldestFirst = <T extends { digest: string }>(xs: T[]) => [...xs].sort((a, b) => createdAt(a.digest) - createdAt(b.digest) || 0);
  const byStage = new Map<string, string[]>();
  for (const f of oldestFirst(r.folders)) byStage.set(f.stage, [...(byStage.get(f.stage) ?? []), versionOf(f.digest)]);
  const parts: string[] = [];
  if (r.folders.length > 0)
    parts.push(`${r.folders.length} unpacked release folder(s) (${[...byStage].map(([stage, vs]) => `${stage}: ${vs.join(', ')}`).join('; ')})`);
  if (r.artifacts.length > 0) {
    const bytes = r.artifacts.reduce((n, a) => n + a.bytes, 0);
    const size = bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.ceil(bytes / 1e3)} kB`;
    parts.push(`${r.artifacts.length} artifact(s) (${oldestFirst(r.artifacts).map((a) => versionOf(a.digest)).join(', ')}; ${size})`);
  }
  return `retention: removed ${parts.join(' and ')}; each stage keeps its newest ${keep} release(s)`;
}
