import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { type Actor, mayCall, type Role } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import { SluiceError } from '../kernel/errors.js';
import { closest } from '../kernel/suggest.js';
import { canonicalJson } from '../audit/audit-record.js';
import { compileFlagSet } from './flag-compiler.js';
import { FLAG_KEY, FLAG_LIMITS, type FlagDefinition, type FlagdDocument, type FlagProblem, type FlagType, type StageFlag, type StageFlags } from './flag-model.js';
import { fromFlagdDocument, toFlagdDocument } from './flagd-document.js';
import { parseFlagsFile } from './flags-file.js';
import {
  checkRampPlan,
  decideRamp,
  type FlagRamp,
  rampDueAt,
  type RampEventType,
  type RampInput,
  rampMayOwn,
  rampMeasurement,
  type RampPlan,
  type RampPlanInput,
  type RampRun,
  rampTargeting,
} from './flag-ramp.js';
import type { FlagServing } from './ports/flag-serving.js';
import type {
  AuditDraft,
  EvaluationCountInput,
  FlagChange,
  FlagDefinitionRecord,
  FlagEvent,
  FlagEventDraft,
  FlagSnapshot,
  FlagStore,
  StageChange,
  StageFlagRecord,
} from './ports/flag-store.js';

/** Who changes flags, why, and the release or journey the change relates to. */
export interface ChangeMeta {
  actor: Actor;
  /** Why, in the actor's words ('' when none was given). */
  reason: string;
  release?: string;
  journey?: string;
}

/** A flag's declaration as given to `define` (and, in part, to `update`). */
export type FlagInput = FlagDefinition;

/** What `set` changes of a flag in one stage; `targeting: null` removes the targeting. */
export interface StageFlagPatch {
  state?: 'ENABLED' | 'DISABLED';
  defaultVariant?: string;
  targeting?: unknown;
}

/** The flags file, read (see flags-file.ts): declarations, and per stage the flags' config and segments. */
export interface FlagsFileContent {
  defs: FlagDefinition[];
  /** Stage -> flag -> config. */
  stages: Record<string, Record<string, StageFlag>>;
  /** Stage -> segment -> rule. */
  segments: Record<string, Record<string, unknown>>;
  /** Locates a problem of a stage's compiled set (a JSON pointer into it) in the file, when it came from there. */
  locate?: (stage: string, pointer: string) => string | undefined;
}

/** What applying the flags file did. */
export interface ApplyReport {
  /** `flag` or `stage/flag` or `stage/segment:name`, for each entry the file changed. */
  changed: string[];
  /** Entries the file holds as it held them when last applied: left as they are at run time. */
  unchanged: number;
  revisions: Record<string, number>;
}

/** A flag in one stage, as `list` and `show` give it. */
export interface FlagStageView extends StageFlag {
  /** Whether the stage has a config for it; without one it is off, serving its first variant. */
  configured: boolean;
  changedAt: number;
  /** Set from the flags file and unchanged since. */
  fromFile: boolean;
  /** The last evaluation the data plane counted; null: never. */
  lastEvaluatedAt: number | null;
  /** Evaluations per variant (errors under `(error)`). */
  evaluations: Record<string, number>;
  /** The ramp's measurement (router by header or cookie, or the provider's reports) and its next judgement, when it has a ramp. */
  rampInfo?: { measurement: string; nextJudgementAt: number | null };
}

/** A ramp as the runner and `sluice flags ramp status` see it. */
export interface RampView {
  stage: string;
  flag: string;
  plan: RampPlan;
  run?: RampRun;
  /** The stage's revision it was read at: a judgement is written only if the stage is still there (one replica advances a ramp). */
  revision: number;
  measurement: string;
  nextJudgementAt: number | null;
}

/** What a ramp's judgement found, as the runner gives it to `rampJudged`. */
export type RampJudgement = Extract<RampInput, { kind: 'verdict' }>['verdict'] & { figures?: unknown };

/** What a ramp change did: the stage's new revision, the ramp afterwards, and whether people should hear of it. */
export interface RampChangeResult {
  revisions: Record<string, number>;
  ramp: RampView;
  notify: boolean;
}

export interface FlagView extends FlagDefinition {
  changedAt: number;
  stages: Record<string, FlagStageView>;
}

/** Why a flag is on the stale report. */
export type StaleReason = 'fully-on' | 'untouched' | 'never-evaluated';

export interface StaleFlag {
  key: string;
  owner: string;
  reasons: StaleReason[];
  /** The last change of the flag in any stage (or of its declaration). */
  lastChangedAt: number;
  /** Per stage, the last evaluation; null: never. */
  lastEvaluatedAt: Record<string, number | null>;
}

/** A read key as listed: never the key itself. */
export interface FlagKeyView {
  id: string;
  stage: string;
  name: string;
  createdAt: number;
  revokedAt?: number;
}

export interface FlagServiceOptions {
  store: FlagStore;
  /**
   * The data plane's flag serving; undefined while none is wired: changes are kept, and `publishAll` sends them once
   * one is.
   */
  serving: FlagServing | undefined;
  clock: Clock;
  /** The pipeline's stages, now. */
  stages: () => string[];
  /**
   * The roles (besides admin) that may change a stage's flags: those that may deploy to it (its protection's
   * `promote`, else deployers). See ADR 20.
   */
  changeRoles: (stage: string) => readonly Role[];
  /** A publish that failed after the change was saved (the data plane gets it at the next change or start). */
  onError?: (e: unknown) => void;
  /** The key a stage's own instances and commands read its flags with (`SLUICE_FLAGS_KEY`); published with its read keys. */
  workloadKey?: (stage: string) => Promise<string>;
  /** Told of each saved change (the dashboard's event stream carries it, so open flag views refresh). */
  changed?: (c: FlagsChanged) => void;
}

/** What a saved change touched: the stages whose revision it raised and the flags its events name. */
export interface FlagsChanged {
  stages: string[];
  flags: string[];
}

