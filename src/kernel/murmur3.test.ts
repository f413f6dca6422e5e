import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bucketOf, bucketOfHash, murmur3, murmur3After, murmur3Prefix } from './murmur3.js';

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

it('a key with ASCII before other characters hashes as its UTF-8 bytes', () => {
  // Figures from hashing each whole string's UTF-8 encoding.
  assert.equal(murmur3('abcπ'), 0xc5973096);
  assert.equal(murmur3('flag.ü.x', 0x9747b28c), 0x1d104e31);
  assert.equal(murmur3('new-checkout-😀'), 0xa10c1aa5);
});

it('buckets are uniform enough and stable', () => {
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20_000; i++) counts[bucketOf(`user-${i}`, 10)]++;
  for (const c of counts) assert.ok(c > 1800 && c < 2200, `bucket sizes ${counts}`);
  assert.equal(bucketOf('user-42'), bucketOf('user-42'));
});

it('hashing after a precomputed prefix equals hashing the whole string', () => {
  const prefixes = ['', 'a', 'ab', 'abc', 'abcd', 'new-checkout', 'π', 'flag.ü.x'];
  const suffixes = ['', 'x', 'user-42', 'ümlaut', 'emoji-😀-tail', '1234567'];
  for (const p of prefixes) {
    const state = murmur3Prefix(p);
    for (const s of suffixes) assert.equal(murmur3After(state, s), murmur3(p + s), `${p} + ${s}`);
  }
});

it('bucketOfHash is exact (hash × total) >> 32 for large totals too', () => {
  for (const hash of [0, 1, 0xffffffff, 0x80000000, 0x12345678, 0xdeadbeef]) {
    for (const total of [1, 100, 0x1fffff, 0x200000, 1_000_003, 2147483647]) {
      const exact = Number((BigInt(hash) * BigInt(total)) >> 32n);
      assert.equal(bucketOfHash(hash, total), exact, `${hash} × ${total}`);
    }
  }
  assert.equal(bucketOfHash(murmur3('user-7'), 100), bucketOf('user-7'));
});
