/**
 * The environment of workloads: every process Sluice starts that runs code other people wrote (commit steps, verify
 * commands, app instances, the command target's commands, the artifact's build command). Decided here only.
 *
 * It holds, from the weakest to the strongest:
 * - a short allow-list of Sluice's own environment ({@link HOST_ALLOWED}, and `LC_*`): what a shell needs to find
 *   programs, a home, a language and a time zone. Nothing else of Sluice's environment: not `DATABASE_URL`, not a
 *   cloud key, not `SLUICE_*` (`SLUICE_SECRETS_KEY`, `SLUICE_TOKEN`…);
 * - the stage's declared `env`;
 * - the stage's secrets;
 * - the variables Sluice sets for the workload (`SLUICE_*`, `PORT`).
 */
export interface WorkloadEnvParts {
  /** Sluice's own environment: only the allow-list passes. */
  host: Readonly<Record<string, string | undefined>>;
  /** The stage's declared `env`. */
  stageEnv?: Readonly<Record<string, string>>;
  /** The stage's secrets, by name. */
  secrets?: Readonly<Record<string, string>>;
  /** What Sluice sets for this workload: `SLUICE_*` and `PORT`. */
  sluice?: Readonly<Record<string, string>>;
}

/** The variables of Sluice's own environment a workload gets, besides `LC_*`. */
export const HOST_ALLOWED: readonly string[] = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM'];

/** True for a variable of Sluice's own environment that a workload may see. */
export function hostAllowed(name: string): boolean {
  return HOST_ALLOWED.includes(name) || /^LC_[A-Z_]+$/.test(name);
}

/** The one function that decides a workload's environment (see {@link WorkloadEnvParts}). */
export function workloadEnv(p: WorkloadEnvParts): Record<string, string> {
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(p.host)) if (v !== undefined && hostAllowed(k)) env[k] = v;
  for (const part of [p.stageEnv, p.secrets, p.sluice]) for (const [k, v] of Object.entries(part ?? {})) env[k] = v;
  return { ...env };
}
