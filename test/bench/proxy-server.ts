// A proxy process for bench:router: `node proxy-server.js <sluice|sluice-variants|http-proxy-3> <port> <stablePort> <canaryPort>`.
// Splits 90/10 between the two upstreams, per request, and prints "ready" once listening. `sluice-variants` is the same
// router with the stage's flags counted per variant: a 50/50 flag read from the x-user-id header, evaluated per request.
import http from 'node:http';
import { FlagSets } from '../../src/adapters/proxy-http1/flag-sets.js';
import { Router } from '../../src/adapters/proxy-http1/router.js';
import { compileFlagSet } from '../../src/flags/flag-compiler.js';
import { VARIANT_KEY_METADATA } from '../../src/flags/ports/variant-metrics.js';
import { DEFAULT_GUARD } from '../../src/rollout/rollout-plan.js';

const [kind, port, stablePort, canaryPort] = process.argv.slice(2);
if (kind === 'sluice' || kind === 'sluice-variants') {
  const router = new Router();
  router.setRoute('bench.shop.localhost', {
    stage: 'bench',
    stable: { version: 'stable', backends: [{ id: 's', port: Number(stablePort) }] },
    canary: { version: 'canary', backends: [{ id: 'c', port: Number(canaryPort) }] },
    canaryWeight: 10,
    sticky: 'none',
    // As every canary has by default: the guard watches each of the canary's answers.
    guard: DEFAULT_GUARD,
  });
  if (kind === 'sluice-variants') {
    const sets = new FlagSets({ compile: compileFlagSet, notice: (l) => console.error(l), served: (stage, st) => router.setCountedFlags(stage, st) });
    const checkout = {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { fractional: [['on', 50], ['off', 50]] },
      metadata: { [VARIANT_KEY_METADATA]: 'header:x-user-id' },
    };
    sets.publish('bench', { doc: { flags: { checkout } }, revision: 1, keyHashes: [] });
  }
  await router.listen(Number(port));
} else if (kind === 'http-proxy-3') {
  const { createProxyServer } = await import('http-proxy-3');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const proxy = createProxyServer({ agent });
  proxy.on('error', (_e: Error, _req: unknown, res: unknown) => {
    const r = res as http.ServerResponse;
    if (!r.headersSent) r.writeHead(502);
    r.end();
  });
  const server = http.createServer((req, res) => proxy.web(req, res, { target: `http://127.0.0.1:${Math.random() < 0.1 ? canaryPort : stablePort}` }));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((res) => server.listen(Number(port), '127.0.0.1', () => res()));
} else {
  throw new Error(`unknown proxy ${kind}`);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
