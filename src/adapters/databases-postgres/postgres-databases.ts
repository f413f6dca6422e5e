import { spawn } from 'node:child_process';
import pg from 'pg';
import { KeyedQueue } from '../../kernel/keyed-queue.js';
import { SluiceError } from '../../kernel/errors.js';
import { type DatabaseSource, ENV_DATABASE_PREFIX, envDatabaseName, envDatabaseUrl, type EnvironmentDatabases } from '../../environments/ports/environment-databases.js';

export interface PostgresDatabasesOptions {
  /** The database to connect to for CREATE and DROP DATABASE (default postgres). */
  maintenanceDb?: string;
  /** pg_dump and pg_restore (default: from PATH). */
  pgDump?: string;
  pgRestore?: string;
  /** The clock snapshots are dated by (ms). */
  now?: () => number;
}

/** How long a statement of ours may run: a big copy takes seconds, never minutes on one machine. */
const STATEMENT_TIMEOUT_MS = 10 * 60_000;

/**
 * Environments' databases on PostgreSQL servers (ADR 26).
 * - `template`: `CREATE DATABASE <env> TEMPLATE <snapshot>`. PostgreSQL refuses a template anyone is connected to,
 *   and the source stage's app always is; so environments are copied from a snapshot of the source that nobody
 *   connects to. The snapshot is taken again when older than the plan's `snapshotMaxAgeMs`: new connections to the
 *   source are refused for the moment of the copy (`ALLOW_CONNECTIONS false`), its sessions are closed, the copy is
 *   made, and connections are allowed again (the app's pool reconnects).
 * - `dump`: `pg_dump -Fc` of the source piped into `pg_restore` of a new database, for a source on another server.
 * - `empty`: a new database; the stage's seed command fills it after the migrations.
 * Every database made carries a comment `sluice-env <app> <env>`, which `list` reads to find orphans.
 */
export class PostgresDatabases implements EnvironmentDatabases {
  /** One copy at a time per source: the snapshot is taken once, and a second copy does not meet the first's session. */
  private readonly queue = new KeyedQueue();
  /** The spares being made again, by source URL. */
  private readonly refilling = new Map<string, Promise<void>>();

  constructor(private readonly o: PostgresDatabasesOptions = {}) {}

  async clone(app: string, env: string, source: DatabaseSource, log: (line: string) => void): Promise<string> {
    const name = envDatabaseName(env);
    const url = envDatabaseUrl(source.plan, env);
    const src = new URL(source.plan.url);
    const srcDb = decodeURIComponent(src.pathname.slice(1));
    return this.queue.run(source.plan.url, async () => {
      await this.admin(source, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
        if (source.plan.clone === 'template') {
          if (!sameServer(source.plan.url, source.plan.server))
            throw new SluiceError('BAD_REQUEST', `clone: template copies on the source's own server; for another server (${redactUrl(source.plan.server!)}) use clone: dump`);
          const snap = await this.snapshot(c, srcDb, source.plan.snapshotMaxAgeMs, log, () => this.refilling.get(source.plan.url));
          const t0 = Date.now();
          const spare = await takeSpare(c, srcDb, snap);
          if (spare) {
            await c.query(`ALTER DATABASE ${ident(spare)} RENAME TO ${ident(name)}`);
            log(`database ${name}: a spare copy of snapshot ${snap.name} of ${srcDb}, taken in ${Date.now() - t0} ms`);
          } else {
            await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(snap.name)} STRATEGY FILE_COPY`);
            log(`database ${name}: copied from snapshot ${snap.name} of ${srcDb} in ${Date.now() - t0} ms`);
          }
        } else {
          await c.query(`CREATE DATABASE ${ident(name)}`);
        }
        await c.query(`COMMENT ON DATABASE ${ident(name)} IS ${literal(`sluice-env ${app} ${env}`)}`);
      }, source.plan.server);
      if (source.plan.clone === 'dump') {
        const t0 = Date.now();
        await this.dumpRestore(source, url);
        log(`database ${name}: pg_dump of ${srcDb} restored in ${Date.now() - t0} ms`);
      } else if (source.plan.clone === 'empty') log(`database ${name}: made empty`);
      if (source.plan.clone === 'template') this.refill(source, srcDb);
      return url;
    });
  }

  /**
   * Makes the source's spare copies again in the background, one at a time, from the snapshot: a create that finds one
   * ready only renames it. A new snapshot waits for a refill under way (it replaces the database the spares copy).
   */
  private refill(source: DatabaseSource, srcDb: string): void {
    const count = source.plan.spares ?? 1;
    if (count === 0 || this.refilling.has(source.plan.url)) return;
    const job = this.admin(source, async (c) => {
      const snap = await snapshotOf(c, srcDb);
      if (!snap) return;
      const spares = await sparesOf(c, srcDb);
      for (let n = 0; n < count; n++) {
        const name = spareName(srcDb, n);
        const have = spares.find((s) => s.datname === name);
        if (have?.takenAt === snap.takenAt) continue;
        await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(snap.name)} STRATEGY FILE_COPY`);
        await c.query(`COMMENT ON DATABASE ${ident(name)} IS ${literal(`sluice-spare ${srcDb} ${snap.takenAt}`)}`);
      }
    }, source.plan.server)
      .catch(() => {
        // A spare is an optimisation: the next create copies from the snapshot itself, and refills again.
      })
      .finally(() => this.refilling.delete(source.plan.url));
    this.refilling.set(source.plan.url, job);
  }

