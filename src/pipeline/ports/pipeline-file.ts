/** Where the pipeline file is read from (the app's sluice.yaml). */
export interface PipelineFile {
  /** The path people know the file by, for file:line:col in errors. */
  readonly path: string;
  /** The file's text as it is now; throws PIPELINE_INVALID when it cannot be read. */
  read(): string;
}
