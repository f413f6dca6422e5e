import { join } from 'node:path';
import { SluiceError } from '../../kernel/errors.js';
import { type ReleaseRef, releaseEnv, type StagePlan, type StepIO, type Target, type TargetRequest } from '../../journeys/ports/target.js';
import { runOnce } from '../../platform/durable-run.js';
import { tail } from '../../platform/files.js';
import type { ArtifactStore } from '../../releases/ports/artifact-store.js';

export interface CommandTargetOptions {
  root: string;
  artifacts: Pick<ArtifactStore, 'pathOf' | 'unpack'>;
  baseEnv: Record<string, string>;
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
    const files: Record<string, string> = {};
    if (release) {
      files.SLUICE_ARTIFACT = this.o.artifacts.pathOf(release.digest);
      files.SLUICE_ARTIFACT_DIR = await this.o.artifacts.unpack(
        release.digest,
        join(this.o.root, req.stage.name, 'releases', release.digest.replace(':', '-')),
      );
    }
    req.io.log(`$ ${command}`);
    const out = await runOnce(
      {
        // Keyed by the step's key, not by where its log goes: asking twice with one key runs the command once.
        dir: join(this.o.root, req.stage.name, 'runs', req.key.replace(/[^A-Za-z0-9._@-]+/g, '_'), name),
        command,
        cwd: this.o.appDir,
        env: releaseEnv(this.o.baseEnv, req.stage, release, {
          ...files,
          ...extra,
          ...(c.url ? { SLUICE_STAGE_URL: c.url } : {}),
        }),
        logPath: req.io.logPath,
      },
      c.timeoutMs,
    );
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
