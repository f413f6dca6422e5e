import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError } from '../../kernel/errors.js';
import {
  digestOfReleaseFolder,
  type PruneResult,
  type ReleaseRef,
  releaseEnv,
  type StageSecrets,
  releaseFolder,
  type StagePlan,
  type StepIO,
  type Target,
  type TargetRequest,
} from '../../journeys/ports/target.js';
import { runOnce } from '../../platform/durable-run.js';
import { removeStageFolder, tail } from '../../platform/files.js';
import { type ArtifactStore, REMOVING_PREFIX } from '../../releases/ports/artifact-store.js';

export interface CommandTargetOptions {
  root: string;
  artifacts: Pick<ArtifactStore, 'pathOf' | 'unpack' | 'removeUnpacked'>;
  /** Sluice's own environment: commands get only its allow-list (see `workloadEnv`). */
  baseEnv: Record<string, string>;
  /** The values of a stage's secrets, for its commands; none when absent. */
  secrets?: StageSecrets;
  appDir: string;
}

/**
 * The user's own deploy, rollback and health commands (terraform, cdk, helm, kubectl ...).
 * Each runs once per step key, in the app directory, with the stage's config as environment:
 * SLUICE_RELEASE_VERSION, SLUICE_ARTIFACT (the stored tarball), SLUICE_ARTIFACT_DIR (unpacked), SLUICE_CONFIG (JSON)
 * and the stage's env. Output goes to the step's log.
 */
export class CommandTarget implements Target {
  readonly kind = 'command' as const;
  /**
   * Unpacked folders that commands of this process use now, with how many use each. A command may run for a long
   * time after it unpacked its release, and its folder must stay while it does, whatever a retention pass thinks.
   */
  private readonly inUse = new Map<string, number>();

  constructor(private readonly o: CommandTargetOptions) {}

  url(stage: StagePlan): string | undefined {
    return stage.command?.url;
  }

  async deploy(req: TargetRequest & { release: ReleaseRef }): Promise<void> {
    const c = this.plan(req.stage);
    await this.run(req, 'deploy', c.deploy, req.release);
    if (c.health) await this.run(req, 'health', c.health, req.release);
  }

  async rollback(req: TargetRequest & { from: ReleaseRef; to: ReleaseRef | null }): Promise<void> {
    const c = this.plan(req.stage);
    if (c.rollback) {
      await this.run(req, 'rollback', c.rollback, req.to, { SLUICE_ROLLBACK_FROM: req.from.version });
    } else if (req.to) {
      req.io.log(`no rollback command: deploying ${req.to.version} again with the deploy command`);
      await this.run(req, 'rollback-deploy', c.deploy, req.to, { SLUICE_ROLLBACK_FROM: req.from.version });
    } else {
      req.io.log(`no rollback command and nothing ran before ${req.from.version}: leaving ${req.stage.name} as it is`);
      return;
    }
    if (c.health && req.to) await this.run(req, 'rollback-health', c.health, req.to);
  }

  async health(req: TargetRequest & { release: ReleaseRef }): Promise<{ ok: boolean; detail: string }> {
    const c = this.plan(req.stage);
    if (!c.health) return { ok: true, detail: 'no health command; assumed healthy' };
    try {
      await this.run(req, 'health', c.health, req.release);
      return { ok: true, detail: 'health command passed' };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  async restore(): Promise<void> {}
  async close(): Promise<void> {}

  async forgetStage(stage: string): Promise<void> {
    await removeStageFolder((dest, since) => this.o.artifacts.removeUnpacked(dest, since), join(this.o.root, stage));
  }

  async pruneReleases(keep: ReadonlyMap<string, ReadonlySet<string>>, unusedSince: number): Promise<PruneResult> {
    const result: PruneResult = { removed: [], deferred: 0 };
    if (!existsSync(this.o.root)) return result;
    for (const stage of readdirSync(this.o.root)) {
      const dir = join(this.o.root, stage, 'releases');
      if (!existsSync(dir)) continue;
      const needed = keep.get(stage);
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const digest = digestOfReleaseFolder(name);
        if (digest !== undefined && (needed?.has(digest) || this.inUse.has(path))) continue;
        if (digest === undefined && !name.startsWith(REMOVING_PREFIX)) continue;
        // A leftover of an interrupted removal was judged already: it goes whatever its time.
        const removed = await this.o.artifacts.removeUnpacked(path, digest === undefined ? Number.POSITIVE_INFINITY : unusedSince);
        if (digest === undefined) continue;
        if (removed) result.removed.push({ stage, digest });
        else result.deferred++;
      }
    }
    return result;
  }

  private plan(stage: StagePlan) {
    if (!stage.command) throw new SluiceError('INTERNAL', `stage ${stage.name} has no command target settings`);
    return stage.command;
  }

  private async run(
    req: { stage: StagePlan; key: string; io: StepIO },
    name: string,
    command: string,
    release: ReleaseRef | null,
    extra: Record<string, string> = {},
  ): Promise<void> {
    const c = this.plan(req.stage);
    const secrets = this.o.secrets ? await this.o.secrets(req.stage) : {};
    const files: Record<string, string> = {};
    const folder = release ? join(this.o.root, req.stage.name, 'releases', releaseFolder(release.digest)) : undefined;
    // Claimed before unpacking starts: a prune between here and the command's end leaves the folder alone.
    if (folder) this.inUse.set(folder, (this.inUse.get(folder) ?? 0) + 1);
    let out: Awaited<ReturnType<typeof runOnce>>;
    try {
      if (release && folder) {
        files.SLUICE_ARTIFACT = this.o.artifacts.pathOf(release.digest);
        files.SLUICE_ARTIFACT_DIR = await this.o.artifacts.unpack(release.digest, folder);
      }
      req.io.log(`$ ${command}`);
      out = await runOnce(
        {
          // Keyed by the step's key, not by where its log goes: asking twice with one key runs the command once.
          dir: join(this.o.root, req.stage.name, 'runs', req.key.replace(/[^A-Za-z0-9._@-]+/g, '_'), name),
          command,
          cwd: this.o.appDir,
          env: releaseEnv(
            this.o.baseEnv,
            req.stage,
            release,
            { ...files, ...extra, ...(c.url ? { SLUICE_STAGE_URL: c.url } : {}) },
            secrets,
          ),
          redact: Object.keys(secrets),
          logPath: req.io.logPath,
        },
        c.timeoutMs,
      );
    } finally {
      if (folder) {
        const n = (this.inUse.get(folder) ?? 1) - 1;
        if (n > 0) this.inUse.set(folder, n);
        else this.inUse.delete(folder);
      }
    }
    if (out.exitCode === 0) return;
    const why = out.timedOut
      ? `timed out after ${c.timeoutMs}ms`
      : out.interrupted
        ? 'was interrupted (its process ended without an exit code)'
        : `exited with ${out.exitCode}`;
    throw new SluiceError(
      'INTERNAL',
      `${name} command "${command}" ${why}; its output ends:\n${tail(req.io.logPath, 1500)}`,
    );
  }
}
