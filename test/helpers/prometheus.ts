import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/platform/net.js';

export interface PrometheusProcess {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a real Prometheus (Debian's package) on loopback, scraping `targets` (host:port) every second. */
export async function startPrometheus(targets: string[]): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prom-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: sluice
    metrics_path: /metrics
    static_configs: [{ targets: [${targets.map((t) => `'${t}'`).join(', ')}] }]
`,
  );
  const proc = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 150) throw new Error(`prometheus not ready: ${stderr}`);
    await sleep(100);
  }
  return {
    url,
    proc,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until Prometheus has scraped every target at least `n` times more. */
export async function waitScrapes(url: string, n = 2): Promise<void> {
  const up = async () => {
    const r = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent('sum(count_over_time(up[1h]))')}`)).json()) as { data: { result: { value: [number, string] }[] } };
    return Number(r.data.result[0]?.value[1] ?? 0);
  };
  const start = await up();
  for (let i = 0; i < 100 && (await up()) < start + n; i++) await sleep(200);
}
