import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runJudgeRequest } from '../../rollout/judge-request.js';
import { chartGeometry, comparisonLines, seriesValues, thresholdLines } from './analysis.js';
import { reconnectDelay } from './backoff.js';
import { canarySplit, decisionsAt, failedGates, inconclusiveGate, lane, servingSince, stageHealth, stepInProgress, stepStarts } from './board-model.js';
import { formatDuration, formatNumber } from './format.js';

describe('a stage on the board', () => {
  it('health follows the newest journey there', () => {
    assert.deepEqual(stageHealth(null, false), { tone: 'idle', label: 'nothing deployed' });
    assert.deepEqual(stageHealth({ status: 'passed' }, true), { tone: 'ok', label: 'healthy' });
    assert.deepEqual(stageHealth({ status: 'rolled-back' }, true), { tone: 'bad', label: 'rolled back' });
    assert.deepEqual(stageHealth({ status: 'awaiting-approval' }, true), { tone: 'wait', label: 'awaiting approval' });
  });

  it('shows the step in progress, and during a canary both versions and the weight', () => {
    assert.equal(stepInProgress({ steps: [{ name: 'deploy', status: 'passed' }, { name: 'canary:1', status: 'running' }] })?.name, 'canary:1');
    assert.equal(stepInProgress({ steps: [{ name: 'canary:background', status: 'running' }, { name: 'canary:3', status: 'running' }] })?.name, 'canary:3');
    assert.equal(stepInProgress(null), undefined);
    const d = { stage: 'prod', stable: { release: { version: '1.0.0' } }, canary: { release: { version: '1.1.0' }, weight: 25 } };
    assert.deepEqual(canarySplit(d), { stable: '1.0.0', canary: '1.1.0', weight: 25 });
    assert.equal(canarySplit({ ...d, canary: null }), undefined);
  });

  it('a failed analysis shows its reason and the measured values that failed it', () => {
    const request = {
      metrics: [
        { name: 'latency', direction: 'increase' as const, canary: [200, 210, 190, 205, 220, 215, 199, 230], baseline: [100, 102, 98, 101, 99, 97, 103, 100] },
        { name: 'cpu', canary: [1, 2, 1, 2, 1, 2, 1, 2], baseline: [1, 2, 1, 2, 1, 2, 1, 2] },
      ],
      thresholds: [{ name: 'errors', max: 0.01, measurements: [0, 0.2, 0.3] }],
    };
    const response = runJudgeRequest(request as never);
    assert.equal(response.outcome, 'fail');
    const gates = failedGates({
      failure: 'analysis failed',
      steps: [
        { name: 'deploy', status: 'passed' },
        { name: 'canary:1', status: 'failed', reason: 'analysis errors failed', detail: { analysis: 'errors', request, response } },
      ],
    });
    assert.equal(gates.length, 1);
    assert.equal(gates[0]!.step, 'canary:1');
    assert.equal(gates[0]!.reason, 'analysis errors failed');
    assert.ok(gates[0]!.measured.some((m) => /^latency: canary 208\.6 vs baseline 100 \(ratio 2\.086, High\)$/.test(m)), gates[0]!.measured.join('\n'));
    assert.ok(gates[0]!.measured.some((m) => m.startsWith('errors: last 0.3, 2 failed of 3')), gates[0]!.measured.join('\n'));
    assert.ok(!gates[0]!.measured.some((m) => m.startsWith('cpu')), 'a passing metric is not a reason');
    // A stage failure without a failed step still shows.
    assert.deepEqual(failedGates({ failure: 'guard tripped', steps: [] }), [{ step: 'stage', reason: 'guard tripped', measured: [] }]);
  });

  it('serves since its traffic last moved: the deploy or the canary promote, else entering the stage', () => {
    const ev = [
      { at: 10, type: 'stage.entered', stage: 'prod' },
      { at: 20, type: 'step.finished', stage: 'prod', step: 'deploy', ok: true },
      { at: 25, type: 'step.finished', stage: 'staging', step: 'deploy', ok: true },
      { at: 30, type: 'step.finished', stage: 'prod', step: 'promote', ok: true },
      { at: 40, type: 'step.finished', stage: 'prod', step: 'verify:smoke', ok: true },
    ];
    assert.equal(servingSince(ev, 'prod'), 30);
    assert.equal(servingSince(ev.slice(0, 1), 'prod'), 10);
    assert.equal(servingSince(ev, 'integ'), undefined);
  });

  it('the lane lists running journeys, oldest first, with where each is', () => {
    const order = ['integ', 'staging', 'prod'];
    const l = lane(
      [
        { version: '3', status: 'running', createdAt: 3, stages: { integ: 'waiting', staging: 'waiting', prod: 'waiting' } },
        { version: '1', status: 'succeeded', createdAt: 1, stages: { integ: 'passed', staging: 'passed', prod: 'passed' } },
        { version: '2', status: 'running', createdAt: 2, stages: { integ: 'passed', staging: 'awaiting-approval', prod: 'waiting' } },
      ],
      order,
    );
    assert.deepEqual(l.map((j) => [j.version, j.at]), [['2', 'staging: awaiting approval'], ['3', 'queued']]);
    assert.deepEqual([l[0]!.stage, l[0]!.stageStatus, l[1]!.stage], ['staging', 'awaiting-approval', undefined]);
  });

  it('says behind whom a release waits in a stage’s lane', () => {
    const waiting = { status: 'running' as const, stages: { integ: 'passed' as const, staging: 'ready' as const, prod: 'waiting' as const } };
    const l = lane(
      [
        { ...waiting, version: '4', createdAt: 4, lane: { stage: 'staging', ahead: ['2'], before: ['3'] } },
        { ...waiting, version: '3', createdAt: 3, lane: { stage: 'staging', ahead: ['2'], before: [] } },
      ],
      ['integ', 'staging', 'prod'],
    );
    assert.deepEqual(l.map((j) => [j.version, j.at]), [
      ['3', 'staging: queued in its lane behind 2 (on its way to the end)'],
      ['4', 'staging: queued in its lane behind 2 (on its way to the end), 3 (queued)'],
    ]);
  });
});

