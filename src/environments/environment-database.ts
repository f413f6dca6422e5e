/**
 * Each environment's own database (ADR 26): its name on the server and its URL, derived from the environment's name
 * and its source stage's database, so that nothing about it needs keeping beside the environment's record. Pure.
 */
import type { DatabasePlan } from '../pipeline/pipeline.js';

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

/** 32-bit FNV-1a. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