const MAX_TEXT = 1000;
const MAX_KEY_NAME = 64;
const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
/** The hash of a file entry: what `applyFile` compares with the one last applied. */
export const entryHash = (v: unknown) => createHash('sha256').update(canonicalJson(v)).digest('hex');

function typeOf(v: unknown): FlagType | undefined {
  if (typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return typeof v as FlagType;
  return v !== null && typeof v === 'object' ? 'object' : undefined;
}

/** The config a declared flag has in a stage that never configured it: off, serving its first variant. */
function defaultConfig(d: FlagDefinition): StageFlag {
  return { state: 'DISABLED', defaultVariant: Object.keys(d.variants)[0] ?? '' };
}

const stripRecord = (d: FlagDefinitionRecord): FlagDefinition => ({
  key: d.key,
  type: d.type,
  variants: d.variants,
  description: d.description,
  owner: d.owner,
});

/**
 * Feature flags in the control plane: declarations, each stage's config and segments, history, read keys, evaluation
 * stats and the stale report. Every change is validated as the whole flag set of each stage it touches
 * (`compileFlagSet`) and refused as a whole; once saved (with its events and audit records) it is published to the
 * data plane.
 */
export class FlagService {
  private publishing: Promise<unknown> = Promise.resolve();
  private published = new Map<string, number>();

  constructor(private readonly o: FlagServiceOptions) {}

  /** Declares a flag; it starts off in every stage. */
  async define(meta: ChangeMeta, input: FlagInput) {
    const def = this.checkDefinition(input);
    return this.change(meta, 'flag.define', { flag: def.key }, (now, c) => {
      if (now.defs[def.key]) throw new SluiceError('INVALID_STATE', `flag ${def.key} exists already; change it with \`sluice flags update ${def.key}\``);
      c.putDef({ ...def, changedAt: c.at });
      c.event({ type: 'flag.define', flag: def.key, data: def });
      for (const s of this.stageNames()) c.touch(s);
    });
  }

  /** Changes a flag's declaration (type, variants, description, owner); every stage's set must stay valid. */
  async update(meta: ChangeMeta, key: string, patch: Partial<Omit<FlagInput, 'key'>>) {
    return this.change(meta, 'flag.update', { flag: key }, (now, c) => {
      const cur = this.defOf(now, key);
      const def = this.checkDefinition({ ...stripRecord(cur), ...patch, key });
      this.checkMay(meta.actor, this.stagesServing(now, key), `change flag ${key}`);
      c.putDef({ ...def, changedAt: c.at, ...(cur.fileHash ? { fileHash: cur.fileHash } : {}) });
      c.event({ type: 'flag.update', flag: key, data: def });
      for (const s of this.stageNames()) c.touch(s);
    });
  }

  /** Removes a flag from every stage. */
  async remove(meta: ChangeMeta, key: string) {
    return this.change(meta, 'flag.remove', { flag: key }, (now, c) => {
      this.defOf(now, key);
      this.checkMay(meta.actor, this.stagesServing(now, key), `remove flag ${key}`);
      c.removeDef(key);
      c.event({ type: 'flag.remove', flag: key, data: null });
      for (const s of this.stageNames()) c.stage(s).remove = [key];
    });
  }

  /** Changes a flag in one stage: on/off, default variant, targeting. */
  async set(meta: ChangeMeta, stage: string, key: string, patch: StageFlagPatch) {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `change flags of stage ${stage}`);
    if (patch.state === undefined && patch.defaultVariant === undefined && patch.targeting === undefined)
      throw new SluiceError('BAD_REQUEST', `nothing to change of flag ${key} in ${stage}: give state, defaultVariant or targeting`);
    return this.change(meta, 'flag.set', { stage, flag: key }, (now, c) => {
      const def = this.defOf(now, key);
      const cur = now.stages[stage]?.flags[key]?.config ?? defaultConfig(def);
      const ramping = cur.ramp?.run?.status;
      // Turning the flag off stays possible (the kill switch); its users are the ramp's to move while it runs.
      if ((ramping === 'running' || ramping === 'paused') && (patch.defaultVariant !== undefined || patch.targeting !== undefined))
        throw new SluiceError(
          'INVALID_STATE',
          `flag ${key} in ${stage} is being ramped (${ramping} at ${cur.ramp!.run!.percent} %): the ramp owns its default variant and targeting; abort it first (sluice flags ramp abort ${key} --stage ${stage})`,
        );
      const { targeting: _t, ...rest } = cur;
      const next: StageFlag = {
        ...rest,
        ...(patch.state !== undefined ? { state: patch.state } : {}),
        ...(patch.defaultVariant !== undefined ? { defaultVariant: patch.defaultVariant } : {}),
        ...(patch.targeting === undefined
          ? cur.targeting !== undefined ? { targeting: cur.targeting } : {}
          : patch.targeting === null ? {} : { targeting: patch.targeting }),
      };
      // The hash of the file's entry stays: re-applying an unchanged file must not undo this change (ADR 20).
      const fileHash = now.stages[stage]?.flags[key]?.fileHash;
      c.stage(stage).put = { [key]: { config: next, changedAt: c.at, ...(fileHash ? { fileHash } : {}) } };
      c.event({ type: 'flag.set', stage, flag: key, data: next });
    });
  }

  /** Sets (or, with `rule` null, removes) a segment of a stage: a rule its flags use as `{ "$ref": name }`. */
  async setSegment(meta: ChangeMeta, stage: string, name: string, rule: unknown) {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `change segments of stage ${stage}`);
    if (name.length === 0 || name.length > FLAG_LIMITS.keyLength || !FLAG_KEY.test(name))
      throw new SluiceError('BAD_REQUEST', `segment name "${name.slice(0, 140)}" must be 1 to 128 letters, digits, "-", "_" or "."`);
    return this.change(meta, rule === null ? 'segment.remove' : 'segment.set', { stage, segment: name }, (now, c) => {
      const segments = { ...(now.stages[stage]?.segments ?? {}) };
      const hashes = { ...(now.stages[stage]?.segmentFileHashes ?? {}) };
      if (rule === null) {
        if (!(name in segments)) throw new SluiceError('NOT_FOUND', `stage ${stage} has no segment ${name}`);
        delete segments[name];
      } else segments[name] = rule;
      // A removed segment comes back only when its entry in the file changes (ADR 20).
      Object.assign(c.stage(stage), { segments, segmentFileHashes: hashes });
      c.event({ type: rule === null ? 'segment.remove' : 'segment.set', stage, data: { name, rule } });
    });
  }

  /** Copies a stage's flag configs (all, or those named) and its segments to another stage. */
  async copy(meta: ChangeMeta, from: string, to: string, keys?: string[]) {
    this.checkStage(from);
    this.checkStage(to);
    if (from === to) throw new SluiceError('BAD_REQUEST', `copying stage ${from} onto itself changes nothing; name another stage with --to`);
    this.checkMay(meta.actor, [to], `change flags of stage ${to}`);
    return this.change(meta, 'stage.copy', { stage: to }, (now, c) => {
      const src = now.stages[from];
      const names = keys ?? Object.keys(now.defs);
      const put: Record<string, StageFlagRecord> = {};
      for (const k of names) {
        const def = this.defOf(now, k);
        const config = structuredClone(src?.flags[k]?.config ?? defaultConfig(def));
        // A ramp runs in one stage: the copy takes its plan (to start there), not its run.
        if (config.ramp) config.ramp = { plan: config.ramp.plan };
        put[k] = { config, changedAt: c.at };
      }
      Object.assign(c.stage(to), { put, segments: structuredClone(src?.segments ?? {}), segmentFileHashes: {} });
      c.event({ type: 'stage.copy', stage: to, data: { from, flags: names } });
    });
  }

  /** Reads a flagd flag set into a stage: its flags are declared (or re-declared) and configured, its `$evaluators` become the stage's segments. */
  async importFlagd(meta: ChangeMeta, stage: string, doc: FlagdDocument) {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `import flags into stage ${stage}`);
    const first = compileFlagSet(doc);
    if (!first.ok) throw this.refusal(first.problems.map((p) => ({ ...p, path: `${stage}${p.path}` })), 'the flagd document');
    const { defs, stage: flags } = fromFlagdDocument(doc);
    return this.change(meta, 'flags.import', { stage }, (now, c) => {
      for (const d of defs) {
        const cur = now.defs[d.key];
        const def = this.checkDefinition({ ...d, description: cur?.description ?? d.description, owner: cur?.owner ?? d.owner });
        if (!cur || canonicalJson(stripRecord(cur)) !== canonicalJson(def)) {
          if (cur) this.checkMay(meta.actor, this.stagesServing(now, d.key), `change flag ${d.key}`);
          c.putDef({ ...def, changedAt: c.at });
          for (const s of this.stageNames()) c.touch(s);
        }
      }
      // flagd's format has no ramps: a flag being ramped here keeps its ramp, and the document may not replace it.
      const ramped = Object.keys(flags.flags).filter((k) => ['running', 'paused'].includes(now.stages[stage]?.flags[k]?.config.ramp?.run?.status ?? ''));
      if (ramped.length > 0)
        throw new SluiceError(
          'INVALID_STATE',
          `stage ${stage} is ramping ${ramped.join(', ')}: a ramp owns its flag's default variant and targeting, so the import would undo it; abort the ramp first (sluice flags ramp abort ${ramped[0]} --stage ${stage}) or leave ${ramped.length === 1 ? 'that flag' : 'those flags'} out of the document`,
        );
      const put: Record<string, StageFlagRecord> = {};
      for (const [k, f] of Object.entries(flags.flags)) put[k] = { config: f, changedAt: c.at };
      Object.assign(c.stage(stage), { put, segments: flags.segments, segmentFileHashes: {} });
      c.event({ type: 'flags.import', stage, data: { flags: Object.keys(flags.flags), segments: Object.keys(flags.segments) } });
    });
  }

  /** A stage's flag set in flagd's format: what the data plane serves, and what `importFlagd` reads. */
  async exportFlagd(stage: string): Promise<FlagdDocument> {
    this.checkStage(stage);
    return toFlagdDocument(...this.stageInput(await this.o.store.flagSnapshot(), stage));
  }

  /** Every flag with its state in each stage and when it was last evaluated there. */
  async list(): Promise<FlagView[]> {
    const [snap, stats] = await Promise.all([this.o.store.flagSnapshot(), this.o.store.evaluationStats()]);
    const stages = this.stageNames();
    return Object.values(snap.defs)
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((d) => ({
        ...stripRecord(d),
        changedAt: d.changedAt,
        stages: Object.fromEntries(
          stages.map((s) => {
            const r = snap.stages[s]?.flags[d.key];
            const st = stats.find((x) => x.stage === s && x.flag === d.key);
            const view: FlagStageView = {
              ...(r?.config ?? defaultConfig(d)),
              configured: r !== undefined,
              changedAt: r?.changedAt ?? d.changedAt,
              fromFile: r?.fileHash !== undefined && r.fileHash === entryHash(r.config),
              lastEvaluatedAt: st?.lastAt ?? null,
              evaluations: st?.variants ?? {},
              ...(r?.config.ramp ? { rampInfo: rampInfo(r.config.ramp) } : {}),
            };
            return [s, view];
          }),
        ),
      }));
  }

  /** One flag, as `list` gives it. */
  async show(key: string): Promise<FlagView> {
    const all = await this.list();
    const f = all.find((x) => x.key === key);
    if (!f) throw this.noFlag(key, all.map((x) => x.key));
    return f;
  }

  /** The stages' segments. */
  async segments(stage: string): Promise<Record<string, unknown>> {
    this.checkStage(stage);
    return (await this.o.store.flagSnapshot()).stages[stage]?.segments ?? {};
  }

  /** The history of changes, newest `limit`, of one flag and/or stage. */
  async history(filter: { flag?: string; stage?: string; limit?: number }): Promise<FlagEvent[]> {
    if (filter.stage !== undefined) this.checkStage(filter.stage);
    return this.o.store.flagEvents({
      ...(filter.flag ? { flag: filter.flag } : {}),
      ...(filter.stage ? { stage: filter.stage } : {}),
      limit: Math.min(filter.limit ?? 100, 1000),
    });
  }

  /**
   * Applies the flags file (ADR 20): an entry changes the store only when it differs from what was last applied from
   * the file, so an unchanged file never undoes a change made at run time, and an edited entry overrides it.
   */
  async applyFile(meta: ChangeMeta, file: FlagsFileContent): Promise<ApplyReport> {
    const known = new Set(this.stageNames());
    for (const s of [...Object.keys(file.stages), ...Object.keys(file.segments)])
      if (!known.has(s)) throw this.noStage(s);
    let unchanged = 0;
    const changed: string[] = [];
    const r = await this.change(meta, 'flags.apply', {}, (now, c) => {
      c.locate = file.locate;
      const defs = new Map(Object.entries(now.defs));
      for (const d of file.defs) {
        const def = this.checkDefinition(d);
        const h = entryHash(def);
        const cur = defs.get(def.key);
        if (cur?.fileHash === h) {
          unchanged++;
          continue;
        }
        c.putDef({ ...def, changedAt: c.at, fileHash: h });
        defs.set(def.key, { ...def, changedAt: c.at, fileHash: h });
        for (const s of known) c.touch(s);
        changed.push(def.key);
        c.event({ type: 'flag.define', flag: def.key, data: { ...def, fromFile: true } });
      }
      for (const [stage, flags] of Object.entries(file.stages)) {
        for (const [k, config] of Object.entries(flags)) {
          if (!defs.has(k)) throw new SluiceError('BAD_REQUEST', `the flags file configures flag ${k} in stage ${stage}, but declares no such flag`);
          const h = entryHash(config);
          if (now.stages[stage]?.flags[k]?.fileHash === h) {
            unchanged++;
            continue;
          }
          const sc = c.stage(stage);
          const running = now.stages[stage]?.flags[k]?.config;
          const st = running?.ramp?.run?.status;
          // A ramp under way keeps its users, targeting and plan; the file's entry takes effect for the rest, and its ramp at the next start.
          const kept: StageFlag =
            running?.ramp?.run && (st === 'running' || st === 'paused')
              ? {
                ...config,
                defaultVariant: running.defaultVariant,
                ...(running.targeting !== undefined ? { targeting: running.targeting } : {}),
                ramp: running.ramp,
              }
              : config;
          sc.put = { ...sc.put, [k]: { config: kept, changedAt: c.at, fileHash: h } };
          changed.push(`${stage}/${k}`);
          c.event({ type: 'flag.set', stage, flag: k, data: { ...config, fromFile: true } });
        }
      }
      for (const [stage, segs] of Object.entries(file.segments)) {
        const cur = now.stages[stage];
        const segments = { ...(cur?.segments ?? {}) };
        const hashes = { ...(cur?.segmentFileHashes ?? {}) };
        let any = false;
        for (const [name, rule] of Object.entries(segs)) {
          const h = entryHash(rule);
          if (hashes[name] === h) {
            unchanged++;
            continue;
          }
          segments[name] = rule;
          hashes[name] = h;
          any = true;
          changed.push(`${stage}/segment:${name}`);
          c.event({ type: 'segment.set', stage, data: { name, rule, fromFile: true } });
        }
        if (any) Object.assign(c.stage(stage), { segments, segmentFileHashes: hashes });
      }
      if (changed.length > 0) this.checkMay(meta.actor, Object.keys(c.stages), 'apply the flags file');
    });
    return { changed, unchanged, revisions: r.revisions };
  }

  /** Reads the flags file's text and applies it (see `applyFile`); its problems are reported at file:line:col. */
  async applyText(meta: ChangeMeta, text: string, file: string): Promise<ApplyReport> {
    return this.applyFile(meta, parseFlagsFile(text, file, this.stageNames()));
  }

  /** Makes a read key for a stage (shown once; only its hash is kept) and has the data plane take it. */
  async createKey(meta: ChangeMeta, stage: string, name: string): Promise<FlagKeyView & { key: string }> {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `make read keys of stage ${stage}`);
    if (name.length === 0 || name.length > MAX_KEY_NAME) throw new SluiceError('BAD_REQUEST', `a key's name is 1 to ${MAX_KEY_NAME} characters`);
    const key = `slf_${randomBytes(24).toString('base64url')}`;
    const rec = { id: randomUUID(), stage, name, hash: hashKey(key), createdAt: this.o.clock.now() };
    await this.o.store.createFlagKey(rec, [this.draft(meta, 'flag-key.create', { stage, 'flag-key': name })]);
    await this.republish(stage);
    return { id: rec.id, key, stage, name, createdAt: rec.createdAt };
  }

  async listKeys(stage: string): Promise<FlagKeyView[]> {
    this.checkStage(stage);
    return (await this.o.store.listFlagKeys(stage)).map(({ hash: _h, ...k }) => k);
  }

  async revokeKey(meta: ChangeMeta, stage: string, id: string): Promise<void> {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `revoke read keys of stage ${stage}`);
    const k = (await this.o.store.listFlagKeys(stage)).find((x) => x.id === id);
    if (!k || k.revokedAt !== undefined) throw new SluiceError('NOT_FOUND', `stage ${stage} has no read key ${id} that is not revoked (see \`sluice flags keys list --stage ${stage}\`)`);
    if (!(await this.o.store.revokeFlagKey(id, this.o.clock.now(), [this.draft(meta, 'flag-key.revoke', { stage, 'flag-key': k.name })])))
      throw new SluiceError('NOT_FOUND', `read key ${id} was revoked meanwhile`);
    await this.republish(stage);
  }

  /**
   * Starts a guarded ramp of a flag in a stage (ADR 23): with `plan` given, that plan; else the one the flags file
   * declares for the stage. The flag must be on, and its targeting none or a plain fractional split: the ramp owns the
   * targeting while it runs. Refused (nothing changed) with what is wrong.
   */
  async rampStart(meta: ChangeMeta, stage: string, key: string, plan?: RampPlanInput): Promise<RampChangeResult> {
    return this.rampChange(meta, stage, key, 'flag.ramp.start', (cur, def) => {
      let p: RampPlan;
      if (plan) {
        const checked = checkRampPlan(plan, Object.keys(def.variants), `flag ${key} in ${stage}`);
        if ('problems' in checked) throw new SluiceError('BAD_REQUEST', `${checked.problems.join('; ')}; nothing changed`, { problems: checked.problems });
        p = checked.plan;
      } else if (cur.ramp) p = cur.ramp.plan;
      else throw new SluiceError('BAD_REQUEST', `flag ${key} declares no ramp in ${stage}: give one (treatment, control, steps, wait) or declare it under stages.${stage}.ramp in ${'sluice.flags.yaml'}`);
      if (cur.state !== 'ENABLED') throw new SluiceError('INVALID_STATE', `flag ${key} is off in ${stage}: a ramp moves users of an enabled flag; turn it on first (sluice flags set ${key} --stage ${stage} --on --default ${p.control})`);
      const running = cur.ramp?.run?.status;
      if (!rampMayOwn(cur.targeting) && running !== 'regressed' && running !== 'completed')
        throw new SluiceError('INVALID_STATE', `flag ${key} in ${stage} has targeting rules; a ramp owns the flag's targeting while it runs, so it starts only on a flag with no targeting or a plain fractional split. Remove them (sluice flags set ${key} --stage ${stage} --targeting null) or ramp in a stage without them`);
      return { plan: p, input: { kind: 'start', before: { defaultVariant: cur.defaultVariant, ...(cur.targeting !== undefined ? { targeting: cur.targeting } : {}) } } };
    });
  }

  /** Pauses a running ramp: it keeps its percentage and is not judged until resumed. */
  async rampPause(meta: ChangeMeta, stage: string, key: string): Promise<RampChangeResult> {
    return this.rampChange(meta, stage, key, 'flag.ramp.pause', (cur) => ({ plan: this.planOf(cur, stage, key), input: { kind: 'pause', reason: meta.reason || 'paused by hand' } }));
  }

  /** Resumes a paused ramp: its step's wait starts again now. */
  async rampResume(meta: ChangeMeta, stage: string, key: string): Promise<RampChangeResult> {
    return this.rampChange(meta, stage, key, 'flag.ramp.resume', (cur) => ({ plan: this.planOf(cur, stage, key), input: { kind: 'resume' } }));
  }

  /** Aborts a ramp: the flag gets back the default variant and targeting it had before the ramp. */
  async rampAbort(meta: ChangeMeta, stage: string, key: string): Promise<RampChangeResult> {
    return this.rampChange(meta, stage, key, 'flag.ramp.abort', (cur) => ({ plan: this.planOf(cur, stage, key), input: { kind: 'abort', reason: meta.reason || 'aborted by hand' } }));
  }

  /**
   * Records a judgement of a ramp's step (the ramp runner's): written only if the stage is still at `revision`, so
   * that of several replicas judging the same step one advances it; the others get CONFLICT and read it again.
   */
  async rampJudged(stage: string, key: string, revision: number, judgement: RampJudgement): Promise<RampChangeResult> {
    const { figures, ...verdict } = judgement;
    const meta: ChangeMeta = { actor: { kind: 'system', reason: `the ramp of ${key} in ${stage} was judged` }, reason: `${verdict.outcome}: ${verdict.reason}` };
    return this.rampChange(
      meta,
      stage,
      key,
      'flag.ramp.judge',
      (cur) => ({ plan: this.planOf(cur, stage, key), input: { kind: 'verdict', verdict } }),
      { revision, figures },
    );
  }

  /** Every ramp, in each stage: declared ones and those that run or ran. */
  async ramps(): Promise<RampView[]> {
    const snap = await this.o.store.flagSnapshot();
    const out: RampView[] = [];
    for (const stage of this.stageNames()) {
      const st = snap.stages[stage];
      for (const [flag, r] of Object.entries(st?.flags ?? {}))
        if (r.config.ramp) out.push(this.rampView(stage, flag, r.config.ramp, st?.revision ?? 0));
    }
    return out;
  }

  /** One flag's ramp in one stage. */
  async ramp(stage: string, key: string): Promise<RampView> {
    this.checkStage(stage);
    const snap = await this.o.store.flagSnapshot();
    this.defOf(snap, key);
    return this.rampView(stage, key, rampOf(snap.stages[stage]?.flags[key]?.config, stage, key), snap.stages[stage]?.revision ?? 0);
  }

  private rampView(stage: string, flag: string, r: FlagRamp, revision: number): RampView {
    return {
      stage,
      flag,
      plan: r.plan,
      ...(r.run ? { run: r.run } : {}),
      revision,
      ...rampInfo(r),
    };
  }

  private planOf(cur: StageFlag, stage: string, key: string): RampPlan {
    return rampOf(cur, stage, key).plan;
  }

  /**
   * One ramp change: the decider's decision on the stage's flag as it is, written as the flag's new config (its
   * targeting for the new percentage), a ramp event and the audit record, in one transaction.
   */
  private async rampChange(
    meta: ChangeMeta,
    stage: string,
    key: string,
    action: string,
    pick: (cur: StageFlag, def: FlagDefinitionRecord) => { plan: RampPlan; input: RampInput },
    guard?: { revision: number; figures: unknown },
  ): Promise<RampChangeResult> {
    this.checkStage(stage);
    this.checkMay(meta.actor, [stage], `ramp flags of stage ${stage}`);
    let notify = false;
    let view: RampView | undefined;
    const { revisions } = await this.change(meta, action, { stage, flag: key }, (now, c) => {
      const def = this.defOf(now, key);
      if (guard && (now.stages[stage]?.revision ?? 0) !== guard.revision)
        throw new SluiceError('CONFLICT', `stage ${stage}'s flags changed since the ramp of ${key} was read (revision ${now.stages[stage]?.revision ?? 0}, not ${guard.revision}); read it again`);
      const rec = now.stages[stage]?.flags[key];
      const cur = rec?.config ?? defaultConfig(def);
      const { plan, input } = pick(cur, def);
      const d = decideRamp(plan, cur.ramp?.run, c.at, input);
      if (!d.ok) throw new SluiceError('INVALID_STATE', `the ramp of ${key} in ${stage}: ${d.refusal}`);
      const { targeting: _t, ramp: _r, ...rest } = cur;
      let next: StageFlag;
      if (d.serve === 'complete') next = { ...rest, defaultVariant: plan.treatment };
      else if (d.serve === 'restore') next = { ...rest, defaultVariant: d.run.before.defaultVariant, ...(d.run.before.targeting !== undefined ? { targeting: d.run.before.targeting } : {}) };
      else next = { ...rest, defaultVariant: plan.control, targeting: rampTargeting(key, plan, d.serve.split) };
      next.ramp = { plan, run: d.run };
      c.stage(stage).put = { [key]: { config: next, changedAt: c.at, ...(rec?.fileHash ? { fileHash: rec.fileHash } : {}) } };
      const last = d.run.verdicts.at(-1);
      c.event({
        type: d.event,
        stage,
        flag: key,
        data: {
          status: d.run.status,
          step: d.run.step,
          percent: d.run.percent,
          ...(d.event === 'ramp.started' ? { plan } : {}),
          ...(input.kind === 'verdict' && last ? { verdict: last } : {}),
          ...(guard?.figures !== undefined ? { figures: guard.figures } : {}),
          ...(d.run.reason !== undefined && d.event !== 'ramp.stepped' ? { reason: d.run.reason } : {}),
        },
      });
      if (input.kind === 'verdict') c.auditReason = judgedReason(d.event, d.run, plan, meta.reason);
      notify = d.notify;
      view = this.rampView(stage, key, next.ramp, (now.stages[stage]?.revision ?? 0) + 1);
    });
    return { revisions, ramp: view!, notify };
  }

  /** Takes what the data plane counted since the last call and adds it to the stats (run it every few seconds). */
  async collectCounts(): Promise<void> {
    if (this.o.serving) await this.recordCounts(await this.o.serving.takeCounts());
  }

  /** The pipeline's stages (what the flags file may name). */
  stageList(): string[] {
    return this.stageNames();
  }

  /** Adds what the data plane counted (FlagServing.takeCounts). */
  async recordCounts(counts: readonly EvaluationCountInput[]): Promise<void> {
    await this.o.store.recordEvaluations(counts.filter((c) => c.count > 0));
  }

  /** Flags fully on, or untouched, in every stage for `days` days, and flags never evaluated anywhere. */
  async stale(days: number): Promise<StaleFlag[]> {
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new SluiceError('BAD_REQUEST', `days is a whole number from 1 to 3650, not ${days}`);
    const cutoff = this.o.clock.now() - days * 86_400_000;
    const out: StaleFlag[] = [];
    for (const f of await this.list()) {
      const stages = Object.values(f.stages);
      const lastChangedAt = Math.max(f.changedAt, ...stages.map((s) => s.changedAt));
      const untouched = lastChangedAt <= cutoff;
      const fullyOn = untouched && stages.length > 0 && stages.every((s) => s.state === 'ENABLED' && s.targeting === undefined);
      const neverEvaluated = stages.every((s) => s.lastEvaluatedAt === null);
      const reasons: StaleReason[] = [...(fullyOn ? ['fully-on' as const] : untouched ? ['untouched' as const] : []), ...(neverEvaluated ? ['never-evaluated' as const] : [])];
      if (reasons.length > 0)
        out.push({
          key: f.key,
          owner: f.owner,
          reasons,
          lastChangedAt,
          lastEvaluatedAt: Object.fromEntries(Object.entries(f.stages).map(([s, v]) => [s, v.lastEvaluatedAt])),
        });
    }
    return out;
  }

  /** Publishes every stage's set (at start: the data plane may have missed changes while the control plane was away). */
  async publishAll(): Promise<void> {
    const snap = await this.o.store.flagSnapshot();
    const keys = await this.o.store.listFlagKeys();
    const serving = this.o.serving;
    if (!serving) return;
    for (const s of this.stageNames())
      await serving.publish(s, {
        doc: toFlagdDocument(...this.stageInput(snap, s)),
        revision: snap.stages[s]?.revision ?? 0,
        keyHashes: await this.keyHashes(keys, s),
      });
  }

  private async republish(stage: string): Promise<void> {
    const snap = await this.o.store.flagSnapshot();
    await this.publish(snap, [stage]);
  }

  /** The hashes of the keys that may read a stage's flags: its read keys not revoked, and its workloads' key. */
  private async keyHashes(keys: Array<{ stage: string; hash: string; revokedAt?: number }>, stage: string): Promise<string[]> {
    const hashes = keys.filter((k) => k.stage === stage && k.revokedAt === undefined).map((k) => k.hash);
    if (this.o.workloadKey) hashes.push(hashKey(await this.o.workloadKey(stage)));
    return hashes;
  }

  /** Publishes stages from a snapshot, in order of saving; a set older than one already published is not sent. */
  private publish(snap: FlagSnapshot, stages: string[]): Promise<void> {
    const serving = this.o.serving;
    if (!serving) return Promise.resolve();
    const run = this.publishing.then(async () => {
      const keys = await this.o.store.listFlagKeys();
      for (const s of stages) {
        const revision = snap.stages[s]?.revision ?? 0;
        if ((this.published.get(s) ?? -1) > revision) continue;
        try {
          await serving.publish(s, {
            doc: toFlagdDocument(...this.stageInput(snap, s)),
            revision,
            keyHashes: await this.keyHashes(keys, s),
          });
          this.published.set(s, revision);
        } catch (e) {
          this.o.onError?.(e);
        }
      }
    });
    this.publishing = run.catch(() => undefined);
    return run;
  }

  private stageInput(snap: FlagSnapshot, stage: string): [FlagDefinition[], StageFlags] {
    const defs = Object.values(snap.defs).sort((a, b) => (a.key < b.key ? -1 : 1));
    const st = snap.stages[stage];
    const flags: Record<string, StageFlag> = {};
    for (const d of defs) flags[d.key] = st?.flags[d.key]?.config ?? defaultConfig(d);
    return [defs.map(stripRecord), { flags, segments: st?.segments ?? {} }];
  }

  /**
   * Runs one change: `build` adds to it from the state as it is; each stage it touches is then compiled whole, and
   * any problem refuses the change (nothing is written). Once saved, the stages touched are published.
   */
  private async change(meta: ChangeMeta, action: string, links: Record<string, string>, build: (now: FlagSnapshot, c: ChangeBuilder) => void) {
    const at = this.o.clock.now();
    const { result, revisions } = await this.o.store.changeFlags(at, (now) => {
      const c = new ChangeBuilder(at);
      build(now, c);
      const next = c.applyTo(now);
      for (const stage of Object.keys(c.stages)) {
        const doc = toFlagdDocument(...this.stageInput(next, stage));
        const n = Object.keys(doc.flags).length;
        if (n > FLAG_LIMITS.flags) throw new SluiceError('TOO_LARGE', `stage ${stage} would hold ${n} flags, more than the limit of ${FLAG_LIMITS.flags}; nothing changed`);
        const bytes = Buffer.byteLength(JSON.stringify(doc));
        if (bytes > FLAG_LIMITS.documentBytes)
          throw new SluiceError('TOO_LARGE', `stage ${stage}'s flag set would be ${bytes} bytes, more than the limit of ${FLAG_LIMITS.documentBytes}; nothing changed`);
        const r = compileFlagSet(doc);
        if (!r.ok) throw this.refusal(r.problems.map((p) => ({ path: c.locate?.(stage, p.path) ?? `${stage}${p.path}`, message: p.message })), `stage ${stage}'s flags`);
      }
      const change: FlagChange = {
        events: c.events,
        actor: meta.actor,
        reason: meta.reason,
        links: this.links(meta),
        ...(c.defs.put.length || c.defs.remove.length ? { defs: c.defs } : {}),
        stages: c.stages,
        audit: c.events.length > 0 ? [this.draft(c.auditReason === undefined ? meta : { ...meta, reason: c.auditReason }, action, links)] : [],
      };
      return { change, result: { next, flags: [...new Set(c.events.flatMap((e) => (e.flag ? [e.flag] : [])))] } };
    });
    await this.publish(result.next, Object.keys(revisions));
    this.o.changed?.({ stages: Object.keys(revisions), flags: result.flags });
    return { revisions };
  }

  private links(meta: ChangeMeta): Record<string, string> {
    return { ...(meta.release ? { release: meta.release } : {}), ...(meta.journey ? { journey: meta.journey } : {}) };
  }

  private draft(meta: ChangeMeta, action: string, links: Record<string, string>): AuditDraft {
    return { actor: meta.actor, action, reason: meta.reason, links: { ...this.links(meta), ...links }, outcome: 'done' };
  }

  private refusal(problems: FlagProblem[], what: string): SluiceError {
    const listed = problems.slice(0, 20);
    return new SluiceError(
      'BAD_REQUEST',
      `${what} would be invalid, so nothing changed:\n${listed.map((p) => `  ${p.path}: ${p.message}`).join('\n')}${problems.length > listed.length ? `\n  … and ${problems.length - listed.length} more` : ''}`,
      { problems: listed },
    );
  }

  private stageNames(): string[] {
    return this.o.stages();
  }

  private checkStage(stage: string): void {
    if (!this.stageNames().includes(stage)) throw this.noStage(stage);
  }

  private noStage(stage: string): SluiceError {
    const names = this.stageNames();
    const hint = closest(stage, names);
    return new SluiceError('NOT_FOUND', `the pipeline has no stage ${stage}${hint ? ` (did you mean ${hint}?)` : ''}; its stages: ${names.join(', ')}`);
  }

  private noFlag(key: string, keys: string[]): SluiceError {
    const hint = closest(key, keys);
    return new SluiceError('NOT_FOUND', `there is no flag ${key}${hint ? ` (did you mean ${hint}?)` : ''}; declare it with \`sluice flags create ${key}\``);
  }

  private defOf(now: FlagSnapshot, key: string): FlagDefinitionRecord {
    const d = now.defs[key];
    if (!d) throw this.noFlag(key, Object.keys(now.defs));
    return d;
  }

  /** The stages where a flag is on: changing its declaration changes what they serve. */
  private stagesServing(now: FlagSnapshot, key: string): string[] {
    return this.stageNames().filter((s) => now.stages[s]?.flags[key]?.config.state === 'ENABLED');
  }

  private checkMay(actor: Actor, stages: readonly string[], what: string): void {
    if (actor.kind !== 'token') return;
    for (const s of stages) {
      const roles = this.o.changeRoles(s);
      if (!mayCall(actor.role, roles))
        throw new SluiceError(
          'FORBIDDEN',
          `to ${what} needs a token that may deploy to ${s} (${[...new Set([...roles, 'admin'])].join(' or ')}); the token "${actor.name}" has the role ${actor.role}`,
          { stage: s, allowed: [...new Set([...roles, 'admin'])], role: actor.role },
        );
    }
  }

  private checkDefinition(d: FlagDefinition): FlagDefinition {
    const where = `flag ${String(d.key).slice(0, 140)}`;
    if (typeof d.key !== 'string' || !FLAG_KEY.test(d.key))
      throw new SluiceError('BAD_REQUEST', `flag key "${String(d.key).slice(0, 140)}" must be 1 to 128 letters, digits, "-", "_" or ".", starting with a letter or digit`);
    if (!['boolean', 'string', 'number', 'object'].includes(d.type))
      throw new SluiceError('BAD_REQUEST', `${where}: type must be boolean, string, number or object, not ${JSON.stringify(d.type)}`);
    if (d.variants === null || typeof d.variants !== 'object' || Array.isArray(d.variants))
      throw new SluiceError('BAD_REQUEST', `${where}: variants must be an object of values by name, e.g. {"on": true, "off": false}`);
    const names = Object.keys(d.variants);
    if (names.length === 0) throw new SluiceError('BAD_REQUEST', `${where}: declare at least one variant`);
    if (names.length > FLAG_LIMITS.variantsPerFlag) throw new SluiceError('TOO_LARGE', `${where}: ${names.length} variants, more than the limit of ${FLAG_LIMITS.variantsPerFlag}`);
    for (const [n, v] of Object.entries(d.variants)) {
      if (n.length === 0 || n.length > FLAG_LIMITS.keyLength) throw new SluiceError('BAD_REQUEST', `${where}: a variant's name is 1 to ${FLAG_LIMITS.keyLength} characters`);
      if (typeOf(v) !== d.type) throw new SluiceError('BAD_REQUEST', `${where}: variant ${n} is ${JSON.stringify(v)?.slice(0, 80)}, not a ${d.type} (the flag's type)`);
    }
    for (const f of ['description', 'owner'] as const)
      if (typeof d[f] !== 'string' || d[f].length > MAX_TEXT) throw new SluiceError('BAD_REQUEST', `${where}: ${f} is text of at most ${MAX_TEXT} characters`);
    return { key: d.key, type: d.type, variants: d.variants, description: d.description, owner: d.owner };
  }
}

