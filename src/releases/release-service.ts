import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError } from '../kernel/errors.js';
import { type Plan, parsePipeline } from '../pipeline/pipeline.js';
import type { Clock } from '../kernel/clock.js';
import type { Executor } from '../journeys/executor.js';
import type { ReleaseRecord, Store } from '../adapters/store-sql/store.js';

/** Builds and stores artifacts; the artifact store implements it. */
export interface ArtifactBuilder {
  build(
    appDir: string,
    spec: Plan['artifact'],
    env: Record<string, string>,
    onLog: (chunk: string) => void,
  ): Promise<string>;
  add(path: string): Promise<string>;
}

export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export interface CreateReleaseInput {
  version: string;
  /** A pre-built directory or tarball to register instead of building. */
  artifactPath?: string;
  sourceRef?: string;
}

export interface ReleaseServiceOptions {
  store: Store;
  executor: Executor;
  artifacts: ArtifactBuilder;
  clock: Clock;
  appDir: string;
  pipelineFile: string;
  baseEnv: Record<string, string>;
}

/** Creates releases: the artifact is built once, pinned by digest, and its journey starts. */
export class ReleaseService {
  constructor(private readonly o: ReleaseServiceOptions) {}

  /** Reads and validates the pipeline file as it is now on disk. */
  currentPlan(): Plan {
    let text: string;
    try {
      text = readFileSync(this.o.pipelineFile, 'utf8');
    } catch (e) {
      throw new SluiceError('PIPELINE_INVALID', `cannot read ${this.o.pipelineFile}: ${(e as Error).message}`);
    }
    return parsePipeline(text, this.o.pipelineFile);
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
      ? await this.o.artifacts.add(join(this.o.appDir, input.artifactPath))
      : await this.o.artifacts.build(
        this.o.appDir,
        plan.artifact,
        { ...this.o.baseEnv, SLUICE_RELEASE_VERSION: input.version },
        onLog,
      );
    const record: ReleaseRecord = {
      version: input.version,
      digest,
      createdAt: this.o.clock.now(),
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
    const journey = created ? await this.o.executor.track(input.version) : this.o.executor.get(input.version);
    return { release, created, journey };
  }
}
