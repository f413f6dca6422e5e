import assert from 'node:assert/strict';
import { it } from 'node:test';
import { boundedDuration, durationSchema, formatDuration, parseDuration } from './duration.js';

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

it('the schema takes exactly what the parser reads', () => {
  for (const ok of ['500ms', '30s', '5m', '1h30m', '2d', ' 10 ', '1.5s', 90]) {
    assert.equal(durationSchema.safeParse(ok).success, true, String(ok));
    assert.doesNotThrow(() => parseDuration(ok));
  }
  for (const bad of ['1m30', '5x', 'soon', '', '-1', -1, '31d', 'ms']) {
    const r = durationSchema.safeParse(bad);
    assert.equal(r.success, false, String(bad));
  }
  assert.match(durationSchema.safeParse('1m30').error!.issues[0]!.message, /not a duration.*bare number of seconds/);
});

it('a bounded duration refuses values outside its bounds with their own message', () => {
  const schema = boundedDuration({ ms: 1000, message: 'at least 1s' }, { ms: 300_000, message: 'at most 5m' });
  for (const ok of ['1s', '15s', '5m', 1]) assert.equal(schema.safeParse(ok).success, true, String(ok));
  const messages = (v: unknown) => {
    const r = schema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => i.message);
  };
  assert.deepEqual(messages('0s'), ['at least 1s']);
  assert.deepEqual(messages('500ms'), ['at least 1s']);
  assert.deepEqual(messages(0), ['at least 1s']);
  assert.deepEqual(messages('6m'), ['at most 5m']);
  assert.deepEqual(messages('40d'), ['longer than 30 days'], 'one message for one mistake');
  assert.equal(messages('soon').length, 1, 'the grammar speaks alone');
  assert.deepEqual(boundedDuration({ ms: 1000, message: 'at least 1s' }).safeParse('29d').success, true);
});
