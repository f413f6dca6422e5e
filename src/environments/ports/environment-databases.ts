import type { DatabasePlan } from '../../pipeline/pipeline.js';

export type { DatabasePlan } from '../../pipeline/pipeline.js';

/** A stage's database as the port needs it: its plan, and the password of its user (from the stage's secret), if any. */
export interface DatabaseSource {
  plan: Pick<DatabasePlan, 'url' | 'clone' | 'server' | 'snapshotMaxAgeMs'>;
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
