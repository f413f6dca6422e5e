import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isSluiceError } from '../../kernel/errors.js';
import { judgeJsonText } from '../../rollout/ports/judge-runner.js';
import { WorkerJudge } from './worker-judge.js';

/** Six pairs of series of 4,000 distinct values: tens of seconds of pairwise estimates. */
const heavy = JSON.stringify({
  metrics: Array.from({ length: 6 }, (_, m) => ({
    name: `m${m}`,
    canary: Array.from({ length: 4000 }, (_, i) => ((i * 7919) % 1000) + i / 4001),
    baseline: Array.from({ length: 4000 }, (_, i) => ((i * 104729) % 1000) + i / 3989),
  })),
});
const small = JSON.stringify({ metrics: [{ name: 'latency', canary: [10, 11, 12, 13, 30, 31], baseline: [10, 11, 12, 13, 12, 11] }] });

const code = (e: unknown) => (isSluiceError(e) ? e.code : String(e));

describe('the judge on a worker thread', { timeout: 120_000 }, () => {
  const judges: WorkerJudge[] = [];
  const make = (maxValues: number, timeoutMs: number, maxWaiting?: number, heapMb?: number) => {
    const j = new WorkerJudge({ maxValues, timeoutMs }, maxWaiting, heapMb);
    judges.push(j);
    return j;
  };
  after(async () => {
    for (const j of judges) await j.close();
  });

  it('answers what the judge answers on this thread', async () => {
    const j = make(1000, 60_000);
    assert.deepEqual(await j.judge(small, 'request body'), judgeJsonText(small, 'request body', 1000));
  });

  it('refuses more values than the cap with TOO_LARGE, and bad text or JSON with BAD_REQUEST', async () => {
    const j = make(5, 60_000);
    await assert.rejects(j.judge(small, 'request body'), (e) => code(e) === 'TOO_LARGE' && /has 12 values; the judge takes at most 5/.test((e as Error).message));
    await assert.rejects(j.judge('{"metrics": [', 'request body'), (e) => code(e) === 'BAD_REQUEST' && /request body is not JSON/.test((e as Error).message));
    await assert.rejects(j.judge(JSON.stringify({ thresholds: [{ name: 'a\u0000', measurements: [1] }] }), 'request body'), (e) => code(e) === 'BAD_REQUEST' && /thresholds\[0\]\.name has a NUL/.test((e as Error).message));
  });

  it('past its time budget a request is refused with TOO_LARGE, and the next one is judged on a new thread', async () => {
    const j = make(1_000_000, 200);
    const order: string[] = [];
    const slow = j.judge(heavy, 'the heavy request').then(
      () => order.push('heavy answered'),
      (e: unknown) => {
        order.push(`heavy ${code(e)}`);
        assert.match((e as Error).message, /the heavy request took longer than the judge's time budget of 200 ms \(setting judgeTimeoutMs\)/);
      },
    );
    const next = j.judge(small, 'the next request').then((r) => order.push(`next ${r.outcome}`));
    await Promise.all([slow, next]);
    assert.deepEqual(order, ['heavy TOO_LARGE', `next ${judgeJsonText(small, 'x', 1000).outcome}`]);
  });

  it('a request that needs more memory than the thread has is refused with TOO_LARGE, and the next one is judged on a new thread', async () => {
    const j = make(10_000_000, 60_000, undefined, 16);
    const series = (k: number) => Array.from({ length: 1_000_000 }, (_, i) => (i * k) % 997);
    const huge = JSON.stringify({ metrics: [{ name: 'm', canary: series(7), baseline: series(13) }] });
    await assert.rejects(j.judge(huge, 'the huge request'), (e) => code(e) === 'TOO_LARGE' && /the huge request needs more memory than the judge's thread has \(16 MB, setting judgeHeapMb\)/.test((e as Error).message));
    assert.equal((await j.judge(small, 'the next request')).outcome, judgeJsonText(small, 'x', 1000).outcome);
  });

  it('with as many requests waiting as it allows, one more is BUSY', async () => {
    // Both wait while the thread loads.
    const j = make(1_000_000, 60_000, 2);
    const first = j.judge(small, 'first');
    const second = j.judge(small, 'second');
    await assert.rejects(j.judge(small, 'third'), (e) => code(e) === 'BUSY');
    const expected = judgeJsonText(small, 'x', 1000).outcome;
    assert.equal((await first).outcome, expected);
    assert.equal((await second).outcome, expected);
  });

  it('closing answers what waits, and refuses what comes', async () => {
    const j = make(1_000_000, 60_000);
    const waiting = assert.rejects(j.judge(heavy, 'waiting'), (e) => code(e) === 'BUSY');
    await j.close();
    await waiting;
    await assert.rejects(j.judge(small, 'late'), (e) => code(e) === 'BUSY');
  });
});
