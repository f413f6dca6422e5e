import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../src/journeys/journey-events.js';
import { CANARY_PIPELINE, drive, setFault } from './helpers/canary-app.js';
import { api, cli, copyExample, journeyEnd, startUp, type UpProcess, viaRouter } from './helpers/sluice-process.js';

// Canary rollouts against a real `sluice up`: the router splits real traffic, the built-in metrics feed the analysis.
describe('canary rollouts, end to end', { timeout: 240_000 }, () => {
  let app: string;
  let up: UpProcess;
  let token: string;
  const HOST = 'prod.shop.localhost';
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: up.apiUrl });
  const events = async (v: string) => (await api<StoredEvent[]>(up.apiUrl, 'GET', `/api/v1/releases/${v}/events`)).json;

  before(async () => {
    app = copyExample();
    writeFileSync(join(app, 'sluice.yaml'), CANARY_PIPELINE);
    up = await startUp(app, join(app, '.sluice'));
    token = readFileSync(join(app, '.sluice', 'admin-token'), 'utf8').trim();
    assert.equal((await run('release', 'create', '1.0.0', '--wait')).code, 0);
  });
  after(async () => {
    await up?.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
  });

  it('a healthy canary goes through every step to 100%, then is verified and bakes; no request fails', async () => {
    const traffic = drive(up.routerPort, HOST);
    setFault(app, 0, '2.0.0');
    const r = await run('release', 'create', '2.0.0', '--wait');
    await traffic.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const bad = traffic.samples.filter((s) => s.status !== 200);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${traffic.samples.length} requests failed`);
    const versions = new Set(traffic.samples.map((s) => s.version));
    assert.ok(versions.has('1.0.0') && versions.has('2.0.0'), [...versions].join());
    const finishedSteps = (await events('2.0.0')).filter((e) => e.type === 'step.finished' && e.stage === 'prod').map((e) => e.type === 'step.finished' && [e.step, e.ok]);
    assert.deepEqual(finishedSteps, [
      ['deploy', true],
      ['canary:0', true],
      ['canary:1', true],
      ['canary:2', true],
      ['canary:3', true],
      ['canary:background', true],
      ['promote', true],
      ['verify:smoke', true],
      ['bake-check', true],
    ]);
    assert.equal((await viaRouter(up.routerPort, HOST, '/healthz')).version, '2.0.0');
  });

  /** Releases `version` answering 500 to half its API requests under steady traffic; returns the traffic seen. */
  const badCanary = async (version: string) => {
    const traffic = drive(up.routerPort, HOST);
    await sleep(300);
    setFault(app, 0.5, version);
    const created = await api(up.apiUrl, 'POST', '/api/v1/releases', { version }, token);
    assert.equal(created.status, 201);
    assert.equal(await journeyEnd(up.apiUrl, version), 'failed');
    await sleep(300);
    await traffic.stop();
    const s = traffic.samples;
    const firstBad = s.find((x) => x.status === 500);
    const lastCanary = s.filter((x) => x.version === version).at(-1);
    assert.ok(firstBad && lastCanary);
    assert.equal(s.at(-1)!.version, '2.0.0');
    assert.ok(s.filter((x) => x.at > lastCanary.at).every((x) => x.version === '2.0.0' && x.status === 200), 'after the rollback, only the stable version answers');
    assert.equal((await viaRouter(up.routerPort, HOST, '/healthz')).version, '2.0.0');
    return { cutOffMs: lastCanary.at - firstBad.at };
  };

  it("the data plane's guard cuts a canary answering 5xx off within milliseconds, and the stage rolls back", async () => {
    const { cutOffMs } = await badCanary('3.0.0');
    console.log(`# with the guard: first 5xx to last canary response: ${cutOffMs} ms`);
    const evs = await events('3.0.0');
    const trip = evs.find((e) => e.type === 'stage.guard-tripped');
    assert.ok(trip && trip.type === 'stage.guard-tripped' && trip.stage === 'prod' && trip.version === '3.0.0', JSON.stringify(evs.map((e) => e.type)));
    assert.match(trip.reason, /of the canary's last \d+ answers were errors/);
    assert.ok(evs.some((e) => e.type === 'step.finished' && e.step === 'rollback' && e.ok));
    assert.match((await run('status')).stdout, /prod\s+2\.0\.0\s+3\.0\.0\s+↺ rolled-back/);
    // Never a rollback for the stage's only version: 2.0.0 serves on, its errors untouched by the guard.
    const stages = (await api<{ stage: string; canary: unknown }[]>(up.apiUrl, 'GET', '/api/v1/stages')).json;
    assert.equal(stages.find((d) => d.stage === 'prod')?.canary, null);
  });

  it('without the guard, the analysis rolls a canary answering 5xx back; the evidence is stored and replays with sluice judge', async () => {
    writeFileSync(join(app, 'sluice.yaml'), CANARY_PIPELINE.replace('        analysis: { interval', '        guard: false\n        analysis: { interval'));
    const { cutOffMs } = await badCanary('3.1.0');
    console.log(`# without the guard: first 5xx to last canary response: ${cutOffMs} ms`);
    const evs = await events('3.1.0');
    assert.ok(!evs.some((e) => e.type === 'stage.guard-tripped'));
    const failed = evs.find((e) => e.type === 'step.finished' && !e.ok && !e.cancelled);
    assert.ok(failed && failed.type === 'step.finished');
    assert.match(failed.reason ?? '', /analysis .* failed: .*error-rate Failed/);
    type Detail = { request: unknown; gaps: unknown[]; response: { outcome: string; thresholds: { name: string; counts: { failed: number } }[] } };
    const detail = failed.detail as Detail;
    assert.equal(detail.response.outcome, 'fail');
    assert.deepEqual(detail.gaps, []);
    assert.ok(detail.response.thresholds[0]!.counts.failed >= 1);
    // The same data through sluice judge gives the same verdict.
    const file = join(app, 'evidence.json');
    writeFileSync(file, JSON.stringify(detail.request));
    const replay = await cli(['judge', file, '--json']);
    assert.equal(replay.code, 1);
    assert.deepEqual(JSON.parse(replay.stdout), detail.response);
    assert.ok(evs.some((e) => e.type === 'step.finished' && e.step === 'rollback' && e.ok));
    writeFileSync(join(app, 'sluice.yaml'), CANARY_PIPELINE);
  });

  it('with no real users, synthetic traffic gives the analysis data on both sides', async () => {
    const yaml = CANARY_PIPELINE.replace(
      /analyses:\n {2}errors:\n/,
      'analyses:\n  errors:\n    traffic: { paths: [/api/products, /], rate: 20 }\n',
    ).replace('max: 0.05, onEmpty: inconclusive, inconclusiveLimit: 3 }', 'max: 0.05 }\n      - { name: traffic, metric: request-rate, min: 5 }');
    writeFileSync(join(app, 'sluice.yaml'), yaml);
    setFault(app, 0, '4.0.0');
    const r = await run('release', 'create', '4.0.0', '--wait');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const metrics = await (await fetch(`${up.apiUrl}/metrics`)).text();
    const count = (v: string) => Number(new RegExp(`sluice_router_requests_total\\{stage="prod",version="${v.replace(/\./g, '\\.')}",class="2xx"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    assert.ok(count('4.0.0') > 20, `canary got ${count('4.0.0')} requests`);
  });
});