describe('analysis charts', () => {
  it('a point without data breaks the line; thresholds sit where their values are', () => {
    const g = chartGeometry([[0, 10, Number.NaN, 5], [10]], [{ value: 20, label: 'max 20' }], 100, 50, 0);
    assert.equal(g.paths[0], 'M0 50L33.3 25M100 37.5');
    assert.equal(g.paths[1], 'M0 25');
    assert.deepEqual([g.yMin, g.yMax, g.lines[0]!.y], [0, 20, 0]);
    const flat = chartGeometry([[3, 3]], [], 100, 50, 0);
    assert.ok(flat.yMax > flat.yMin, 'a flat series still has a height');
  });

  it('reads series and threshold lines from the judge request', () => {
    assert.deepEqual(seriesValues([1, null, 'NaN', { error: 'x' }, 2]), [1, Number.NaN, Number.NaN, Number.NaN, 2]);
    assert.deepEqual(comparisonLines({ name: 'l', canary: [], baseline: [], effectSize: { allowedIncrease: 1.5 } }, 100), [{ value: 150, label: 'allowed increase ×1.5' }]);
    assert.deepEqual(comparisonLines({ name: 'l', canary: [], baseline: [] }, 100), []);
    assert.deepEqual(thresholdLines({ max: 0.05 }), [{ value: 0.05, label: 'max 0.05' }]);
  });
});

describe('formatting and reconnecting', () => {
  it('formats durations and numbers for people', () => {
    assert.deepEqual([formatDuration(850), formatDuration(12_340), formatDuration(245_000), formatDuration(7_380_000)], ['850 ms', '12.3 s', '4m 05s', '2h 03m']);
    assert.deepEqual([formatNumber(null), formatNumber(0.123456), formatNumber(1234567), formatNumber(Number.NaN)], ['–', '0.1235', '1.23e+6', 'NaN']);
  });

  it('backs off from half a second to eight, with jitter', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => reconnectDelay(a, 0)), [500, 1000, 2000, 4000, 8000, 8000]);
    assert.equal(reconnectDelay(4, 0.999), 6002);
  });
});

describe('the journey timeline', () => {
  it('takes each step’s newest start and the decisions people took, with their comments', () => {
    const ev = [
      { at: 1, type: 'step.started', stage: 'prod', step: 'deploy' },
      { at: 5, type: 'stage.approved', stage: 'prod', by: 'alice', comment: 'ship it' },
      { at: 6, type: 'stage.approved', stage: 'staging', by: 'bob' },
      { at: 7, type: 'step.started', stage: 'prod', step: 'deploy' },
      { at: 9, type: 'stage.rollback-requested', stage: 'prod', by: 'carol', reason: 'errors' },
    ];
    assert.equal(stepStarts(ev).get('prod/deploy'), 7);
    assert.deepEqual(decisionsAt(ev, 'prod'), [
      { at: 5, what: 'approved', by: 'alice', comment: 'ship it' },
      { at: 9, what: 'asked to roll back', by: 'carol', comment: 'errors' },
    ]);
  });
});

describe('a rollout paused on an inconclusive analysis', () => {
  it('says which step and why, only while paused', () => {
    const steps = [
      { name: 'canary:1', status: 'inconclusive' as const, reason: 'error-rate Inconclusive: no data' },
      { name: 'canary:background', status: 'running' as const },
    ];
    assert.deepEqual(inconclusiveGate({ status: 'paused', steps }), { step: 'canary:1', reason: 'error-rate Inconclusive: no data', measured: [] });
    assert.equal(inconclusiveGate({ status: 'rolling-out', steps }), undefined);
  });
});
