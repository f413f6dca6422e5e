import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

/**
 * How every PGlite of Sluice starts, in the long-lived process and in the child that creates a data directory.
 *
 * PostgreSQL's buffer pool lives in the WebAssembly memory and is touched as it is set up, so all of it is resident
 * from the start. PGlite's default pool is 128 MB; 16 MB takes about 120 MB off `sluice up` (settled after a restart:
 * about 335 MB with 128 MB, 210 MB with 16 MB; PGlite 0.5, Node 20, bench:footprint). Sluice's tables are small event
 * logs, and a page not in the pool is one read away in the OS page cache. With an events table of 100,000 events
 * (59 MB, four times the pool), measured interleaved in one process, reading every event took 3.5 s against 3.0 s,
 * one journey's events 2.8 against 2.6 ms and an append 0.78 against 0.68 ms; tables that fit in 16 MB stay in the
 * pool either way. A `-c` start parameter wins over postgresql.conf and is not written to it, so data directories
 * made before this setting get it too, and removing it restores PGlite's default.
 */
export const PGLITE_OPTIONS: PGliteOptions = {
  startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'],
};
