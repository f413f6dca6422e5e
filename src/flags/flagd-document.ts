/**
 * Between Sluice's flags (definitions shared by every stage, plus one stage's configuration and segments) and the
 * flagd flag set that stage serves. `sluice flags export --stage` writes `toFlagdDocument`'s result; `sluice flags
 * import --stage` reads a flagd user's file with `fromFlagdDocument`.
 */
import { SluiceError } from '../kernel/errors.js';
import { compileFlagSet } from './flag-compiler.js';
import { VARIANT_KEY_METADATA } from './ports/variant-metrics.js';
import type { FlagDefinition, FlagdDocument, FlagdFlag, FlagType, FlagValue, StageFlag, StageFlags } from './flag-model.js';

/** The flagd schema a document names, so editors validate it. */
export const FLAGD_SCHEMA = 'https://flagd.dev/schema/v0/flags.json';

/**
 * One stage's flag set in flagd's format. Each definition gives one flag: its stage configuration (state, default
 * variant, targeting), its variants, and description, owner and type as flag metadata; the stage's segments become
 * `$evaluators`. A flag the stage has not configured yet is served DISABLED with its first variant as default.
 * Stage entries with no definition are left out: definitions say which flags exist.
 */
export function toFlagdDocument(defs: FlagDefinition[], stage: StageFlags): FlagdDocument {
  const flags: Record<string, FlagdFlag> = {};
  for (const def of defs) {
    const config: StageFlag | undefined = stage.flags[def.key];
    const flag: FlagdFlag = {
      state: config?.state ?? 'DISABLED',
      variants: def.variants,
      defaultVariant: config?.defaultVariant ?? Object.keys(def.variants)[0] ?? null,
      metadata: { description: def.description, owner: def.owner, type: def.type },
    };
    if (config?.targeting !== undefined) flag.targeting = config.targeting;
    // The router counts requests per variant for a flag that names where it finds the targeting key (ADR 23).
    if (config?.ramp?.plan.variantKey !== undefined) flag.metadata = { ...flag.metadata, [VARIANT_KEY_METADATA]: config.ramp.plan.variantKey };
    flags[def.key] = flag;
  }
  const doc: FlagdDocument = { $schema: FLAGD_SCHEMA, flags };
  if (Object.keys(stage.segments).length > 0) doc.$evaluators = stage.segments;
  return doc;
}

function typeOf(value: FlagValue): FlagType {
  const t = typeof value;
  return t === 'boolean' || t === 'string' || t === 'number' ? t : 'object';
}

/**
 * Reads a flagd flag set (a flagd user's file) as Sluice definitions and one stage's configuration. The document is
 * validated first, as a save would: any problem refuses it whole (BAD_REQUEST, every problem in `details.problems`).
 * Types come from the variants; description and owner from flag metadata when present. Other metadata is not kept.
 */
export function fromFlagdDocument(doc: unknown): { defs: FlagDefinition[]; stage: StageFlags } {
  const compiled = compileFlagSet(doc);
  if (!compiled.ok) {
    const shown = compiled.problems.slice(0, 5).map((p) => `${p.path || '/'}: ${p.message}`).join('; ');
    throw new SluiceError('BAD_REQUEST', `the flagd document has ${compiled.problems.length} problem(s): ${shown}`, { problems: compiled.problems });
  }
  const source = doc as FlagdDocument;
  const missingDefault = Object.entries(source.flags).filter(([, f]) => f.defaultVariant === undefined || f.defaultVariant === null || f.defaultVariant === '');
  if (missingDefault.length > 0) {
    const problems = missingDefault.map(([key]) => ({
      path: `/flags/${key}/defaultVariant`,
      message: 'a Sluice flag always has a default variant: name one of the variants (flagd answers with the app\'s default when there is none)',
    }));
    throw new SluiceError('BAD_REQUEST', `${problems.length} flag(s) have no default variant: ${missingDefault.map(([k]) => k).join(', ')}`, { problems });
  }
  const defs: FlagDefinition[] = [];
  const flags: Record<string, StageFlag> = {};
  for (const [key, flag] of Object.entries(source.flags)) {
    const first = Object.values(flag.variants)[0]!;
    const meta = flag.metadata ?? {};
    defs.push({
      key,
      type: typeOf(first),
      variants: flag.variants,
      description: typeof meta.description === 'string' ? meta.description : '',
      owner: typeof meta.owner === 'string' ? meta.owner : '',
    });
    const config: StageFlag = { state: flag.state, defaultVariant: flag.defaultVariant as string };
    if (flag.targeting !== undefined && flag.targeting !== null) config.targeting = flag.targeting;
    flags[key] = config;
  }
  return { defs, stage: { flags, segments: { ...(source.$evaluators ?? {}) } } };
}
