import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Board } from '../../journeys/board.js';
import type { JourneyEvent, StoredEvent } from '../../journeys/journey-events.js';
import { patchBoard } from './board-patch.js';

const board = (): Board => ({
  app: 'shop',
  stages: [
    { name: 'staging', after: [], target: 'local', live: { version: '1', digest: 'd1' }, latest: { version: '1', status: 'passed', warnings: [], steps: [{ name: 'deploy', status: 'passed', durationMs: 5 }] } },
    { name: 'prod', after: ['staging'], target: 'local', live: null, latest: null },
  ],
  journeys: [{ id: 'j1', version: '1', digest: 'd1', status: 'running', createdAt: 1, updatedAt: 1, commit: { version: '1', status: 'passed', warnings: [], steps: [] }, stages: { staging: 'passed', prod: 'waiting' } }],
});
let id = 100;
const ev = (journeyId: string, e: JourneyEvent): StoredEvent => ({ ...e, id: id++, journeyId, seq: 1, at: 500, actor: { kind: 'system', reason: 't' } }) as StoredEvent;

describe('the board follows an event before the refetch', () => {
  it('a new journey appears in the lane at once', () => {
    const b = patchBoard(board(), ev('j2', { type: 'journey.created', release: { version: '2', digest: 'd2' }, plan: {} as never }));
    assert.deepEqual(b.journeys.map((j) => [j.id, j.version, j.status]), [['j2', '2', 'running'], ['j1', '1', 'running']]);
    assert.deepEqual(b.journeys[0]!.stages, { staging: 'waiting', prod: 'waiting' });
    assert.equal(patchBoard(b, ev('j2', { type: 'journey.created', release: { version: '2', digest: 'd2' }, plan: {} as never })), b, 'once');
  });

  it('entering a stage, and a step starting and ending there, show on its card', () => {
    let b = patchBoard(board(), ev('j1', { type: 'stage.entered', stage: 'prod', previous: null }));
    assert.deepEqual(b.stages[1]!.latest, { version: '1', status: 'deploying', warnings: [], steps: [] });
    assert.equal(b.journeys[0]!.stages.prod, 'deploying');
    b = patchBoard(b, ev('j1', { type: 'step.started', stage: 'prod', step: 'deploy', key: 'k' }));
    assert.deepEqual(b.stages[1]!.latest?.steps, [{ name: 'deploy', status: 'running' }]);
    b = patchBoard(b, ev('j1', { type: 'step.finished', stage: 'prod', step: 'deploy', key: 'k', ok: false, exitCode: 1, reason: 'exit code 1' }));
    assert.deepEqual(b.stages[1]!.latest?.steps, [{ name: 'deploy', status: 'failed', reason: 'exit code 1' }]);
  });

  it('leaves alone what is not the journey on the card, and events it cannot place', () => {
    const b0 = board();
    assert.equal(patchBoard(b0, ev('j9', { type: 'step.started', stage: 'staging', step: 'deploy', key: 'k' })), b0, 'unknown journey');
    const b1 = patchBoard(b0, ev('j2', { type: 'journey.created', release: { version: '2', digest: 'd2' }, plan: {} as never }));
    const b2 = patchBoard(b1, ev('j2', { type: 'step.started', stage: 'staging', step: 'verify:x', key: 'k' }));
    assert.equal(b2.stages[0]!.latest?.version, '1', 'a step of a journey the card does not show (it has not entered) changes nothing');
    assert.equal(patchBoard(b0, ev('j1', { type: 'stage.paused', stage: 'staging', by: 'x' })), b0);
  });
});
