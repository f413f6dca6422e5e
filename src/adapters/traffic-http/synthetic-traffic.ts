import { request } from 'node:http';
import { VERSION_HEADER } from '../proxy-http1/router.js';

/**
 * Requests at a steady rate through the stage's URL, pinned alternately to the stable and the canary version,
 * so an analysis has data on both sides even when real users are few. Bounded: it stops with `signal`.
 */
export function startSyntheticTraffic(stageUrl: string, paths: string[], ratePerSide: number, signal: AbortSignal): { sent: () => number } {
  const url = new URL(stageUrl);
  // *.localhost hosts resolve to loopback, as browsers do; keep the Host header for the router.
  const hostname = url.hostname.endsWith('.localhost') ? '127.0.0.1' : url.hostname;
  let sent = 0;
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
    sent++;
  };
  const timer = setInterval(tick, 1000 / (2 * ratePerSide));
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return { sent: () => sent };
}
