import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shopPlan } from '../../test/helpers/journey-sim.js';
import { parsePipeline } from '../pipeline/pipeline.js';
import { ENV_LIMITS, envExpiresAt, envNameFor, envNameProblem, envStagePlan } from './environment.js';

describe('environments: names, expiry and plan', () => {
  const stages = ['integ', 'staging', 'prod'];

  it('takes a DNS label that is no stage and no stage’s preview address', () => {
    for (const ok of ['pr-42', 'feature-login', 'a', 'x'.repeat(63), 'prod-eu-test']) assert.equal(envNameProblem(ok, stages), undefined, ok);
    assert.match(envNameProblem('Feature', stages)!, /not a DNS label/);
    assert.match(envNameProblem('-a', stages)!, /not a DNS label/);
    assert.match(envNameProblem('a-', stages)!, /not a DNS label/);
    assert.match(envNameProblem('a.b', stages)!, /not a DNS label/);
    assert.match(envNameProblem('x'.repeat(64), stages)!, /at most 63/);
    assert.match(envNameProblem('staging', stages)!, /"staging" is a stage of the pipeline/);
    assert.match(envNameProblem('prod-preview', stages)!, /preview address of stage prod/);
  });

  it('derives a name from the pull request, else the branch, always a valid label, and two long branches never share one', () => {
    assert.equal(envNameFor({ pr: 42, branch: 'x' }), 'pr-42');
    assert.equal(envNameFor({ branch: 'feature/Login_v2' }), 'feature-login-v2');
    assert.equal(envNameFor({ branch: '--Fix!!  the (bug)--' }), 'fix-the-bug');
    assert.equal(envNameFor({ branch: '///' }), undefined);
    assert.equal(envNameFor({}), undefined);
    const a = envNameFor({ branch: `feature/${'a'.repeat(80)}-one` })!;
    const b = envNameFor({ branch: `feature/${'a'.repeat(80)}-two` })!;
    assert.notEqual(a, b);
    for (const n of [a, b]) {
      assert.ok(n.length <= ENV_LIMITS.nameLength, n);
      assert.equal(envNameProblem(n, stages), undefined, n);
    }
    for (let i = 0; i < 500; i++) {
      const branch = Array.from({ length: 1 + (i % 90) }, (_, j) => String.fromCharCode(32 + ((i * 7 + j * 13) % 95))).join('');
      const n = envNameFor({ branch });
      if (n !== undefined) assert.equal(envNameProblem(n, []), undefined, `${JSON.stringify(branch)} → ${n}`);
    }
  });

  it('expires after its TTL from the last deploy, at most its maximum age after creation, never when pinned', () => {
    const e = { pinned: false, createdAt: 0, deployedAt: 0, ttlMs: 3 * 86_400_000, maxAgeMs: 14 * 86_400_000 };
    assert.equal(envExpiresAt(e), 3 * 86_400_000);
    assert.equal(envExpiresAt({ ...e, deployedAt: 5 * 86_400_000 }), 8 * 86_400_000, 'a deploy slides it');
    assert.equal(envExpiresAt({ ...e, deployedAt: 13 * 86_400_000 }), 14 * 86_400_000, 'but not past the maximum age');
    assert.equal(envExpiresAt({ ...e, pinned: true }), null);
  });

  it('deploys with its source stage’s config and target settings under its own name, its overrides on top, none of a journey’s gates', () => {
    const plan = shopPlan(`  staging:
    env: { GREETING: Hi, REGION: eu }
    secrets: [DB_PASSWORD]
    verify: { acceptance: node t.js }
    approval: { before: deploy, after: verify }
    bake: 5m
    lane: { maxAhead: 1 }
    protection: { promote: [deployer] }
    strategy:
      canary: { steps: [{ setWeight: 10 }, { pause: { duration: 1s } }] }
`);
    const staging = plan.stages.find((s) => s.name === 'staging')!;
    const p = envStagePlan(staging, { name: 'pr-7', env: { GREETING: 'Hello PR' } });
    assert.equal(p.name, 'pr-7');
    assert.deepEqual(p.env, { GREETING: 'Hello PR', REGION: 'eu' });
    assert.deepEqual(p.secrets, ['DB_PASSWORD'], 'its source’s secrets, by name');
    assert.deepEqual(p.local, staging.local);
    const gates = [p.after, p.verify, p.approval, p.bakeMs, p.approvalBeforeDeploy, p.canary, p.lane, p.protection];
    assert.deepEqual(gates, [[], [], false, 0, undefined, undefined, undefined, undefined]);
  });

  it('calls the source stage\'s dependencies unless its overrides say otherwise', () => {
    const plan = parsePipeline('app: shop\nartifact: { output: dist }\ndefaults: { local: { start: node s.js } }\nservices: { payments: { app: payments } }\nstages:\n  staging: {}\n  prod: { after: staging }\n');
    const staging = plan.stages[0]!;
    assert.equal(envStagePlan(staging, { name: 'pr-7', env: {} }).env.PAYMENTS_URL, 'http://staging.payments.localhost:7080');
    assert.equal(envStagePlan(staging, { name: 'pr-7', env: { PAYMENTS_URL: 'http://pr-3.payments.localhost:7080' } }).env.PAYMENTS_URL, 'http://pr-3.payments.localhost:7080');
  });
});
