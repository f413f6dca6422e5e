#!/usr/bin/env node
// Runs a suite of compiled tests with node's test runner.
//   unit  (npm test):       dist/src/**/*.test.js, dist/test/*.test.js and dist/test/security: pure code, PGlite, real processes and sockets
//   pg    (npm run test:pg): dist/test/pg: the store contract against a real PostgreSQL server (DATABASE_URL)
//   crash (npm run test:crash): dist/test/crash: SIGKILL of `sluice up` during journeys (CRASH_RUNS times)
//   prometheus (npm run test:prometheus): dist/test/prom: metrics against a real Prometheus (Debian's package)
//   restart (npm run test:restart): dist/test/restart: traffic through a canary while the control plane is killed and upgraded
//   browser (npm run test:browser): dist/test/browser: the dashboard in Debian's Chromium (playwright-core), against a real sluice up
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const suite = process.argv[2] ?? 'unit';
const roots = { unit: ['dist/src', 'dist/test', 'dist/test/security'], pg: ['dist/test/pg'], crash: ['dist/test/crash'], prometheus: ['dist/test/prom'], restart: ['dist/test/restart'], browser: ['dist/test/browser'] }[suite];
if (!roots) {
  console.error(`unknown suite ${suite}; use unit, pg, crash, prometheus, restart or browser`);
  process.exit(2);
}

function find(dir, deep) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (deep) out = out.concat(find(p, deep));
    } else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

// dist/test's subfolders are separate suites; dist/src is searched all the way down.
const files = roots.filter((r) => existsSync(r)).flatMap((r) => find(r, r !== 'dist/test'));
if (files.length === 0) {
  console.error(`no test files for suite ${suite}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-force-exit', ...process.argv.slice(3), ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
