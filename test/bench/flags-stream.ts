// Change-to-delivery latency of the data plane's flag stream: a data plane process, `subscribers` SSE subscribers on
// loopback (in this process), and `changes` changes published one after another through the control socket. Each
// delivery's latency runs from just before the publish is sent (so it includes the check, the compile, the fsync'd
// save and the fan-out) to the moment the subscriber has the event. Target: p99 <= 100 ms for 1,000 subscribers.
// It is the `stream` section of npm run bench:flags.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDataPlane, stopDataPlane } from '../../src/adapters/proxy-http1/data-plane-process.js';
import type { FlagdDocument } from '../../src/flags/ports/flag-serving.js';
import { DATA_PLANE_ENTRY, published } from '../helpers/flags.js';

export interface StreamLatency {
  subscribers: number;
  changes: number;
  /** Deliveries expected (subscribers × changes) and those that did not arrive within 5 s of their change. */
  deliveries: number;
  missed: number;
  /** Change-to-delivery latency, ms. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** The publish call's own round trip (check, compile, save with fsync, fan-out, answer), ms, median. */
  publishP50: number;
}

const KEY = 'bench-stream-key';

/** A stage's flags: 20 flags, one of which changes its default with every revision. */
function doc(revision: number): FlagdDocument {
  const flags: FlagdDocument['flags'] = {};
  for (let i = 0; i < 20; i++) flags[`flag-${i}`] = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: i === 0 && revision % 2 === 1 ? 'on' : 'off' };
  flags.version = { state: 'ENABLED', variants: { v: revision }, defaultVariant: 'v' };
  return { flags };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Runs the measurement; see the file's head. */
export async function measureStreamLatency(o: { subscribers: number; changes: number }): Promise<StreamLatency> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'sluice-bench-stream-')), 'data');
  const dp = await ensureDataPlane({ dataDir, host: '127.0.0.1', port: 0, flagsPort: 0, maxConnections: 100, entry: DATA_PLANE_ENTRY, build: 'bench' }, () => {});
  const port = dp.health.flagsPort;
  // For each revision, when each subscriber had it (performance.now()).
  const arrivals = new Map<number, number[]>();
  const sockets: import('node:http').ClientRequest[] = [];
  try {
    await dp.client.publish('prod', published(doc(0), 0, KEY));
    let connected = 0;
    for (let i = 0; i < o.subscribers; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/flags/v1/stream', agent: false, headers: { 'x-api-key': KEY } }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`subscriber ${i}: ${res.statusCode}`));
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const at = performance.now();
            // Events are small and written whole: each chunk carries whole events.
            for (let k = chunk.indexOf('id: '); k >= 0; k = chunk.indexOf('id: ', k + 4)) {
              const rev = Number.parseInt(chunk.slice(k + 4, chunk.indexOf('\n', k)), 10);
              let list = arrivals.get(rev);
              if (!list) arrivals.set(rev, (list = []));
              list.push(at);
            }
          });
          connected++;
          resolve();
        });
        req.on('error', reject);
        req.end();
        sockets.push(req);
      });
    }
    for (let i = 0; i < 200 && (arrivals.get(0)?.length ?? 0) < connected; i++) await sleep(10);
    const latencies: number[] = [];
    const publishMs: number[] = [];
    let missed = 0;
    for (let rev = 1; rev <= o.changes; rev++) {
      const t0 = performance.now();
      await dp.client.publish('prod', published(doc(rev), rev, KEY));
      publishMs.push(performance.now() - t0);
      for (let i = 0; i < 500 && (arrivals.get(rev)?.length ?? 0) < o.subscribers; i++) await sleep(10);
      const got = arrivals.get(rev) ?? [];
      missed += o.subscribers - got.length;
      for (const at of got) latencies.push(at - t0);
      await sleep(50);
    }
    latencies.sort((a, b) => a - b);
    publishMs.sort((a, b) => a - b);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      subscribers: o.subscribers,
      changes: o.changes,
      deliveries: o.subscribers * o.changes,
      missed,
      p50: r2(quantile(latencies, 0.5)),
      p95: r2(quantile(latencies, 0.95)),
      p99: r2(quantile(latencies, 0.99)),
      max: r2(latencies.at(-1) ?? NaN),
      publishP50: r2(quantile(publishMs, 0.5)),
    };
  } finally {
    for (const s of sockets) s.destroy();
    dp.client.close();
    await stopDataPlane(dataDir);
    rmSync(join(dataDir, '..'), { recursive: true, force: true });
  }
}
