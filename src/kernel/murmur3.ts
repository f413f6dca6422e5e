/**
 * MurmurHash3, x86 32-bit, over the UTF-8 bytes of a string. The same hash flagd's `fractional` uses, so traffic
 * splits and flag rollouts put one user in the same bucket.
 */
const encoder = new TextEncoder();

export function murmur3(key: string, seed = 0): number {
  const bytes = encoder.encode(key);
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = bytes.length - (bytes.length % 4);
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = bytes[blocks]!;
    if (rest >= 2) k ^= bytes[blocks + 1]! << 8;
    if (rest === 3) k ^= bytes[blocks + 2]! << 16;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The bucket (0 … total − 1) of a key: (hash × total) >> 32, as flagd's fractional computes it. */
export function bucketOf(key: string, total = 100): number {
  return Math.floor((murmur3(key) * total) / 2 ** 32);
}
