import { own } from '../kernel/own.js';
import { metricsFor, type MetricSources } from '../rollout/metric-sources.js';
import { runAnalysis } from '../rollout/analysis-runner.js';
import type { JudgeRunner } from '../rollout/ports/judge-runner.js';
import type { SyntheticTraffic } from '../rollout/ports/synthetic-traffic.js';
import type { EffectRunner, EffectSignals, StepOutcome } from './effect-runner.js';
import { COMMIT_STAGE } from './journey-events.js';
import type { StepRun } from './journey-decider.js';
import type { JourneyState } from './journey-reducer.js';
import type { StepWorkspace } from './ports/step-workspace.js';
import { workloadEnv } from '../kernel/workload-env.js';
import { releaseEnv, type StagePlan, type StageSecrets, type Target } from './ports/target.js';

export interface StepRunnerOptions {
  targets: Record<string, Target>;
  workspace: StepWorkspace;
  /** Where commit and verify commands run: the app's repository. */
  appDir: string;
  /** Sluice's own environment: commit and verify commands get only its allow-list (see `workloadEnv`). */
  baseEnv: Record<string, string>;
  /** The values of a stage's secrets, for its verify commands; none when absent. */
  secrets?: StageSecrets;
  metrics: MetricSources;
  traffic: SyntheticTraffic;
  /** Where analyses reach their verdict (off the event loop); default: on this thread. */
  judge?: JudgeRunner;
}

/** Runs effects through the targets, the step workspace and the analysis runner. */
export class StepRunner implements EffectRunner {
  constructor(private readonly o: StepRunnerOptions) {}

  async run(r: StepRun, j: JourneyState, signals: EffectSignals): Promise<StepOutcome> {
    const io = this.o.workspace.open(r.key);
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
          const secrets = e.stage === COMMIT_STAGE || !sp || !this.o.secrets ? {} : await this.o.secrets(sp);
          const env =
            e.stage === COMMIT_STAGE || !sp
              ? workloadEnv({ host: this.o.baseEnv, sluice: { SLUICE_RELEASE_VERSION: e.release.version, SLUICE_ARTIFACT_DIGEST: e.release.digest } })
              : releaseEnv(this.o.baseEnv, sp, e.release, extra, secrets);
          const out = await this.o.workspace.runOnce(
            io,
            'run',
            { command: e.spec.run, cwd: this.o.appDir, env, timeoutMs: e.spec.timeoutMs, redact: Object.keys(secrets) },
            signals.abort,
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
        case 'analysis': {
          const stageUrl = this.urlOf(e.stage);
          const stageState = own(j.stages, e.stage.name);
          const startedAt = (stageState && own(stageState.steps, r.step))?.startedAt ?? Date.now();
          const { prometheusUrl: url, prometheusScrapeIntervalMs: scrapeIntervalMs } = j.plan;
          const prometheus = url === undefined ? undefined : { url, ...(scrapeIntervalMs !== undefined ? { scrapeIntervalMs } : {}) };
          return await runAnalysis(metricsFor(this.o.metrics, prometheus), e.analysis, {
            stage: e.stage.name,
            canary: e.release.version,
            baseline: e.baseline.version,
            startedAt,
            background: e.background,
            signal: signals.abort,
            conclude: signals.conclude,
            log: io.log,
            traffic: this.o.traffic,
            ...(this.o.judge ? { judge: this.o.judge } : {}),
            ...(stageUrl ? { stageUrl } : {}),
          });
        }
        case 'rollback':
          io.log(`--- sluice: rolling ${e.stage.name} back to ${e.to?.version ?? 'nothing'}: ${own(j.stages, e.stage.name)?.failure ?? 'asked for'}`);
          await this.target(e.stage.target).rollback({ stage: e.stage, key: r.key, io, from: e.from, to: e.to });
          return { ok: true, exitCode: null };
        case 'health': {
          const h = await this.target(e.stage.target).health({ stage: e.stage, key: r.key, io, release: e.release });
          io.log(`health: ${h.detail}`);
          return h.ok ? { ok: true, exitCode: null } : { ok: false, exitCode: null, reason: `unhealthy after bake: ${h.detail}` };
        }
      }
    } catch (err) {
      const msg = (err as Error).message;
      io.log(`--- sluice: ${r.step} failed: ${msg}`);
      return { ok: false, exitCode: null, reason: msg.split('\n')[0] ?? msg };
    }
  }

  private urlOf(stage: StagePlan): string | undefined {
    return this.o.targets[stage.target]?.url(stage);
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
