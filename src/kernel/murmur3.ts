/**
 * MurmurHash3, x86 32-bit, over the UTF-8 bytes of a string. The same hash flagd's `fractional` uses, so traffic
 * splits and flag rollouts put one user in the same bucket.
 */
const encoder = new TextEncoder();

/** The bucket (0 … total − 1) of a key: (hash × total) >> 32, as flagd's fractional computes it. */
export function bucketOf(key: string, total = 100): number {
  return Math.floor((murmur3(key) * total) / 2 ** 32);
}

/**
 * The state of MurmurHash3 (x86 32-bit, seed 0) after a fixed prefix, so a value that always starts with it (flagd's
 * `fractional` hashes the flag key followed by the targeting key) is hashed without re-reading the prefix.
 */
export interface Murmur3Prefix {
  /** The hash state after the prefix's whole 4-byte blocks. */
  readonly h: number;
  /** The prefix's last 0–3 bytes, little-endian, not yet mixed. */
  readonly tail: number;
  /** How many bytes `tail` holds. */
  readonly tailBytes: number;
  /** The prefix's length in UTF-8 bytes. */
  readonly length: number;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, tail: number, tailBytes: number, length: number): number {
  if (tailBytes > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

type State = { h: number; tail: number; tailBytes: number; length: number };

/** Feeds UTF-8 bytes into a running state (updated in place). */
function feedBytes(bytes: Uint8Array, state: State): void {
  let { h, tail, tailBytes } = state;
  for (let i = 0; i < bytes.length; i++) {
    tail |= bytes[i]! << (8 * tailBytes);
    if (++tailBytes === 4) {
      h = mixBlock(h, tail);
      tail = 0;
      tailBytes = 0;
    }
  }
  state.h = h;
  state.tail = tail;
  state.tailBytes = tailBytes;
  state.length += bytes.length;
}

/** MurmurHash3, x86 32-bit, of the UTF-8 bytes of `key`. */
export function murmur3(key: string, seed = 0): number {
  const state = { h: seed >>> 0, tail: 0, tailBytes: 0, length: 0 };
  feedString(key, state);
  return finish(state.h, state.tail, state.tailBytes, state.length);
}

/** The state after hashing `prefix` (its UTF-8 bytes), for `murmur3After`. */
export function murmur3Prefix(prefix: string): Murmur3Prefix {
  const state = { h: 0, tail: 0, tailBytes: 0, length: 0 };
  feedString(prefix, state);
  return state;
}

/**
 * Feeds the UTF-8 bytes of a string into a running state. Keys are mostly ASCII, whose char codes are their bytes:
 * those are read straight from the string, as encoding would allocate a buffer per key (a flag set hashes every key
 * it compiles). The rest, from the first other character, is UTF-8 encoded.
 */
function feedString(s: string, state: State): void {
  let { h, tail, tailBytes } = state;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      state.h = h;
      state.tail = tail;
      state.tailBytes = tailBytes;
      state.length += i;
      feedBytes(encoder.encode(s.slice(i)), state);
      return;
    }
    tail |= c << (8 * tailBytes);
    if (++tailBytes === 4) {
      h = mixBlock(h, tail);
      tail = 0;
      tailBytes = 0;
    }
  }
  state.h = h;
  state.tail = tail;
  state.tailBytes = tailBytes;
  state.length += n;
}

/**
 * MurmurHash3 (x86 32-bit, seed 0) of `prefix + suffix`, the same as `murmur3(prefixString + suffix)`.
 * An ASCII suffix is read straight from the string (no encoding, no allocation); anything else is UTF-8 encoded first.
 */
export function murmur3After(prefix: Murmur3Prefix, suffix: string): number {
  let h = prefix.h;
  let tail = prefix.tail;
  let tailBytes = prefix.tailBytes;
  const n = suffix.length;
  for (let i = 0; i < n; i++) {
    const c = suffix.charCodeAt(i);
    if (c >= 0x80) {
      const state = { h, tail, tailBytes, length: prefix.length + i };
      feedBytes(encoder.encode(suffix.slice(i)), state);
      return finish(state.h, state.tail, state.tailBytes, state.length);
    }
    tail |= c << (8 * tailBytes);
    if (++tailBytes === 4) {
      h = mixBlock(h, tail);
      tail = 0;
      tailBytes = 0;
    }
  }
  return finish(h, tail, tailBytes, prefix.length + n);
}

/**
 * The bucket (0 … total − 1) of a 32-bit hash: exactly `(hash × total) >> 32` for any total up to 2³¹ − 1, as flagd
 * computes it in 64-bit integers (a plain double product loses bits past 2⁵³).
 */
export function bucketOfHash(hash: number, total: number): number {
  if (total <= 0x1fffff) return Math.floor((hash * total) / 4294967296);
  const hi = Math.floor(hash / 65536) * total;
  const lo = (hash & 0xffff) * total;
  return Math.floor((hi + Math.floor(lo / 65536)) / 65536);
}
