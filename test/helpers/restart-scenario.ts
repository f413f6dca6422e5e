import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlSocketPath } from '../../src/adapters/proxy-http1/data-plane-process.js';
import { RouterClient } from '../../src/adapters/proxy-http1/router-client.js';
import type { StoredEvent } from '../../src/journeys/journey-events.js';
import { CANARY_PIPELINE, drive, setFault } from './canary-app.js';
import { api, copyExample, journeyEnd, REPO, startUp, type UpProcess } from './sluice-process.js';

/** A canary whose pauses are long enough to restart the control plane several times in each. */
export const RESTART_PIPELINE = CANARY_PIPELINE.replace(
  /steps:\n[\s\S]*?analysis: errors\n( {8}analysis:)/,
  'steps:\n          - setWeight: 25\n          - pause: { duration: 40s }\n          - analysis: errors\n          - setWeight: 50\n          - pause: { duration: 25s }\n          - analysis: errors\n$1',
);

export interface RestartFigures {
  requests: number;
  failedRequests: number;
  failures: string[];
  /** Each stop of the control plane: how, the canary's weight on the router before it and once the next one was up. */
  restarts: { how: string; weightBefore: number | null; weightAfter: number | null; downMs: number }[];
  /** How the rollout ended. */
  journey: string;
  /** Stretches the analyses left out for want of data (none expected: the data plane counted all along). */
  gaps: unknown[];
  /** The data plane's pid at the start and at the end: one process served throughout. */
  dataPlanePids: [number, number];
}

/** A copy of this build under another version, as an upgrade brings (dist and bin copied, node_modules shared). */
function newerBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-build-'));
  for (const p of ['bin', 'dist', 'package.json', 'src']) cpSync(join(REPO, p), join(dir, p), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  const root = join(dir, 'dist', 'src', 'main', 'single-node.js');
  writeFileSync(root, readFileSync(root, 'utf8').replace("SLUICE_VERSION = '0.1.0'", "SLUICE_VERSION = '0.1.0-next'"));
  return join(dir, 'bin', 'sluice.js');
}

/**
 * Steady traffic at prod during a canary rollout, while the control plane is killed (SIGKILL) and started again
 * `kills` times, then stopped (SIGTERM) and replaced by a newer build. Returns what the users and the rollout saw.
 */
export async function restartScenario(kills = 5): Promise<RestartFigures> {
  const app = copyExample();
  const data = join(app, '.sluice');
  writeFileSync(join(app, 'sluice.yaml'), RESTART_PIPELINE);
  let up: UpProcess = await startUp(app, data);
  const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const HOST = 'prod.shop.localhost';
  const router = new RouterClient(controlSocketPath(data));
  const weight = async () => (await router.route(HOST))?.weight ?? null;
  const upgrade = newerBuild();
  try {
    setFault(app, 0, '1.0.0');
    await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token);
    if ((await journeyEnd(up.apiUrl, '1.0.0')) !== 'succeeded') throw new Error('1.0.0 did not go through');
    const firstPid = (await router.health()).pid;
    const traffic = drive(up.routerPort, HOST, { perSecond: 100, path: '/api/products' });
    setFault(app, 0, '2.0.0');
    await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '2.0.0' }, token);
    for (let i = 0; i < 200 && (await weight()) !== 25; i++) await sleep(50);
    const restarts: RestartFigures['restarts'] = [];
    const cycle = async (how: string, stop: () => Promise<void>, bin?: string) => {
      const weightBefore = await weight();
      const t0 = Date.now();
      await stop();
      up = await startUp(app, data, {}, 0, bin);
      restarts.push({ how, weightBefore, weightAfter: await weight(), downMs: Date.now() - t0 });
      await sleep(1500);
    };
    for (let k = 0; k < kills; k++) await cycle('kill -9', () => up.kill());
    // The second pause: a graceful stop, and a newer build takes over the same data directory.
    for (let i = 0; i < 600 && (await weight()) !== 50; i++) await sleep(100);
    await cycle('SIGTERM, then a newer build', () => up.stop(), upgrade);
    const journey = await journeyEnd(up.apiUrl, '2.0.0', 180_000);
    await sleep(500);
    await traffic.stop();
    const events = (await api<StoredEvent[]>(up.apiUrl, 'GET', '/api/v1/releases/2.0.0/events')).json;
    const gaps = events.flatMap((e) => (e.type === 'step.finished' && (e.detail as { gaps?: unknown[] } | undefined)?.gaps) || []);
    const failures = traffic.samples.filter((s) => s.status !== 200).map((s) => `${new Date(s.at).toISOString()} ${s.status} ${s.version}`);
    return {
      requests: traffic.samples.length,
      failedRequests: failures.length,
      failures: failures.slice(0, 20),
      restarts,
      journey,
      gaps,
      dataPlanePids: [firstPid, (await router.health()).pid],
    };
  } finally {
    router.close();
    await up.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
    rmSync(join(upgrade, '..', '..'), { recursive: true, force: true });
  }
}
