import { isAbsolute, resolve } from 'node:path';
import type { Clock } from '../kernel/clock.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
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
  /** A pre-built directory or tarball to register instead of building: absolute, or relative to the app directory. */
  artifactPath?: string;
  sourceRef?: string;
}

export interface ReleaseServiceOptions {
  store: ReleaseStore;
  executor: Executor;
  artifacts: Pick<ArtifactStore, 'build' | 'add' | 'pathOf'>;
  clock: Clock;
  appDir: string;
  pipeline: PipelineFile;
  /** The environment builds run with. */
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
    const plan = this.currentPlan();
    const digest = input.artifactPath
      ? await this.o.artifacts.add(isAbsolute(input.artifactPath) ? input.artifactPath : resolve(this.o.appDir, input.artifactPath))
      : await this.o.artifacts.build(this.o.appDir, plan.artifact, { ...this.o.buildEnv, SLUICE_RELEASE_VERSION: input.version }, onLog);
    const now = this.o.clock.now();
    const record: ReleaseRecord = {
      version: input.version,
      digest,
      createdAt: now,
      journeyId: newJourneyId(now),
      ...(input.sourceRef ? { sourceRef: input.sourceRef } : {}),
    };
    const { release, created } = await this.o.store.createRelease(record, {
      type: 'journey.created',
      release: { version: input.version, digest },
      plan,
    });
    if (!created && release.digest !== digest)
      throw new SluiceError(
        'RELEASE_CONFLICT',
        `release ${input.version} already exists with artifact ${release.digest}, but this build is ${digest}; choose a new version`,
        { existing: release.digest, built: digest },
      );
    const journey = created ? await this.o.executor.track(release.journeyId) : this.o.executor.get(release.journeyId);
    return { release, created, journey };
  }
}
