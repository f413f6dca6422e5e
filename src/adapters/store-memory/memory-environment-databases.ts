import { type DatabaseSource, envDatabaseUrl, type EnvironmentDatabases } from '../../environments/ports/environment-databases.js';

/**
 * Environments' databases in memory, for tests of the code around them: a database is a map of keys to values, by
 * URL; a copy by template or dump takes the source's rows, an empty one none. Runs the same contract as PostgreSQL.
 */
export class MemoryEnvironmentDatabases implements EnvironmentDatabases {
  /** Each database's rows, by URL (the source's too: tests put rows there). */
  readonly data = new Map<string, Map<string, string>>();
  private readonly made = new Map<string, { app: string; env: string; seeded: boolean }>();

  async clone(app: string, env: string, source: DatabaseSource, log: (line: string) => void): Promise<string> {
    const url = envDatabaseUrl(source.plan, env);
    const rows = source.plan.clone === 'empty' ? new Map<string, string>() : new Map(this.data.get(source.plan.url) ?? []);
    this.data.set(url, rows);
    this.made.set(url, { app, env, seeded: false });
    log(`database for ${env}: ${source.plan.clone} copy in memory`);
    return url;
  }

  async drop(app: string, env: string, source: DatabaseSource): Promise<boolean> {
    const url = envDatabaseUrl(source.plan, env);
    if (this.made.get(url)?.app !== app) return false;
    this.made.delete(url);
    this.data.delete(url);
    return true;
  }

  async list(app: string, source: DatabaseSource): Promise<string[]> {
    const server = new URL(source.plan.server ?? source.plan.url).host;
    return [...this.made]
      .filter(([url, m]) => m.app === app && new URL(url).host === server)
      .map(([, m]) => m.env)
      .sort();
  }

  async seeded(app: string, env: string, source: DatabaseSource): Promise<boolean> {
    const m = this.made.get(envDatabaseUrl(source.plan, env));
    return m?.app === app && m.seeded;
  }

  async markSeeded(app: string, env: string, source: DatabaseSource): Promise<void> {
    const m = this.made.get(envDatabaseUrl(source.plan, env));
    if (m?.app === app) m.seeded = true;
  }
}
