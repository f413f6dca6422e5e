import assert from 'node:assert/strict';
import { compileFlagSet } from '../../src/flags/flag-compiler.js';
import type { EvaluationContext } from '../../src/flags/flag-model.js';
import type { EvaluationCount, FlagServing, PublishedFlagSet } from '../../src/flags/ports/flag-serving.js';

/** The data plane, as the flags context's unit tests see it: what was published to each stage, in order. */
export class FakeServing implements FlagServing {
  sets = new Map<string, PublishedFlagSet>();
  log: string[] = [];
  async publish(stage: string, set: PublishedFlagSet) {
    this.sets.set(stage, structuredClone(set));
    this.log.push(`${stage}@${set.revision}`);
  }
  async unpublish(stage: string) {
    this.sets.delete(stage);
  }
  async revisions() {
    return Object.fromEntries([...this.sets].map(([s, x]) => [s, x.revision]));
  }
  async takeCounts(): Promise<EvaluationCount[]> {
    return [];
  }
  /** What an app in `stage` gets for the boolean flag `key` with `context`. */
  value(stage: string, key: string, context: EvaluationContext = {}): boolean {
    const r = compileFlagSet(this.sets.get(stage)!.doc);
    assert.ok(r.ok);
    return r.set.evaluate<boolean>(key, 'boolean', false, context).value;
  }
  /** The share of 2000 users the stage serves `true`. */
  share(stage: string, key: string): number {
    let on = 0;
    for (let i = 0; i < 2000; i++) if (this.value(stage, key, { targetingKey: `u${i}` })) on++;
    return on / 2000;
  }
}
