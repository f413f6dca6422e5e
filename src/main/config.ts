import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { allowedHostName } from '../interfaces/http/host-check.js';
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
  apiHost: z.string().min(1).optional(),
  apiAllowedHosts: z.array(z.string()).optional(),
  apiPort: z.number().int().min(0).max(65535).optional(),
  routerPort: z.number().int().min(0).max(65535).optional(),
  flagsPort: z.number().int().min(0).max(65535).optional(),
  maxConnections: z.number().int().min(1).max(1_000_000).optional(),
  secretsKeyFile: z.string().min(1).optional(),
  limits: z
    .strictObject({
      judgeMaxValues: z.number().int().min(1).max(10_000_000).optional(),
      judgeTimeoutMs: z.number().int().min(10).max(600_000).optional(),
      judgeHeapMb: z.number().int().min(16).max(16_384).optional(),
      maxStreams: z.number().int().min(1).max(100_000).optional(),
      streamBufferBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).optional(),
      slowClientMs: z.number().int().min(100).max(3_600_000).optional(),
    })
    .optional(),
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
  /** Where the router listens, and the API unless `apiHost` says otherwise. */
  host: string;
  /** Where the API listens. Beyond loopback, reads need a token too. */
  apiHost: string;
  /** Host names the API answers to besides loopback ones (lower-case; IPv6 in brackets). */
  apiAllowedHosts: string[];
  apiPort: number;
  routerPort: number;
  /**
   * Where the data plane serves flags (OFREP, the stream, the sync feed), on `host`. Default 7090; 0 when the router's
   * port is 0 (each picks a free port, as tests and several instances on one machine need).
   */
  flagsPort: number;
  /** Client connections the data plane's router serves at once; past it, 503. */
  maxConnections: number;
  /** The most bytes of a request head at the router, empty lines before it included (431 past it); default 16 KiB. */
  routerMaxHeadBytes?: number;
  /**
   * Retention: how many of the newest releases each stage keeps on disk (unpacked folders, and the artifacts behind
   * them). What a stage serves, its canary and its rollback target are kept whatever this says.
   */
  keepReleases: number;
  /** The file of the keys that encrypt secrets (default <dataDir>/secrets.key); SLUICE_SECRETS_KEY, when set, wins. */
  secretsKeyFile: string;
  /** Limits on what the API takes (see ApiLimits). */
  limits: ApiLimits;
  /** Limits on the pipeline file: its size, its nesting, how much its aliases expand. */
  pipelineLimits: PipelineLimits;
}

/**
 * What one request to the API may cost. Each is a setting: `limits` in the config file, or the environment variable
 * named beside it.
 */
export interface ApiLimits {
  /** Values (canary, baseline, measurements) in one judge request; past it, 413. SLUICE_JUDGE_MAX_VALUES. */
  judgeMaxValues: number;
  /** How long one judge request (or an analysis' verdict) may take on the judge's thread; past it, 413. SLUICE_JUDGE_TIMEOUT_MS. */
  judgeTimeoutMs: number;
  /** The judge's thread's heap (old space), in MB; a request that needs more is a 413. SLUICE_JUDGE_HEAP_MB. */
  judgeHeapMb: number;
  /** Event streams and followed logs open at once; past it, 503 before the stream starts. SLUICE_MAX_STREAMS. */
  maxStreams: number;
  /** Bytes a stream's client may leave unread (beyond its socket's buffer) before it is dropped. SLUICE_STREAM_BUFFER_BYTES. */
  streamBufferBytes: number;
  /** How long a stream's client may read nothing while its socket is full before it is dropped. SLUICE_SLOW_CLIENT_MS. */
  slowClientMs: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  judgeMaxValues: 100_000,
  judgeTimeoutMs: 5_000,
  judgeHeapMb: 96,
  maxStreams: 200,
  streamBufferBytes: 1024 * 1024,
  slowClientMs: 30_000,
};

function limit(v: string | undefined, what: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new SluiceError('CONFIG_INVALID', `${what} must be a whole number from ${min} to ${max}, got "${v}"`);
  return n;
}