  /** Waits for the background work under way (tests, and a stop). */
  async idle(): Promise<void> {
    await Promise.all(this.refilling.values());
  }

  async drop(app: string, env: string, source: DatabaseSource): Promise<boolean> {
    const name = envDatabaseName(env);
    return this.admin(source, async (c) => {
      const owned = await this.owned(c, app);
      if (!owned.some((o) => o.datname === name)) return false;
      await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
      return true;
    }, source.plan.server);
  }

  async list(app: string, source: DatabaseSource): Promise<string[]> {
    return this.admin(source, async (c) => (await this.owned(c, app)).map((o) => o.env).sort(), source.plan.server);
  }

  async seeded(app: string, env: string, source: DatabaseSource): Promise<boolean> {
    const name = envDatabaseName(env);
    return this.admin(source, async (c) => (await this.owned(c, app)).some((o) => o.datname === name && o.seeded), source.plan.server);
  }

  async markSeeded(app: string, env: string, source: DatabaseSource): Promise<void> {
    await this.admin(source, (c) => c.query(`COMMENT ON DATABASE ${ident(envDatabaseName(env))} IS ${literal(`sluice-env ${app} ${env} seeded`)}`), source.plan.server);
  }

  /** The databases made for `app`'s environments on this server. */
  private async owned(c: pg.Client, app: string): Promise<{ datname: string; env: string; seeded: boolean }[]> {
    const rows = (
      await c.query<{ datname: string; comment: string | null }>(
        `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d WHERE starts_with(d.datname, $1)`,
        [ENV_DATABASE_PREFIX],
      )
    ).rows;
    return rows.flatMap((r) => {
      const m = /^sluice-env (\S+) (\S+)( seeded)?$/.exec(r.comment ?? '');
      return m && m[1] === app && envDatabaseName(m[2]!) === r.datname ? [{ datname: r.datname, env: m[2]!, seeded: m[3] !== undefined }] : [];
    });
  }

