import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { AuditDraft } from '../audit/audit-record.js';
import type { Actor } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
import { workloadEnv } from '../kernel/workload-env.js';
import type { Executor } from '../journeys/executor.js';
import type { ReleaseRef } from '../journeys/journey-events.js';
import { newJourneyId } from '../journeys/journey-id.js';
import { type Plan, parsePipeline } from '../pipeline/pipeline.js';
import type { PipelineFile } from '../pipeline/ports/pipeline-file.js';
import type { ArtifactStore } from './ports/artifact-store.js';
import type { ReleaseRecord, ReleaseStore } from './ports/release-store.js';

export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export interface CreateReleaseInput {
  version: string;
  /** A pre-built directory or tarball to register instead of building: relative to the app directory, or absolute from the operator. */
  artifactPath?: string;
  /**
   * The artifact path comes from the operator on this machine (the CLI, which resolved it from where it was run): an
   * absolute path anywhere is taken. From anyone else, it must be relative and stay inside the app directory, symlinks
   * included.
   */
  operator?: boolean;
  sourceRef?: string;
  /** Who asks for it: the journey's first event names them; a token is recorded as the release's creator (a stage's separateApprover reads it). */
  by: Actor;
  /** The audit record of the request, written with the release when it is created (a release that exists adds none). */
  audit?: AuditDraft;
  /**
   * Where to build instead of the app directory: a commit's tree that Sluice extracted itself (ADR 28), never a path
   * from a request.
   */
  sourceDir?: string;
  /**
   * The journey waits at the pipeline's first stages until promoted, and runs no commit checks (ADR 28: a pull
   * request's build, made for its environment; its commit checks belong to its own CI).
   */
  hold?: boolean;
}

export interface ReleaseServiceOptions {
  store: ReleaseStore;
  executor: Executor;
  artifacts: Pick<ArtifactStore, 'build' | 'add' | 'pathOf'>;
  clock: Clock;
  appDir: string;
  pipeline: PipelineFile;
  /** Sluice's own environment: the build command gets only its allow-list (see `workloadEnv`). */
  buildEnv: Record<string, string>;
}

/** Creates releases: the artifact is built once, pinned by digest, and its journey starts. */
export class ReleaseService {
  constructor(private readonly o: ReleaseServiceOptions) {}

  /** Reads and validates the pipeline file as it is now. */
  currentPlan(): Plan {
    return parsePipeline(this.o.pipeline.read(), this.o.pipeline.path, { limits: this.o.pipeline.limits ?? {} });
  }

  /**
   * Throws, naming the release and its digest, when its artifact is not stored any more (ARTIFACT_REMOVED after
   * retention removed it), so that a retry is refused up front instead of failing at its first deploy.
   */
  requireArtifact(release: ReleaseRef): void {
    try {
      this.o.artifacts.pathOf(release.digest);
    } catch (e) {
      if (isSluiceError(e) && (e.code === 'ARTIFACT_REMOVED' || e.code === 'NOT_FOUND'))
        throw new SluiceError(e.code, `release ${release.version} cannot be deployed again: ${e.message}`, e.details);
      throw e;
    }
  }

  /**
   * Creates a release and starts its journey. Idempotent: the same version with the same digest returns
   * the existing release (`created: false`); the same version with another digest is a RELEASE_CONFLICT.
   */
  async create(input: CreateReleaseInput, onLog: (chunk: string) => void = () => {}) {
    if (!VERSION_PATTERN.test(input.version))
      throw new SluiceError(
        'BAD_REQUEST',
        `version "${input.version}" is not valid: use letters, digits, . _ + - (at most 64, starting with a letter or digit)`,
      );
    // Validate the pipeline before building anything: a bad file changes nothing.
    const current = this.currentPlan();
    const plan = input.hold
      ? {
        ...current,
        commit: { ...current.commit, steps: [] },
        stages: current.stages.map((s) => (s.after.length === 0 ? { ...s, autoPromote: false } : s)),
      }
      : current;
    const digest = input.artifactPath
      ? await this.addArtifact(input.artifactPath, input.operator ?? false)
      : await this.o.artifacts.build(
        input.sourceDir ?? this.o.appDir,
        plan.artifact,
        workloadEnv({ host: this.o.buildEnv, sluice: { SLUICE_RELEASE_VERSION: input.version } }),
        onLog,
      );
    const now = this.o.clock.now();
    const record: ReleaseRecord = {
      version: input.version,
      digest,
      createdAt: now,
      journeyId: newJourneyId(now),
      ...(input.sourceRef ? { sourceRef: input.sourceRef } : {}),
      ...(input.by.kind === 'token' ? { createdBy: { id: input.by.id, name: input.by.name } } : {}),
    };
    const audit = input.audit ? [{ ...input.audit, links: { ...input.audit.links, release: input.version, journey: record.journeyId } }] : [];
    const first = {
      type: 'journey.created',
      release: { version: input.version, digest },
      plan,
      ...(record.createdBy ? { createdBy: record.createdBy } : {}),
    } as const;
    const { release, created } = await this.o.store.createRelease(record, first, input.by, audit);
    if (!created && release.digest !== digest)
      throw new SluiceError(
        'RELEASE_CONFLICT',
        `release ${input.version} already exists with artifact ${release.digest}, but this build is ${digest}; choose a new version`,
        { existing: release.digest, built: digest },
      );
    const journey = created ? await this.o.executor.track(release.journeyId) : this.o.executor.get(release.journeyId);
    return { release, created, journey };
  }

  private addArtifact(path: string, operator: boolean): Promise<string> {
    if (operator) return this.o.artifacts.add(isAbsolute(path) ? path : resolve(this.o.appDir, path));
    if (isAbsolute(path))
      throw new SluiceError(
        'BAD_REQUEST',
        `artifact ${path} is an absolute path: over the API an artifact is a path inside the app directory, relative to it; an absolute path is taken only from \`sluice release create --artifact\` run on the server's machine`,
        { artifact: path },
      );
    const full = resolve(this.o.appDir, path);
    const rel = relative(this.o.appDir, full);
    if (rel === '..' || rel.startsWith(`..${sep}`))
      throw new SluiceError('BAD_REQUEST', `artifact ${path} leaves the app directory: give a path inside ${this.o.appDir}, relative to it`, { artifact: path });
    return this.o.artifacts.add(full, { within: this.o.appDir });
  }
}
