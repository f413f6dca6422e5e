import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** The digests of the releases unpacked for the stage now, sorted. */
  unpacked(): Promise<string[]>;
  /** A fresh step directory and log. */
  io(): StepIO;
  close(): Promise<void>;
}

/**
 * The contract every Target passes: deploy, idempotency by key, health, a failing deploy that leaves the previous
 * release serving, rollback, pruning unpacked releases, and forgetting a stage. A new target runs it in a few lines: `targetContract('mine', async () => harness)`.
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

    it('prunes the unpacked releases it is not told to keep but not recent ones, and unpacks a pruned release again when needed', async () => {
      const keep = (...releases: ReleaseRef[]) => new Map([[h.stage.name, new Set(releases.map((r) => r.digest))]]);
      await h.target.deploy({ stage: h.stage, key: 'p1', io: h.io(), release: a });
      await h.target.deploy({ stage: h.stage, key: 'p2', io: h.io(), release: b });
      const later = Date.now() + 60_000;
      const first = await h.target.pruneReleases(keep(b), later);
      assert.ok(first.removed.some((r) => r.stage === h.stage.name && r.digest === a.digest), JSON.stringify(first));
      assert.deepEqual(await h.unpacked(), [b.digest]);
      assert.equal(await h.served(), b.version, 'pruning changed nothing that serves');

      await sleep(100);
      // File times are coarser than Date.now(): a little slack keeps "used after" true for what is used from here on.
      const cut = Date.now() - 50;
      await h.target.deploy({ stage: h.stage, key: 'p3', io: h.io(), release: a });
      const second = await h.target.pruneReleases(keep(), cut);
      assert.deepEqual(second.removed.map((r) => r.digest), [b.digest], 'b was last used before the cut; a after it');
      assert.deepEqual(await h.unpacked(), [a.digest]);

      await h.target.rollback({ stage: h.stage, key: 'p4', io: h.io(), from: a, to: b });
      assert.equal(await h.served(), b.version, 'b was unpacked again from its artifact');
      assert.deepEqual(await h.unpacked(), [a.digest, b.digest].sort());
    });

    it('forgets a stage taken down: its unpacked releases go, and a deploy later starts afresh', async () => {
      await h.target.rollback({ stage: h.stage, key: 'f1', io: h.io(), from: b, to: null });
      await h.target.forgetStage(h.stage.name);
      assert.deepEqual(await h.unpacked(), []);
      assert.equal(await h.served(), null);
      await h.target.deploy({ stage: h.stage, key: 'f2', io: h.io(), release: a });
      assert.equal(await h.served(), a.version);
    });
  });
}
