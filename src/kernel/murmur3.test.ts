import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bucketOf, murmur3 } from './murmur3.js';

it('murmur3 x86_32 matches the reference vectors', () => {
  assert.equal(murmur3(''), 0);
  assert.equal(murmur3('', 1), 0x514e28b7);
  assert.equal(murmur3('', 0xffffffff), 0x81f16f39);
  assert.equal(murmur3('test'), 0xba6bd213);
  assert.equal(murmur3('Hello, world!'), 0xc0363e43);
  assert.equal(murmur3('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
  assert.equal(murmur3('\u0000\u0000\u0000\u0000'), 0x2362f9de);
  assert.equal(murmur3('aaa', 0x9747b28c), 0x283e0130);
  assert.equal(murmur3('a', 0x9747b28c), 0x7fa09ea6);
  assert.equal(murmur3('ππππππππ', 0x9747b28c), 0xd58063c1);
});

it('buckets are uniform enough and stable', () => {
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20_000; i++) counts[bucketOf(`user-${i}`, 10)]++;
  for (const c of counts) assert.ok(c > 1800 && c < 2200, `bucket sizes ${counts}`);
  assert.equal(bucketOf('user-42'), bucketOf('user-42'));
});
