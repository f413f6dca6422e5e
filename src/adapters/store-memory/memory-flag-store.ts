import type {
  AuditDraft,
  EvaluationCountInput,
  EvaluationStat,
  FlagChange,
  FlagEvent,
  FlagEventFilter,
  FlagKeyRecord,
  FlagSnapshot,
  FlagStore,
  StageState,
} from '../../flags/ports/flag-store.js';
import { ERROR_VARIANT } from '../../flags/ports/flag-store.js';

const emptyStage = (): StageState => ({ revision: 0, segments: {}, segmentFileHashes: {}, flags: {} });

/** The in-memory fake of the flag store: the same contract, nothing kept. Audit records go to the chain it is given. */
export class MemoryFlagStore implements FlagStore {
  private state: FlagSnapshot = { defs: {}, stages: {} };
  private events: FlagEvent[] = [];
  private keys: FlagKeyRecord[] = [];
  private stats = new Map<string, EvaluationStat>();
  /** Changes run one after another, as the SQL store's lock makes them. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly appendAudit: (drafts: readonly AuditDraft[], at: number) => unknown) {}

  async flagSnapshot() {
    return structuredClone(this.state);
  }

  changeFlags<T>(at: number, decide: (now: FlagSnapshot) => { change: FlagChange; result: T }) {
    const run = this.queue.then(() => this.apply(at, decide));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private apply<T>(at: number, decide: (now: FlagSnapshot) => { change: FlagChange; result: T }) {
    // `decide` works on a copy: a throw leaves the state as it was.
    const { change, result } = decide(structuredClone(this.state));
    const next = structuredClone(this.state);
    for (const d of change.defs?.put ?? []) next.defs[d.key] = structuredClone(d);
    for (const k of change.defs?.remove ?? []) delete next.defs[k];
    const revisions: Record<string, number> = {};
    for (const [stage, c] of Object.entries(change.stages)) {
      const s = next.stages[stage] ?? emptyStage();
      for (const [k, r] of Object.entries(c.put ?? {})) s.flags[k] = structuredClone(r);
      for (const k of c.remove ?? []) delete s.flags[k];
      if (c.segments) s.segments = structuredClone(c.segments);
      if (c.segmentFileHashes) s.segmentFileHashes = { ...c.segmentFileHashes };
      s.revision += 1;
      revisions[stage] = s.revision;
      next.stages[stage] = s;
    }
    this.state = next;
    for (const e of change.events)
      this.events.push({
        ...structuredClone(e),
        id: this.events.length + 1,
        at,
        actor: structuredClone(change.actor),
        reason: change.reason,
        links: { ...change.links },
        revisions,
      });
    this.appendAudit(change.audit, at);
    return { result, revisions };
  }

  async flagEvents(f: FlagEventFilter) {
    const all = this.events.filter(
      (e) => (f.stage === undefined || e.stage === undefined || e.stage === f.stage) && (f.flag === undefined || e.flag === f.flag),
    );
    return structuredClone(all.slice(Math.max(0, all.length - f.limit)));
  }

  async createFlagKey(k: FlagKeyRecord, audit: readonly AuditDraft[]) {
    this.keys.push({ ...k });
    this.appendAudit(audit, k.createdAt);
  }

  async listFlagKeys(stage?: string) {
    return this.keys.filter((k) => stage === undefined || k.stage === stage).map((k) => ({ ...k }));
  }

  async revokeFlagKey(id: string, at: number, audit: readonly AuditDraft[]) {
    const k = this.keys.find((x) => x.id === id && x.revokedAt === undefined);
    if (!k) return false;
    k.revokedAt = at;
    this.appendAudit(audit, at);
    return true;
  }

  async recordEvaluations(counts: readonly EvaluationCountInput[]) {
    for (const c of counts) {
      const key = JSON.stringify([c.stage, c.flag]);
      const s = this.stats.get(key) ?? { stage: c.stage, flag: c.flag, lastAt: c.lastAt, variants: {} };
      const v = c.variant ?? ERROR_VARIANT;
      s.variants[v] = (s.variants[v] ?? 0) + c.count;
      s.lastAt = Math.max(s.lastAt, c.lastAt);
      this.stats.set(key, s);
    }
  }

  async evaluationStats() {
    return [...this.stats.values()]
      .sort((a, b) => (a.stage === b.stage ? cmp(a.flag, b.flag) : cmp(a.stage, b.stage)))
      .map((s) => structuredClone(s));
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
