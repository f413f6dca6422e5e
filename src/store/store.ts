import { SluiceError } from '../core/errors.js';
import type { JourneyEvent, StoredEvent } from '../core/journey-events.js';

export interface ReleaseRecord {
  version: string;
  digest: string;
  sourceRef?: string;
  createdAt: number;
}

export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  createdAt: number;
}

/** Everything Sluice keeps. Implemented on SQL (PGlite and PostgreSQL) and in memory for unit tests. */
export interface Store {
  /**
   * Records a new release and its journey's first event together, or returns the existing release unchanged.
   * `created` is false when the version already existed (whatever its digest: the caller compares).
   */
  createRelease(r: ReleaseRecord, first: JourneyEvent): Promise<{ release: ReleaseRecord; created: boolean }>;
  getRelease(version: string): Promise<ReleaseRecord | undefined>;
  listReleases(): Promise<ReleaseRecord[]>;
  /**
   * Appends events to a journey after position `expectedSeq`. Throws CONFLICT if another writer got there first;
   * nothing is written in that case.
   */
  appendEvents(journeyId: string, expectedSeq: number, events: JourneyEvent[], at: number): Promise<StoredEvent[]>;
  /** Events in global order; of one journey, or of all. */
  loadEvents(journeyId?: string): Promise<StoredEvent[]>;
  /** Events with id > afterId, in order, at most `limit`. */
  eventsAfter(afterId: number, limit: number): Promise<StoredEvent[]>;
  createToken(t: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  countTokens(): Promise<number>;
  close(): Promise<void>;
}

export function conflict(journeyId: string, expectedSeq: number): SluiceError {
  return new SluiceError('CONFLICT', `journey ${journeyId} moved past ${expectedSeq} meanwhile; reload and retry`, {
    journeyId,
    expectedSeq,
  });
}

/** The in-memory fake: same contract, no persistence. */
export class MemoryStore implements Store {
  private releases = new Map<string, ReleaseRecord>();
  private events: StoredEvent[] = [];
  private tokens: TokenRecord[] = [];

  async createRelease(r: ReleaseRecord, first: JourneyEvent) {
    const existing = this.releases.get(r.version);
    if (existing) return { release: existing, created: false };
    this.releases.set(r.version, r);
    this.push(r.version, 0, first, r.createdAt);
    return { release: r, created: true };
  }
  async getRelease(version: string) {
    return this.releases.get(version);
  }
  async listReleases() {
    return [...this.releases.values()];
  }
  async appendEvents(journeyId: string, expectedSeq: number, events: JourneyEvent[], at: number) {
    const last = this.events.filter((e) => e.journeyId === journeyId).at(-1)?.seq ?? -1;
    if (last !== expectedSeq) throw conflict(journeyId, expectedSeq);
    return events.map((e, i) => this.push(journeyId, expectedSeq + 1 + i, e, at));
  }
  private push(journeyId: string, seq: number, e: JourneyEvent, at: number): StoredEvent {
    const stored = { ...structuredClone(e), id: this.events.length + 1, journeyId, seq, at } as StoredEvent;
    this.events.push(stored);
    return stored;
  }
  async loadEvents(journeyId?: string) {
    return this.events
      .filter((e) => journeyId === undefined || e.journeyId === journeyId)
      .map((e) => structuredClone(e));
  }
  async eventsAfter(afterId: number, limit: number) {
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
  async createToken(t: TokenRecord) {
    this.tokens.push(t);
  }
  async findTokenByHash(hash: string) {
    return this.tokens.find((t) => t.hash === hash);
  }
  async countTokens() {
    return this.tokens.length;
  }
  async close() {}
}
