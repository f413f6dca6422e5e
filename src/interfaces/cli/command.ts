import type { PipelineLimits } from '../../pipeline/pipeline.js';
import type { ApiClient } from './client.js';
import type { Style } from './style.js';

/** Exit codes: 0 done; 1 the operation failed; 2 usage; 3 server unreachable; 4 inconclusive; 5 waits for a person. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, inconclusive: 4, waiting: 5 } as const;

/** Every option the CLI knows, with its type. A command lists the ones it takes; the global ones go everywhere. */
export const OPTIONS = {
  dir: { type: 'string', help: 'app directory (default .)' },
  file: { type: 'string', help: 'pipeline file (default sluice.yaml)' },
  config: { type: 'string', help: 'server settings as a JSON file' },
  'data-dir': { type: 'string', help: 'data directory (default .sluice; a relative one is in --dir)' },
  url: { type: 'string', help: 'server URL (default: the running sluice up of the data directory, else http://127.0.0.1:7070)' },
  token: { type: 'string', help: 'API token (default SLUICE_TOKEN or <data-dir>/admin-token)' },
  json: { type: 'boolean', help: 'machine-readable output' },
  'no-color': { type: 'boolean', help: 'plain output (NO_COLOR is honoured)' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', short: 'v', help: "Sluice's version" },
  'database-url': { type: 'string', help: 'PostgreSQL instead of PGlite' },
  host: { type: 'string', help: 'address to listen on (default 127.0.0.1)' },
  'api-host': { type: 'string', help: 'address the API listens on (default --host); beyond loopback, reads need a token too' },
  'api-allowed-host': { type: 'string', help: 'host names the API answers to besides localhost, 127.0.0.1 and [::1], comma-separated' },
  port: { type: 'string', help: 'API port (default 7070)' },
  'router-port': { type: 'string', help: 'router port (default 7080)' },
  'flags-port': { type: 'string', help: 'port the data plane serves flags on: OFREP, stream, sync feed (default 7090; SLUICE_FLAGS_PORT)' },
  'max-connections': { type: 'string', help: 'client connections the router serves at once (default 10000)' },
  'keep-releases': { type: 'string', help: 'newest releases each stage keeps on disk, besides what it serves or may roll back to (default 5)' },
  release: { type: 'string', help: 'create this release once up (up); only records of this release (audit list); the release a flag change relates to (flags)' },
  'secrets-key-file': { type: 'string', help: 'file of the keys that encrypt secrets (default <data-dir>/secrets.key; SLUICE_SECRETS_KEY wins)' },
  artifact: { type: 'string', help: 'register this directory or tarball instead of building (relative to where you are)' },
  'source-ref': { type: 'string', help: 'where the release comes from (a commit, a tag)' },
  wait: { type: 'boolean', help: 'follow the journey until it ends or waits for a person' },
  full: { type: 'boolean', help: 'promote a canary to all traffic now' },
  role: { type: 'string', help: 'viewer (reads), deployer (releases, promote, pause, resume, abort, retry, rollback), approver (approve, reject) or admin (all, and tokens)' },
  expires: { type: 'string', help: 'lifetime, e.g. 90d, 12h, 1h30m (1m to 3650d; default: never expires)' },
  comment: { type: 'string', help: 'why' },
  reason: { type: 'string', help: 'why' },
  follow: { type: 'boolean', short: 'f', help: 'keep streaming' },
  watch: { type: 'boolean', short: 'w', help: 'redraw every second' },
  actor: { type: 'string', help: 'only records of this token name (sluice: what Sluice did itself)' },
  action: { type: 'string', help: 'only records of this action (e.g. stage.approve)' },
  stage: { type: 'string', help: 'the stage (flags); only records of this stage (audit list)' },
  type: { type: 'string', help: "a flag's type: boolean, string, number or object" },
  variants: { type: 'string', help: 'a flag\'s variants as JSON, e.g. \'{"on": true, "off": false}\'' },
  description: { type: 'string', help: 'what a flag is for' },
  owner: { type: 'string', help: 'who owns a flag (a team, a person)' },
  on: { type: 'boolean', help: 'turn the flag on in the stage' },
  off: { type: 'boolean', help: 'turn the flag off in the stage' },
  default: { type: 'string', help: 'the variant served when targeting matches nothing' },
  targeting: { type: 'string', help: 'targeting rules (flagd JSONLogic): JSON, a file holding it, or null to remove them' },
  rule: { type: 'string', help: 'a segment\'s rule (flagd JSONLogic): JSON, a file holding it, or null to remove the segment' },
  journey: { type: 'string', help: 'the journey a change relates to' },
  from: { type: 'string', help: 'the stage to copy from (flags copy); the stage an environment clones (env create)' },
  to: { type: 'string', help: 'the stage to copy to' },
  days: { type: 'string', help: 'how many days (default 30)' },
  since: { type: 'string', help: 'only records since then: a duration ago (2h, 7d) or a date (2026-01-31)' },
  limit: { type: 'string', help: 'at most this many, the newest (default 100, at most 1000)' },
  out: { type: 'string', help: 'write to this file instead of stdout' },
  ref: { type: 'string', help: 'the release an environment runs (env create, env redeploy)' },
  branch: { type: 'string', help: 'the branch an environment is for: its name when none is given (env create)' },
  pr: { type: 'string', help: 'the pull request an environment is for: named pr-<number> when no name is given (env create)' },
  ttl: { type: 'string', help: "an environment's sliding TTL, reset by each deploy, e.g. 3d or 12h (env create; default 3d)" },
  set: { type: 'string', help: "overrides of the cloned stage's env, as K=V,K2=V2 (env create)" },
  // A review of an environment (env review, ADR 27).
  approve: { type: 'boolean', help: "accept an environment's build (env review): it goes to the source stage and the environment is destroyed, unless told otherwise" },
  'request-changes': { type: 'boolean', help: "send an environment's build back with --comment saying what to change (env review)" },
  'no-promote': { type: 'boolean', help: 'record the approval only: the build does not go to the source stage (env review)' },
  keep: { type: 'boolean', help: 'keep the environment after its build is promoted (env review)' },
  plan: { type: 'string', help: "a flag ramp's plan as JSON or a file holding it, as under stages.<stage>.ramp in sluice.flags.yaml (default: the one the file declares)" },
} as const satisfies Record<string, { type: 'string' | 'boolean'; short?: string; help: string }>;

export type OptionName = keyof typeof OPTIONS;
export type OptionValues = { [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionName[] = ['dir', 'file', 'config', 'data-dir', 'url', 'token', 'json', 'no-color', 'help'];

/** Where the CLI finds the app, its data and its server. */
export interface ClientConfig {
  appDir: string;
  pipelineFile: string;
  /** Limits on the pipeline file other than the defaults. */
  pipelineLimits?: Partial<PipelineLimits>;
  dataDir: string;
  apiUrl: string;
  token: string | undefined;
  /** The running server's operator key, when the CLI found that server through its data directory (see ADR 0018). */
  operatorKey?: string;
}

export interface CliContext {
  env: Record<string, string | undefined>;
  cwd: string;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Raw bytes to stdout (log streams). */
  write: (chunk: Uint8Array | string) => void;
  st: Style;
  opts: OptionValues;
  config: () => ClientConfig;
  client: () => ApiClient;
  /** Prints JSON with --json, else the text. */
  print: (json: unknown, text: string) => void;
}

/** One command of the CLI. */
export interface Command {
  /** One word, or two for a command with a sub-command (`release create`). */
  name: string;
  /** Positional arguments as shown in the help, e.g. `<version> [stage]`. */
  args: string;
  summary: string;
  /** Positional arguments it takes: at least `min`, at most `max`. */
  min: number;
  max: number;
  /** Options it takes beyond the global ones. */
  options?: OptionName[];
  run(ctx: CliContext, args: string[]): Promise<number>;
}
