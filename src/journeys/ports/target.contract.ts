import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ReleaseRef, StagePlan, StepIO, Target } from './target.js';

/** What the target contract needs around a target. */
export interface TargetHarness {
  target: Target;
  /** A stage of this target's kind whose workload serves its release's version. */
  stage: StagePlan;
  /** A release of that workload; `broken`: one that refuses to start. */
  release(version: string, broken?: boolean): Promise<ReleaseRef>;
  /** What the stage serves now, as a user of it would see (null: nothing). */
  served(): Promise<string | null>;
  /** How many times the workload of `version` was started (a process, or a deploy command run). */
  starts(version: string): Promise<number>;
  /** A fresh step directory and log. */
  io(): StepIO;
  close(): Promise<void>;
}

/**
 * The contract every Target passes: deploy, idempotency by key, health, a failing deploy that leaves the previous
 * release serving, and rollback. A new target runs it in a few lines: `targetContract('mine', async () => harness)`.
 */
export function targetContract(name: string, make: () => Promise<TargetHarness>) {
  describe(`target contract: ${name}`, { timeout: 60_000 }, () => {
    let h: TargetHarness;
    let a: ReleaseRef;
    let b: ReleaseRef;
    let broken: ReleaseRef;
    before(async () => {
      h = await make();
      a = await h.release(`${name}-a`);
      b = await h.release(`${name}-b`);
      broken = await h.release(`${name}-broken`, true);
    });
    after(() => h.close());

    it('deploys, and deploying the same key again starts nothing more', async () => {
      await h.target.deploy({ stage: h.stage, key: 'k1', io: h.io(), release: a });
      assert.equal(await h.served(), a.version);
      const started = await h.starts(a.version);
      assert.ok(started >= 1, 'the workload was started');
      assert.equal((await h.target.health({ stage: h.stage, key: 'h1', io: h.io(), release: a })).ok, true);
      await h.target.deploy({ stage: h.stage, key: 'k1', io: h.io(), release: a });
      assert.equal(await h.served(), a.version);
      assert.equal(await h.starts(a.version), started, 'the same key again started nothing');
    });

    it('moves to a new release and reports health for it, and not for the old one', async () => {
      await h.target.deploy({ stage: h.stage, key: 'k2', io: h.io(), release: b });
      assert.equal(await h.served(), b.version);
      assert.equal((await h.target.health({ stage: h.stage, key: 'h2', io: h.io(), release: b })).ok, true);
    });

    it('a failing deploy throws with the output, and the previous release keeps serving', async () => {
      await assert.rejects(h.target.deploy({ stage: h.stage, key: 'k3', io: h.io(), release: broken }), /refusing to start|exited with|exit/);
      assert.equal(await h.served(), b.version);
    });

    it('rolls back to the previous release, and to nothing', async () => {
      await h.target.rollback({ stage: h.stage, key: 'r1', io: h.io(), from: b, to: a });
      assert.equal(await h.served(), a.version);
      await h.target.rollback({ stage: h.stage, key: 'r2', io: h.io(), from: a, to: null });
      assert.equal(await h.served(), null);
    });
  });
}
