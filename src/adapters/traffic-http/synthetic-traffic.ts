import { request } from 'node:http';
import type { SyntheticTraffic } from '../../rollout/ports/synthetic-traffic.js';
import { VERSION_HEADER } from '../../rollout/ports/traffic-router.js';

/** Synthetic traffic over HTTP/1.1 (see the port). */
export const startSyntheticTraffic: SyntheticTraffic = (stageUrl, paths, ratePerSide, signal) => {
  const url = new URL(stageUrl);
  // *.localhost hosts resolve to loopback, as browsers do; keep the Host header for the router.
  const hostname = url.hostname.endsWith('.localhost') ? '127.0.0.1' : url.hostname;
  let n = 0;
  const tick = () => {
    if (signal.aborted) return;
    const side = n % 2 === 0 ? 'stable' : 'canary';
    const path = paths[Math.floor(n / 2) % paths.length]!;
    n++;
    const req = request({ hostname, port: url.port || 80, path, headers: { host: url.host, [VERSION_HEADER]: side, 'user-agent': 'sluice-synthetic' }, timeout: 5000 }, (res) => {
      res.resume();
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {});
    req.end();
  };
  const timer = setInterval(tick, 1000 / (2 * ratePerSide));
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
};