  /**
   * The snapshot of `srcDb` environments are copied from, taken again when older than `maxAgeMs`. Taking it closes
   * the source's sessions for the moment of the copy: PostgreSQL copies only a database nobody is connected to.
   */
  private async snapshot(
    c: pg.Client,
    srcDb: string,
    maxAgeMs: number,
    log: (line: string) => void,
    refilled: () => Promise<void> | undefined,
  ): Promise<{ name: string; takenAt: number }> {
    const snap = snapshotName(srcDb);
    const now = (this.o.now ?? Date.now)();
    const have = await snapshotOf(c, srcDb);
    if (have && now - have.takenAt <= maxAgeMs) return have;
    // The spares being made copy the snapshot about to be replaced.
    await refilled();
    const exists = (await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [srcDb])).rowCount === 1;
    if (!exists) throw new SluiceError('NOT_FOUND', `the source database ${srcDb} does not exist on its server`);
    const t0 = Date.now();
    const next = `${snap.slice(0, 58)}_next`;
    await c.query(`DROP DATABASE IF EXISTS ${ident(next)} WITH (FORCE)`);
    await c.query(`ALTER DATABASE ${ident(srcDb)} ALLOW_CONNECTIONS false`);
    try {
      await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [srcDb]);
      await createFromTemplate(c, next, srcDb);
    } finally {
      await c.query(`ALTER DATABASE ${ident(srcDb)} ALLOW_CONNECTIONS true`);
    }
    const blockedMs = Date.now() - t0;
    await c.query(`DROP DATABASE IF EXISTS ${ident(snap)} WITH (FORCE)`);
    await c.query(`ALTER DATABASE ${ident(next)} RENAME TO ${ident(snap)}`);
    await c.query(`COMMENT ON DATABASE ${ident(snap)} IS ${literal(`sluice-snapshot ${srcDb} ${now}`)}`);
    log(`snapshot ${snap} of ${srcDb} taken (new connections to ${srcDb} waited ${blockedMs} ms)`);
    return { name: snap, takenAt: now };
  }

  private async dumpRestore(source: DatabaseSource, into: string): Promise<void> {
    const env = { ...process.env, ...(source.password !== undefined ? { PGPASSWORD: source.password } : {}) };
    const dump = spawn(this.o.pgDump ?? 'pg_dump', ['-Fc', '--no-owner', '--no-privileges', '-d', source.plan.url], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const restore = spawn(this.o.pgRestore ?? 'pg_restore', ['--no-owner', '--no-privileges', '-d', into], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    dump.stdout.pipe(restore.stdin);
    const ended = (p: ReturnType<typeof spawn>, what: string) =>
      new Promise<void>((resolve, reject) => {
        let err = '';
        p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
        p.on('error', (e) => reject(new SluiceError('INTERNAL', `${what} could not start: ${e.message}`)));
        p.on('close', (code) => (code === 0 ? resolve() : reject(new SluiceError('INTERNAL', `${what} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ')}`))));
      });
    await Promise.all([ended(dump, 'pg_dump'), ended(restore, 'pg_restore')]);
  }

  /** Runs `fn` on a connection to the maintenance database of `server` (else the source's server). */
  private async admin<T>(source: DatabaseSource, fn: (c: pg.Client) => Promise<T>, server?: string): Promise<T> {
    const u = new URL(server ?? source.plan.url);
    u.pathname = `/${this.o.maintenanceDb ?? 'postgres'}`;
    const password = source.password !== undefined ? { password: source.password } : {};
    const c = new pg.Client({ connectionString: u.toString(), ...password, statement_timeout: STATEMENT_TIMEOUT_MS });
    c.on('error', () => {});
    try {
      await c.connect();
    } catch (e) {
      throw new SluiceError('INTERNAL', `cannot reach the database server ${redactUrl(u.toString())}: ${(e as Error).message}`);
    }
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }
}

/** The snapshot of `srcDb` and when it was taken, if there is one. */
async function snapshotOf(c: pg.Client, srcDb: string): Promise<{ name: string; takenAt: number } | undefined> {
  const name = snapshotName(srcDb);
  const row = (await c.query<{ comment: string | null }>(`SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`, [name])).rows[0];
  const takenAt = Number(/^sluice-snapshot \S+ (\d+)$/.exec(row?.comment ?? '')?.[1] ?? NaN);
  return row && Number.isFinite(takenAt) ? { name, takenAt } : undefined;
}

/** The spare copies of `srcDb`'s snapshot: each with the time of the snapshot it copies (NaN while being made). */
async function sparesOf(c: pg.Client, srcDb: string): Promise<{ datname: string; takenAt: number }[]> {
  const rows = (
    await c.query<{ datname: string; comment: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE starts_with(datname, $1)`,
      [spareName(srcDb, 0).slice(0, -2)],
    )
  ).rows;
  return rows.map((r) => {
    const m = /^sluice-spare (\S+) (\d+)$/.exec(r.comment ?? '');
    return { datname: r.datname, takenAt: m && m[1] === srcDb ? Number(m[2]) : NaN };
  });
}

/** A spare made from the current snapshot, if one is ready. */
async function takeSpare(c: pg.Client, srcDb: string, snap: { takenAt: number }): Promise<string | undefined> {
  return (await sparesOf(c, srcDb)).find((s) => s.takenAt === snap.takenAt)?.datname;
}

/** The nth spare copy of `srcDb`'s snapshot: `sluice_spare_<hash of the source>_<n>`. */
export function spareName(srcDb: string, n: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < srcDb.length; i++) h = Math.imul(h ^ srcDb.charCodeAt(i), 0x01000193) >>> 0;
  return `sluice_spare_${h.toString(36)}_${n}`;
}

/** CREATE DATABASE from a template, retried while a session that was just closed is still leaving. */
async function createFromTemplate(c: pg.Client, name: string, template: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(template)} STRATEGY FILE_COPY`);
      return;
    } catch (e) {
      // 55006: source database "…" is being accessed by other users.
      if ((e as { code?: string }).code !== '55006' || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The snapshot database of `srcDb`: `sluice_snap_` and the name, cut with a hash to PostgreSQL's 63 bytes. */
export function snapshotName(srcDb: string): string {
  const plain = `sluice_snap_${srcDb.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (plain.length <= 52) return plain;
  let h = 0x811c9dc5;
  for (let i = 0; i < srcDb.length; i++) h = Math.imul(h ^ srcDb.charCodeAt(i), 0x01000193) >>> 0;
  return `${plain.slice(0, 44)}_${h.toString(36).padStart(7, '0').slice(-7)}`;
}

function sameServer(a: string, b: string | undefined): boolean {
  if (b === undefined) return true;
  const [x, y] = [new URL(a), new URL(b)];
  return x.hostname === y.hostname && (x.port || '5432') === (y.port || '5432');
}

/** A URL with any password replaced, for messages. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