export interface ConfigFlags {
  dir?: string;
  file?: string;
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
  host?: string;
  apiHost?: string;
  /** Comma-separated. */
  apiAllowedHosts?: string;
  port?: string;
  routerPort?: string;
  flagsPort?: string;
  maxConnections?: string;
  keepReleases?: string;
  secretsKeyFile?: string;
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

/** Allowed host names: each a name or an address, without port; a bad one is named. */
function allowedHosts(list: readonly string[] | string | undefined, what: string): string[] | undefined {
  if (list === undefined || list === '') return undefined;
  const items = typeof list === 'string' ? list.split(',') : list;
  return items.map((h) => {
    const name = allowedHostName(h);
    if (name === undefined)
      throw new SluiceError('CONFIG_INVALID', `${what}: "${h}" is not a host name or address (give names such as sluice.example.com or 10.0.0.5, without scheme, port or path)`);
    return name;
  });
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
  const host = argv.host ?? env.SLUICE_HOST ?? file.host ?? '127.0.0.1';
  const resolvedDataDir = dataDir === 'memory://' ? dataDir : resolve(appDir, dataDir);
  const routerPort = port(argv.routerPort, '--router-port') ?? port(env.SLUICE_ROUTER_PORT, 'SLUICE_ROUTER_PORT') ?? file.routerPort ?? 7080;
  const keyFile = argv.secretsKeyFile ?? env.SLUICE_SECRETS_KEY_FILE ?? file.secretsKeyFile;
  return {
    appDir,
    pipelineFile: resolve(appDir, argv.file ?? 'sluice.yaml'),
    dataDir: resolvedDataDir,
    secretsKeyFile: keyFile ? resolve(cwd, keyFile) : resolve(resolvedDataDir === 'memory://' ? appDir : resolvedDataDir, 'secrets.key'),
    ...(databaseUrl ? { databaseUrl } : {}),
    host,
    apiHost: argv.apiHost ?? env.SLUICE_API_HOST ?? file.apiHost ?? host,
    apiAllowedHosts:
      allowedHosts(argv.apiAllowedHosts, '--api-allowed-host') ??
      allowedHosts(env.SLUICE_API_ALLOWED_HOSTS, 'SLUICE_API_ALLOWED_HOSTS') ??
      allowedHosts(file.apiAllowedHosts, `${argv.config}: apiAllowedHosts`) ??
      [],
    apiPort: port(argv.port, '--port') ?? port(env.SLUICE_API_PORT, 'SLUICE_API_PORT') ?? file.apiPort ?? 7070,
    routerPort,
    flagsPort: port(argv.flagsPort, '--flags-port') ?? port(env.SLUICE_FLAGS_PORT, 'SLUICE_FLAGS_PORT') ?? file.flagsPort ?? (routerPort === 0 ? 0 : 7090),
    maxConnections: count(argv.maxConnections, '--max-connections') ?? count(env.SLUICE_MAX_CONNECTIONS, 'SLUICE_MAX_CONNECTIONS') ?? file.maxConnections ?? 10_000,
    limits: {
      judgeMaxValues: limit(env.SLUICE_JUDGE_MAX_VALUES, 'SLUICE_JUDGE_MAX_VALUES', 1, 10_000_000) ?? file.limits?.judgeMaxValues ?? DEFAULT_API_LIMITS.judgeMaxValues,
      judgeTimeoutMs: limit(env.SLUICE_JUDGE_TIMEOUT_MS, 'SLUICE_JUDGE_TIMEOUT_MS', 10, 600_000) ?? file.limits?.judgeTimeoutMs ?? DEFAULT_API_LIMITS.judgeTimeoutMs,
      judgeHeapMb: limit(env.SLUICE_JUDGE_HEAP_MB, 'SLUICE_JUDGE_HEAP_MB', 16, 16_384) ?? file.limits?.judgeHeapMb ?? DEFAULT_API_LIMITS.judgeHeapMb,
      maxStreams: limit(env.SLUICE_MAX_STREAMS, 'SLUICE_MAX_STREAMS', 1, 100_000) ?? file.limits?.maxStreams ?? DEFAULT_API_LIMITS.maxStreams,
      streamBufferBytes: limit(env.SLUICE_STREAM_BUFFER_BYTES, 'SLUICE_STREAM_BUFFER_BYTES', 1024, 1024 * 1024 * 1024) ?? file.limits?.streamBufferBytes ?? DEFAULT_API_LIMITS.streamBufferBytes,
      slowClientMs: limit(env.SLUICE_SLOW_CLIENT_MS, 'SLUICE_SLOW_CLIENT_MS', 100, 3_600_000) ?? file.limits?.slowClientMs ?? DEFAULT_API_LIMITS.slowClientMs,
    },
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