/** A change as it is built: events, declarations and stage changes (each stage listed gets a new revision). */
/** A ramp's measurement and when its step is judged next (null unless it runs). */
function rampInfo(r: FlagRamp): { measurement: string; nextJudgementAt: number | null } {
  return { measurement: rampMeasurement(r.plan), nextJudgementAt: r.run?.status === 'running' ? rampDueAt(r.plan, r.run) : null };
}

/** The flag's ramp in the stage, or NOT_FOUND saying how to start one. */
function rampOf(config: StageFlag | undefined, stage: string, key: string): FlagRamp {
  if (!config?.ramp) throw new SluiceError('NOT_FOUND', `flag ${key} has no ramp in ${stage}: start one with \`sluice flags ramp start ${key} --stage ${stage}\``);
  return config.ramp;
}

/** What a ramp's judgement did, for the audit trail: the verdict, then the step it led to. */
function judgedReason(event: RampEventType, run: RampRun, plan: RampPlan, verdict: string): string {
  if (event === 'ramp.regressed')
    return run.status === 'regressed' ? `${run.reason}; set back to 0 % ${plan.treatment}` : `${run.reason}; paused at ${run.percent} % ${plan.treatment}`;
  if (event === 'ramp.stepped') return `${verdict}; now ${run.percent} % ${plan.treatment}`;
  if (event === 'ramp.completed') return `${verdict}; ${plan.treatment} is the default for everyone`;
  if (event === 'ramp.paused') return `${verdict}; paused at ${run.percent} % ${plan.treatment}: ${run.reason}`;
  return `${verdict}; held at ${run.percent} % ${plan.treatment}`;
}

