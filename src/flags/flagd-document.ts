/**
 * TEMPORARY (branch flags-control): the flags-core branch owns this file; this stand-in has its signatures so the
 * control plane builds and its tests run until that lands, and is replaced by it at the merge.
 */
import type { FlagDefinition, FlagdDocument, FlagdFlag, FlagType, StageFlags } from './flag-model.js';

/** A stage's flag set in flagd's format: each declared flag with its config in the stage, and the stage's segments as `$evaluators`. */
export function toFlagdDocument(defs: FlagDefinition[], stage: StageFlags): FlagdDocument {
  const flags: Record<string, FlagdFlag> = {};
  for (const d of defs) {
    const c = stage.flags[d.key];
    if (!c) continue;
    flags[d.key] = { state: c.state, variants: d.variants, defaultVariant: c.defaultVariant };
    if (c.targeting !== undefined) flags[d.key]!.targeting = c.targeting;
  }
  return { flags, ...(Object.keys(stage.segments).length > 0 ? { $evaluators: stage.segments } : {}) };
}

/** A flagd flag set read back: declarations (their type from the variants' values) and the stage's config. */
export function fromFlagdDocument(doc: FlagdDocument): { defs: FlagDefinition[]; stage: StageFlags } {
  const defs: FlagDefinition[] = [];
  const stage: StageFlags = { flags: {}, segments: { ...(doc.$evaluators ?? {}) } };
  for (const [key, f] of Object.entries(doc.flags)) {
    const first = Object.values(f.variants)[0];
    const type: FlagType = typeof first === 'boolean' || typeof first === 'string' || typeof first === 'number' ? typeof first as FlagType : 'object';
    defs.push({ key, type, variants: f.variants, description: '', owner: '' });
    stage.flags[key] = { state: f.state, defaultVariant: f.defaultVariant ?? Object.keys(f.variants)[0] ?? '', ...(f.targeting !== undefined ? { targeting: f.targeting } : {}) };
  }
  return { defs, stage };
}
