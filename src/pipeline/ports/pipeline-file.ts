import type { PipelineLimits } from '../pipeline.js';

export { checkPipelineSize, DEFAULT_PIPELINE_LIMITS, type PipelineLimits } from '../pipeline.js';

/** Where the pipeline file is read from (the app's sluice.yaml). */
export interface PipelineFile {
  /** The path people know the file by, for file:line:col in errors. */
  readonly path: string;
  /** Limits other than the defaults, for reading and for parsing. */
  readonly limits?: Partial<PipelineLimits>;
  /** The file's text as it is now; throws PIPELINE_INVALID when it cannot be read or is over the size limit. */
  read(): string;
}
