import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatPromDuration, literalRanges, promDurationMs } from './promql-ranges.js';

it('reads PromQL durations, and nothing else', () => {
  assert.equal(promDurationMs('1s'), 1000);
  assert.equal(promDurationMs('500ms'), 500);
  assert.equal(promDurationMs('1m30s'), 90_000);
  assert.equal(promDurationMs('2h'), 7_200_000);
  assert.equal(promDurationMs('1w'), 7 * 86_400_000);
  for (const other of ['{{window}}', '5m:1m', '', '1.5s', 's', '5 m']) assert.equal(promDurationMs(other), undefined, other);
});

it('finds the literal range each two-sample function takes', () => {
  const q = 'sum(rate(a{stage="x"}[1s])) / sum(increase(b[2m])) + irate(c [30s]) + deriv(d[5m])';
  assert.deepEqual(
    literalRanges(q).map((r) => [r.fn, r.text, r.ms]),
    [['rate', '1s', 1000], ['increase', '2m', 120_000], ['irate', '30s', 30_000], ['deriv', '5m', 300_000]],
  );
});

it('leaves out {{window}}, subqueries, one-sample functions and brackets inside label values', () => {
  assert.deepEqual(literalRanges('sum(rate(x{v="{{version}}"}[{{window}}]))'), []);
  assert.deepEqual(literalRanges('max_over_time(x[1s]) + avg_over_time(y[1s])'), []);
  assert.deepEqual(literalRanges('rate(sum by (v) (x)[5m:1m])'), [], 'a subquery');
  assert.deepEqual(literalRanges('rate(x{path=~"/a[0-9]", q="(\\")"}[2s])').map((r) => r.text), ['2s']);
  assert.deepEqual(literalRanges('rate(x)'), [], 'no range at all: Prometheus reports that itself');
  assert.deepEqual(literalRanges('increase(x[1s]').map((r) => r.text), ['1s'], 'unbalanced: the range is still found');
  assert.deepEqual(literalRanges('myrate(x[1s])'), [], 'only whole function names');
});

it('writes durations as PromQL does', () => {
  assert.deepEqual([1000, 4000, 60_000, 90_000, 1500, 300_000].map(formatPromDuration), ['1s', '4s', '1m', '90s', '1500ms', '5m']);
});
