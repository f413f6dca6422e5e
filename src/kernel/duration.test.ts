import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatDuration, parseDuration } from './duration.js';

it('parses and formats durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(2), 2000);
  assert.equal(parseDuration('10'), 10_000);
  assert.throws(() => parseDuration('soon'), /invalid duration/);
  assert.throws(() => parseDuration('5x'), /invalid duration/);
  assert.throws(() => parseDuration(''), /invalid duration/);
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(12_345), '12.3s');
  assert.equal(formatDuration(245_000), '4m05s');
  assert.equal(formatDuration(3_720_000), '1h02m');
});
