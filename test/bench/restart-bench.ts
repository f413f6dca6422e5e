// npm run bench:restart: steady traffic (100 requests/s) at prod during a canary rollout while the control plane is
// killed (SIGKILL) and started again 5 times, then stopped (SIGTERM) and replaced by a newer build. Reports failed
// requests, the canary's weight around each restart, how long each control plane was away, and any gap in the judge's
// metrics. Writes bench-results/restart.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { restartScenario } from '../helpers/restart-scenario.js';

const f = await restartScenario(Number(process.env.BENCH_KILLS ?? 5));
const result = {
  method: {
    traffic: '100 requests/s at a fixed pace to prod through the router, a new user per request',
    rollout: 'canary 25% (40 s pause, analysis), 50% (25 s pause, analysis), background analysis throughout',
    stops: 'kill -9 of `sluice up` and a start, 5 times in the first pause; then SIGTERM and a newer build in the second',
  },
  requests: f.requests,
  failedRequests: f.failedRequests,
  failures: f.failures,
  restarts: f.restarts,
  journey: f.journey,
  judgeMetricGaps: f.gaps,
  dataPlanePids: f.dataPlanePids,
  target: { failedRequests: 0, met: f.failedRequests === 0 && f.journey === 'succeeded' && f.restarts.every((r) => r.weightAfter === r.weightBefore) },
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/restart.json', `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
console.log('written to bench-results/restart.json');