class ChangeBuilder {
  readonly events: FlagEventDraft[] = [];
  readonly defs: { put: FlagDefinitionRecord[]; remove: string[] } = { put: [], remove: [] };
  readonly stages: Record<string, StageChange> = {};
  locate: ((stage: string, pointer: string) => string | undefined) | undefined;
  /** The audit record's reason, when what was done is known only once decided (a ramp's judgement). */
  auditReason: string | undefined;

  constructor(readonly at: number) {}

  event(e: FlagEventDraft) {
    this.events.push(e);
  }
  putDef(d: FlagDefinitionRecord) {
    this.defs.put = [...this.defs.put.filter((x) => x.key !== d.key), d];
  }
  removeDef(key: string) {
    this.defs.remove.push(key);
  }
  touch(stage: string) {
    this.stage(stage);
  }
  stage(stage: string): StageChange {
    return (this.stages[stage] ??= {});
  }

  /** The state once this change is written (what the store will hold), to validate before writing. */
  applyTo(now: FlagSnapshot): FlagSnapshot {
    const next = structuredClone(now);
    for (const d of this.defs.put) next.defs[d.key] = d;
    for (const k of this.defs.remove) delete next.defs[k];
    for (const [s, c] of Object.entries(this.stages)) {
      const st = (next.stages[s] ??= { revision: 0, segments: {}, segmentFileHashes: {}, flags: {} });
      Object.assign(st.flags, c.put ?? {});
      for (const k of c.remove ?? []) delete st.flags[k];
      if (c.segments) st.segments = c.segments;
      if (c.segmentFileHashes) st.segmentFileHashes = c.segmentFileHashes;
      st.revision += 1;
    }
    return next;
  }
}
