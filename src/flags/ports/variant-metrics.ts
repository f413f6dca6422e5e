/**
 * How a flag's variants get measured, so that a guarded ramp can judge users with the treatment against users without
 * it. The data plane keeps per-second counters (requests, errors, latency) per stage, flag and variant, fed by either
 * of two sources, and answers them through the same `series` it answers a version's counters with.
 *
 * - The router: a flag whose stage configuration carries `metadata[VARIANT_KEY_METADATA]` (`header:<name>` or
 *   `cookie:<name>`) is evaluated for every request to the stage's route that carries that header or cookie, with the
 *   context `{ targetingKey: <its value> }`: the same bucketing the app gets when it sends that value as its targeting
 *   key. The request's status and latency count for the variant. No app change.
 * - The provider: Sluice's OpenFeature provider counts evaluations and errors per variant (a hook) and reports them to
 *   the data plane (`POST /flags/v1/report` on the flags port, with the stage's key); evaluations count as requests.
 */

/** The flag metadata naming where the router finds a request's targeting key: `header:x-user-id` or `cookie:uid`. */
export const VARIANT_KEY_METADATA = 'sluice.variantKey';

/** Where the router reads a request's targeting key from. */
export type VariantKeySource = { kind: 'header' | 'cookie'; name: string };

/** `header:x-user-id` / `cookie:uid` → the source; anything else → undefined. Header names are lower-cased. */
export function parseVariantKey(text: unknown): VariantKeySource | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(header|cookie):([!#$%&'*+.^_`|~0-9A-Za-z-]{1,128})$/.exec(text);
  if (!m) return undefined;
  return m[1] === 'header' ? { kind: 'header', name: m[2]!.toLowerCase() } : { kind: 'cookie', name: m[2]! };
}

/**
 * The name under which a flag variant's counters are asked for, in place of a version (`TrafficRouter.series(stage,
 * variantSeries(flag, variant), …)` and the metrics providers' `version`). Versions never contain `:`, so the two
 * never meet.
 */
export const variantSeries = (flag: string, variant: string) => `flag:${flag}:${variant}`;

/** The inverse of `variantSeries`, or undefined for a version. */
export function parseVariantSeries(version: string): { flag: string; variant: string } | undefined {
  if (!version.startsWith('flag:')) return undefined;
  const rest = version.slice(5);
  const i = rest.indexOf(':');
  return i > 0 ? { flag: rest.slice(0, i), variant: rest.slice(i + 1) } : undefined;
}
