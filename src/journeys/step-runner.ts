import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StepRun } from './journey-decider.js';
import type { StagePlan } from '../pipeline/pipeline.js';
import { COMMIT_STAGE } from './journey-events.js';
import type { JourneyState } from './journey-reducer.js';
import { runOnce } from '../platform/durable-run.js';
import type { MetricsProvider } from '../rollout/ports/metrics-provider.js';
import { releaseEnv, type StepIO, type Target } from './ports/target.js';
import { runAnalysis } from '../rollout/analysis-runner.js';
import { metricsFor } from '../adapters/metrics-prometheus/prometheus-metrics.js';

export interface StepOutcome {
  ok: boolean;
  exitCode: number | null;
  reason?: string;
  inconclusive?: boolean;
  detail?: unknown;
}

/** The port through which the executor runs effects. */
export interface EffectRunner {
  run(run: StepRun, journey: JourneyState, signal: AbortSignal): Promise<StepOutcome>;
}

export interface StepRunnerOptions {
  targets: Record<string, Target>;
  /** `<dataDir>/runs`: one directory per step, holding its log and its durable runs. */
  runsRoot: string;
  /** Where commit and verify commands run: the app's repository. */
  appDir: string;
  baseEnv: Record<string, string>;
  metrics: MetricsProvider;
}

/** Where a step keeps its log and run files: one directory per idempotency key (`<journey>/<stage>/<step>[@attempt]`). */
export function stepDir(runsRoot: string, key: string): string {
  return join(runsRoot, ...key.split('/').map((part) => part.replace(/[^A-Za-z0-9._@+-]/g, '-')));
}

/** Runs effects through the targets and the durable command runner. */
export class StepRunner implements EffectRunner {
  constructor(private readonly o: StepRunnerOptions) {}

  async run(r: StepRun, j: JourneyState, signal: AbortSignal): Promise<StepOutcome> {
    const dir = stepDir(this.o.runsRoot, r.key);
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'log');
    const io: StepIO = {
      logPath,
      runDir: dir,
      log: (line) => appendFileSync(logPath, `${line}\n`),
    };
    const e = r.effect;
    try {
      switch (e.kind) {
        case 'command': {
          const sp = j.plan.stages.find((s) => s.name === e.stage);
          const extra: Record<string, string> = {};
          if (sp) {
            const t = this.o.targets[sp.target];
            const url = e.preview ? t?.canary?.previewUrl(sp) : t?.url(sp);
            if (url) extra.SLUICE_STAGE_URL = url;
          }
          const env =
            e.stage === COMMIT_STAGE || !sp
              ? {
                ...this.o.baseEnv,
                SLUICE_RELEASE_VERSION: e.release.version,
                SLUICE_ARTIFACT_DIGEST: e.release.digest,
              }
              : releaseEnv(this.o.baseEnv, sp, e.release, extra);
          io.log(`$ ${e.spec.run}${extra.SLUICE_STAGE_URL ? `   (SLUICE_STAGE_URL=${extra.SLUICE_STAGE_URL})` : ''}`);
          const out = await runOnce(
            { dir: join(dir, 'run'), command: e.spec.run, cwd: this.o.appDir, env, logPath },
            e.spec.timeoutMs,
            signal,
          );
          if (out.exitCode === 0) return { ok: true, exitCode: 0 };
          const reason = out.timedOut
            ? `timed out after ${Math.round(e.spec.timeoutMs / 1000)}s`
            : out.interrupted
              ? 'interrupted: the process ended without an exit code'
              : `exit code ${out.exitCode}`;
          io.log(`--- sluice: ${e.spec.name} failed: ${reason}`);
          return { ok: false, exitCode: out.exitCode, reason };
        }
        case 'deploy':
          if (e.canary) await this.canaryOps(e.stage.target).deployCanary({ stage: e.stage, key: r.key, io, release: e.release });
          else await this.target(e.stage.target).deploy({ stage: e.stage, key: r.key, io, release: e.release });
          return { ok: true, exitCode: null };
        case 'traffic':
          await this.canaryOps(e.stage.target).setCanaryWeight({ stage: e.stage, key: r.key, io, release: e.release, weight: e.weight });
          return { ok: true, exitCode: null, reason: `${e.weight}% of users on ${e.release.version}` };
        case 'promote':
          await this.canaryOps(e.stage.target).promoteCanary({ stage: e.stage, key: r.key, io, release: e.release });
          return { ok: true, exitCode: null };
        case 'analysis':
          return await runAnalysis(
            metricsFor(this.o.metrics, j.plan.prometheusUrl),
            e.analysis,
            { stage: e.stage.name, canary: e.release.version, baseline: e.baseline.version },
            { signal, background: e.background, log: io.log, ...this.urlOf(e.stage) },
          );
        case 'rollback':
          await this.target(e.stage.target).rollback({ stage: e.stage, key: r.key, io, from: e.from, to: e.to });
          return { ok: true, exitCode: null };
        case 'health': {
          const h = await this.target(e.stage.target).health({ stage: e.stage, key: r.key, io, release: e.release });
          io.log(`health: ${h.detail}`);
          return h.ok
            ? { ok: true, exitCode: null }
            : { ok: false, exitCode: null, reason: `unhealthy after bake: ${h.detail}` };
        }
      }
    } catch (err) {
      const msg = (err as Error).message;
      io.log(`--- sluice: ${r.step} failed: ${msg}`);
      return { ok: false, exitCode: null, reason: msg.split('\n')[0] ?? msg };
    }
  }

  private urlOf(stage: StagePlan): { stageUrl?: string } {
    const url = this.o.targets[stage.target]?.url(stage);
    return url ? { stageUrl: url } : {};
  }

  private canaryOps(kind: string) {
    const ops = this.target(kind).canary;
    if (!ops) throw new Error(`target ${kind} cannot run canaries`);
    return ops;
  }

  private target(kind: string): Target {
    const t = this.o.targets[kind];
    if (!t) throw new Error(`no target of kind ${kind}`);
    return t;
  }
}
