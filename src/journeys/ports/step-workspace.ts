/** Where a step writes what it does, and where its durable runs keep their lock, pid and exit files. */
export interface StepIO {
  /** Appends a line to the step's log. */
  log(line: string): void;
  logPath: string;
  /** A directory owned by this step (named by its idempotency key). */
  runDir: string;
}

/** How a command run ended. */
export interface CommandOutcome {
  exitCode: number | null;
  /** The process ended without recording an exit code (killed from outside, or the machine restarted). */
  interrupted: boolean;
  timedOut: boolean;
}

export interface CommandSpec {
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** Counted from the run's first start: a run adopted after a restart gets no extra time. */
  timeoutMs: number;
  /** Names of variables of `env` (secrets) whose values are replaced by `[secret NAME]` in the log. */
  redact?: readonly string[];
}

/** One log chunk of a step. */
export interface LogChunk {
  /** The log's size now, in bytes. */
  size: number;
  data: Buffer;
}

/** Each step's own directory, log and durable command runs, named by the step's idempotency key. */
export interface StepWorkspace {
  /** The step's directory and log, made on first use. */
  open(key: string): StepIO;
  /**
   * Runs a shell command at most once for the step, even if Sluice is killed and started again meanwhile (the second
   * start follows the first run to its end). Output goes to the step's log. `signal` stops it.
   */
  runOnce(io: StepIO, name: string, spec: CommandSpec, signal?: AbortSignal): Promise<CommandOutcome>;
  /** Up to `max` bytes of a step's log from `offset`; undefined when the step has written nothing. */
  readLog(key: string, offset: number, max: number): LogChunk | undefined;
}
