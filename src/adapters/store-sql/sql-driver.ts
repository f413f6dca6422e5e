/** The port every store speaks through: a PostgreSQL dialect, either PGlite or a real server. */
export interface SqlDriver {
  readonly kind: 'pglite' | 'postgres';
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs several statements with no parameters. */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type SqlExecutor = Pick<SqlDriver, 'query' | 'exec'>;
