import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandOutcome, CommandSpec, LogChunk, StepIO, StepWorkspace } from '../../journeys/ports/step-workspace.js';
import { runOnce } from '../../platform/durable-run.js';

/** Where a step keeps its log and run files: one directory per idempotency key (`<journey>/<stage>/<step>[@attempt]`). */
function stepDir(runsRoot: string, key: string): string {
  return join(runsRoot, ...key.split('/').map((part) => part.replace(/[^A-Za-z0-9._@+-]/g, '-')));
}

/** Step directories under `<dataDir>/runs`, each with a `log` and the durable runs of its commands. */
export class FsStepWorkspace implements StepWorkspace {
  constructor(private readonly runsRoot: string) {}

  open(key: string): StepIO {
    const dir = stepDir(this.runsRoot, key);
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'log');
    return { logPath, runDir: dir, log: (line) => appendFileSync(logPath, `${line}\n`) };
  }

  async runOnce(io: StepIO, name: string, spec: CommandSpec, signal?: AbortSignal): Promise<CommandOutcome> {
    const dir = join(io.runDir, name);
    // The header is written by whoever starts the run; a run started before a restart is adopted, and says so.
    if (existsSync(join(dir, 'lock'))) io.log(`--- sluice: adopting "${spec.command}", started before Sluice restarted`);
    else io.log(`$ ${spec.command}${spec.env.SLUICE_STAGE_URL ? `   (SLUICE_STAGE_URL=${spec.env.SLUICE_STAGE_URL})` : ''}`);
    const run = { dir, command: spec.command, cwd: spec.cwd, env: spec.env, logPath: io.logPath, ...(spec.redact ? { redact: spec.redact } : {}) };
    return runOnce(run, spec.timeoutMs, signal);
  }

  readLog(key: string, offset: number, max: number): LogChunk | undefined {
    const path = join(stepDir(this.runsRoot, key), 'log');
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const size = fstatSync(fd).size;
      const n = Math.max(0, Math.min(max, size - offset));
      const data = Buffer.alloc(n);
      if (n > 0) readSync(fd, data, 0, n, offset);
      return { size, data };
    } finally {
      closeSync(fd);
    }
  }
}
