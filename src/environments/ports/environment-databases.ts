import type { DatabasePlan } from '../../pipeline/pipeline.js';
import { fnv1a } from '../environment.js';

export type { DatabasePlan } from '../../pipeline/pipeline.js';

/** A stage's database as the port needs it: its plan, and the password of its user (from the stage's secret), if any. */
export interface DatabaseSource {
  plan: Pick<DatabasePlan, 'url' | 'clone' | 'server' | 'snapshotMaxAgeMs' | 'spares'>;
  password?: string;
}

/**
 * Where environments' databases are made and dropped (ADR 26). Each environment's database is named by
 * `envDatabaseName` and carries the app's and the environment's names, so that orphans can be found after a crash.
 */
export interface EnvironmentDatabases {
  /**
   * Makes environment `env`'s copy of the source by the plan's strategy (template, dump or empty) and answers its URL
   * (no password). A database of that name left over from an interrupted attempt is dropped first.
   */
  clone(app: string, env: string, source: DatabaseSource, log: (line: string) => void): Promise<string>;
  /** Drops environment `env`'s database, closing its sessions; false when there was none. */
  drop(app: string, env: string, source: DatabaseSource): Promise<boolean>;
  /** The environments of `app` that have a database on the source's copy server, by name. */
  list(app: string, source: DatabaseSource): Promise<string[]>;
  /** True once `markSeeded` was called on environment `env`'s copy. */
  seeded(app: string, env: string, source: DatabaseSource): Promise<boolean>;
  markSeeded(app: string, env: string, source: DatabaseSource): Promise<void>;
}

// The naming rule every adapter follows (ADR 26): each environment's database is named and addressed from the
// environment's name and its source stage's database, so that nothing about it needs keeping beside the record.

/** Databases Sluice makes for environments begin with this; a sweep looks for orphans among them. */
export const ENV_DATABASE_PREFIX = 'sluice_env_';
/** PostgreSQL cuts identifiers at 63 bytes. */
const PG_IDENTIFIER_BYTES = 63;

/**
 * The database of environment `env` (a DNS label): `sluice_env_` and the name with "-" made "_"; a name too long for
 * PostgreSQL's 63 bytes is cut and ends with a hash of the whole name, so two long names never share a database.
 */
export function envDatabaseName(env: string): string {
  const plain = `${ENV_DATABASE_PREFIX}${env.replace(/-/g, '_')}`;
  if (plain.length <= PG_IDENTIFIER_BYTES) return plain;
  const hash = fnv1a(env).toString(36).padStart(7, '0').slice(-7);
  return `${plain.slice(0, PG_IDENTIFIER_BYTES - 8)}_${hash}`;
}

/** The URL of environment `env`'s copy: on `server` (else the source's server), same user, its own database. */
export function envDatabaseUrl(db: Pick<DatabasePlan, 'url' | 'server'>, env: string): string {
  const u = new URL(db.server ?? db.url);
  u.pathname = `/${envDatabaseName(env)}`;
  return u.toString();
}
