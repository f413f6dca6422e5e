import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SluiceError } from '../kernel/errors.js';
import { DEFAULT_KEEP_RELEASES } from '../releases/retention-plan.js';
import { DEFAULT_PIPELINE_LIMITS, type PipelineLimits } from '../pipeline/pipeline.js';

/** The most releases per stage retention may be told to keep: past it, say so, instead of meaning "never clean up". */
const MAX_KEEP_RELEASES = 10_000;
const KEEP_RANGE = `a whole number from 1 to ${MAX_KEEP_RELEASES}: how many of its newest releases each stage keeps on disk, besides what it serves, its canary and its rollback target, which are always kept`;

const fileSchema = z.strictObject({
  dataDir: z.string().min(1).optional(),
  databaseUrl: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  apiPort: z.number().int().min(0).max(65535).optional(),
  routerPort: z.number().int().min(0).max(65535).optional(),
  maxConnections: z.number().int().min(1).max(1_000_000).optional(),
  routerMaxHeadBytes: z.number().int().min(1024).max(1024 * 1024).optional(),
  pipelineLimits: z
    .strictObject({
      maxBytes: z.number().int().min(1024).max(64 * 1024 * 1024).optional(),
      maxDepth: z.number().int().min(8).max(1000).optional(),
      maxAliases: z.number().int().min(0).max(100_000).optional(),
    })
    .optional(),
  keepReleases: z.number({ error: `must be ${KEEP_RANGE}` }).int(`must be ${KEEP_RANGE}`).min(1, `must be ${KEEP_RANGE}`).max(MAX_KEEP_RELEASES, `must be ${KEEP_RANGE}`).optional(),
});

/** Server configuration, resolved from defaults, then a JSON file, then the environment, then flags. */
export interface SluiceConfig {
  /** The app's directory: holds sluice.yaml and is where builds and verify commands run. */
  appDir: string;
  pipelineFile: string;
  dataDir: string;
  databaseUrl?: string;
  host: string;
  apiPort: number;
  routerPort: number;
  /** Client connections the data plane's router serves at once; past it, 503. */
  maxConnections: number;
  /** The most bytes of a request head at the router, empty lines before it included (431 past it); default 16 KiB. */
  routerMaxHeadBytes?: number;
  /**
   * Retention: how many of the newest releases each stage keeps on disk (unpacked folders, and the artifacts behind
   * them). What a stage serves, its canary and its rollback target are kept whatever this says.
   */
  keepReleases: number;
  /** Limits on the pipeline file: its size, its nesting, how much its aliases expand. */
  pipelineLimits: PipelineLimits;
}

export interface ConfigFlags {
  dir?: string;
  file?: string;
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
  host?: string;
  port?: string;
  routerPort?: string;
  maxConnections?: string;
  keepReleases?: string;
}

function port(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new SluiceError('CONFIG_INVALID', `${what} must be a port number (0-65535), got "${v}"`);
  return n;
}

function count(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new SluiceError('CONFIG_INVALID', `${what} must be a whole number from 1 to 1000000, got "${v}"`);
  return n;
}

function byteCount(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 64 * 1024 * 1024) throw new SluiceError('CONFIG_INVALID', `${what} must be a whole number of bytes from 1024 to 67108864, got "${v}"`);
  return n;
}

function keepCount(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_KEEP_RELEASES) throw new SluiceError('CONFIG_INVALID', `${what} must be ${KEEP_RANGE}; got "${v}"`);
  return n;
}

/** Server configuration: defaults, then the JSON file (--config), then the environment, then flags. Unknown file keys are refused. */
export function loadConfig(opts: {
  env: Record<string, string | undefined>;
  argv: ConfigFlags;
  cwd: string;
}): SluiceConfig {
  const { env, argv, cwd } = opts;
  let file: z.infer<typeof fileSchema> = {};
  if (argv.config) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(resolve(cwd, argv.config), 'utf8'));
    } catch (e) {
      throw new SluiceError('CONFIG_INVALID', `cannot read config file ${argv.config}: ${(e as Error).message}`);
    }
    const r = fileSchema.safeParse(raw);
    if (!r.success)
      throw new SluiceError(
        'CONFIG_INVALID',
        `${argv.config}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}`).join('; ')}`,
      );
    file = r.data;
  }
  const appDir = resolve(cwd, argv.dir ?? '.');
  const dataDir = argv.dataDir ?? env.SLUICE_DATA_DIR ?? file.dataDir ?? '.sluice';
  const databaseUrl = argv.databaseUrl ?? env.DATABASE_URL ?? file.databaseUrl;
  return {
    appDir,
    pipelineFile: resolve(appDir, argv.file ?? 'sluice.yaml'),
    dataDir: dataDir === 'memory://' ? dataDir : resolve(appDir, dataDir),
    ...(databaseUrl ? { databaseUrl } : {}),
    host: argv.host ?? env.SLUICE_HOST ?? file.host ?? '127.0.0.1',
    apiPort: port(argv.port, '--port') ?? port(env.SLUICE_API_PORT, 'SLUICE_API_PORT') ?? file.apiPort ?? 7070,
    routerPort:
      port(argv.routerPort, '--router-port') ??
      port(env.SLUICE_ROUTER_PORT, 'SLUICE_ROUTER_PORT') ??
      file.routerPort ??
      7080,
    maxConnections: count(argv.maxConnections, '--max-connections') ?? count(env.SLUICE_MAX_CONNECTIONS, 'SLUICE_MAX_CONNECTIONS') ?? file.maxConnections ?? 10_000,
    keepReleases:
      keepCount(argv.keepReleases, '--keep-releases') ??
      keepCount(env.SLUICE_KEEP_RELEASES, 'SLUICE_KEEP_RELEASES') ??
      file.keepReleases ??
      DEFAULT_KEEP_RELEASES,
    ...(file.routerMaxHeadBytes !== undefined ? { routerMaxHeadBytes: file.routerMaxHeadBytes } : {}),
    pipelineLimits: {
      ...DEFAULT_PIPELINE_LIMITS,
      ...file.pipelineLimits,
      maxBytes: byteCount(env.SLUICE_MAX_PIPELINE_BYTES, 'SLUICE_MAX_PIPELINE_BYTES') ?? file.pipelineLimits?.maxBytes ?? DEFAULT_PIPELINE_LIMITS.maxBytes,
    },
  };
}
