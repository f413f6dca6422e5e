import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentRights, reviewLabel, runState, sourceStages, ttlLeft } from './environments-model.js';

describe('the environments view model', () => {
  it('gives the buttons by role: deployers change, approvers review, admins both, viewers neither', () => {
    assert.deepEqual(environmentRights('viewer'), { change: false, review: false });
    assert.deepEqual(environmentRights('deployer'), { change: true, review: false });
    assert.deepEqual(environmentRights('approver'), { change: false, review: true });
    assert.deepEqual(environmentRights('admin'), { change: true, review: true });
  });

  it('says how long is left, pinned, or expired', () => {
    const now = 1_000_000_000;
    assert.equal(ttlLeft({ pinned: true, expiresAt: null }, now), 'pinned');
    assert.equal(ttlLeft({ pinned: false, expiresAt: now - 1 }, now), 'expired');
    assert.equal(ttlLeft({ pinned: false, expiresAt: now + 30_000 }, now), 'under a minute');
    assert.equal(ttlLeft({ pinned: false, expiresAt: now + 4 * 60_000 + 59_000 }, now), '4 min');
    assert.equal(ttlLeft({ pinned: false, expiresAt: now + 5 * 3_600_000 + 10 * 60_000 }, now), '5 h 10 min');
    assert.equal(ttlLeft({ pinned: false, expiresAt: now + 3 * 86_400_000 - 1 }, now), '2 d 23 h');
  });

  it('shows a ready environment asleep or awake, any other its status', () => {
    assert.equal(runState({ status: 'ready', asleep: true }), 'asleep');
    assert.equal(runState({ status: 'ready', asleep: false }), 'awake');
    assert.equal(runState({ status: 'deploying', asleep: false }), 'deploying');
    assert.equal(runState({ status: 'failed', asleep: false }), 'failed');
  });

  it('labels a review', () => {
    assert.equal(reviewLabel({}), 'not reviewed');
    assert.equal(reviewLabel({ review: { verdict: 'approved', version: '1', by: 'lead', at: 1 } }), 'approved by lead');
    assert.equal(reviewLabel({ review: { verdict: 'changes-requested', version: '1', by: 'lead', at: 1 } }), 'changes requested by lead');
  });

  it('offers every stage but the last ones as a source', () => {
    const stages = [
      { name: 'integ', after: [] },
      { name: 'staging', after: ['integ'] },
      { name: 'prod', after: ['staging'] },
      { name: 'eu', after: ['staging'] },
    ];
    assert.deepEqual(sourceStages(stages), ['integ', 'staging']);
    assert.deepEqual(sourceStages([{ name: 'only', after: [] }]), ['only']);
  });
});
