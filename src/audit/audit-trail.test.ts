import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import type { Actor } from '../kernel/actor.js';
import { type AuditDraft, type AuditRecord, canonicalJson, chainRecords, EMPTY_HEAD, recordHash } from './audit-record.js';
import { verifyChain } from './verify-chain.js';
import { auditTrailContract } from './ports/audit-trail.contract.js';

const alice: Actor = { kind: 'token', id: 't-1', name: 'alice', role: 'admin' };
const drafts: AuditDraft[] = Array.from({ length: 5 }, (_, i) => ({
  actor: i % 2 ? alice : { kind: 'system', reason: 'a timer fired' },
  action: i % 2 ? 'stage.approve' : 'stage.deploy',
  reason: `reason ${i}`,
  links: { release: `1.0.${i}`, stage: 'prod' },
  outcome: 'done',
  ...(i === 2 ? { detail: { code: 'X', n: [1, 2] } } : {}),
}));
const chain = () => chainRecords(EMPTY_HEAD, drafts, 1_700_000_000_000);

describe('audit records', () => {
  it('serialises canonically: keys sorted at every level, undefined left out, arrays kept in order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"z":1}]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  });

  it('chains each record to the one before, and the hash covers every field', () => {
    const { records, head } = chain();
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(head, { seq: 5, hash: records[4]!.hash });
    for (const r of records) assert.equal(recordHash(r), r.hash);
    const r = records[1]!;
    for (const change of [{ seq: 9 }, { at: 1 }, { actor: { ...alice, role: 'viewer' } }, { action: 'x' }, { reason: 'y' }, { links: {} }, { outcome: 'refused' }, { detail: 1 }, { prevHash: EMPTY_HEAD.hash }] as Partial<AuditRecord>[])
      assert.notEqual(recordHash({ ...r, ...change }), r.hash, `a change of ${Object.keys(change)[0]} changes the hash`);
    // Appending in two goes makes the same chain as in one.
    const first = chainRecords(EMPTY_HEAD, drafts.slice(0, 2), 1_700_000_000_000);
    assert.deepEqual([...first.records, ...chainRecords(first.head, drafts.slice(2), 1_700_000_000_000).records], records);
  });
});

describe('verifying the chain', () => {
  const { records, head } = chain();

  it('says a whole chain is ok, with its count and head; an empty one too', () => {
    assert.deepEqual(verifyChain(records, head), { ok: true, count: 5, head });
    assert.deepEqual(verifyChain([], EMPTY_HEAD), { ok: true, count: 0, head: EMPTY_HEAD });
  });

  const firstBad = (rs: AuditRecord[], h = head): { seq: number; problem: string } | undefined => {
    const v = verifyChain(rs, h);
    assert.equal(v.ok, false);
    return v.ok ? undefined : { seq: v.firstBad.seq, problem: v.firstBad.problem };
  };

  it('names an edited record, whichever record and field', () => {
    for (let i = 0; i < records.length; i++)
      for (const change of [{ reason: 'changed' }, { actor: alice }, { links: { release: 'other' } }, { at: 5 }, { action: 'stage.reject' }] as Partial<AuditRecord>[]) {
        const rs: AuditRecord[] = records.map((r, k): AuditRecord => (k === i ? { ...r, ...change } : r));
        if (canonicalJson(rs[i]) === canonicalJson(records[i])) continue;
        assert.deepEqual(firstBad(rs), { seq: i + 1, problem: 'edited' }, `record ${i + 1}, ${Object.keys(change)[0]}`);
      }
  });

  it('names the record after one edited with its hash recomputed: it no longer follows', () => {
    const rs = records.map((r) => ({ ...r }));
    rs[1]!.reason = 'rewritten';
    rs[1]!.hash = recordHash(rs[1]!);
    assert.deepEqual(firstBad(rs), { seq: 3, problem: 'broken-link' });
  });

  it('names a missing record, whichever it is, the last ones included (the head remembers them)', () => {
    for (let i = 0; i < records.length; i++) assert.deepEqual(firstBad(records.filter((_, k) => k !== i)), { seq: i + 1, problem: 'missing' }, `record ${i + 1} deleted`);
    assert.deepEqual(firstBad(records.slice(0, 2)), { seq: 3, problem: 'missing' });
    assert.deepEqual(firstBad([]), { seq: 1, problem: 'missing' });
  });

  it('names records reordered (their numbers swapped)', () => {
    for (let i = 0; i + 1 < records.length; i++) {
      const rs = records.map((r) => ({ ...r }));
      [rs[i]!.seq, rs[i + 1]!.seq] = [rs[i + 1]!.seq, rs[i]!.seq];
      rs.sort((a, b) => a.seq - b.seq);
      assert.deepEqual(firstBad(rs), { seq: i + 1, problem: 'out-of-order' }, `records ${i + 1} and ${i + 2} swapped`);
    }
  });

  it('names records past the head, and a last record the head does not know', () => {
    const extra = chainRecords(head, drafts.slice(0, 1), 1).records;
    assert.deepEqual(firstBad([...records, ...extra]), { seq: 6, problem: 'unknown-tail' });
    const replaced = { ...records[4]!, reason: 'new' };
    replaced.hash = recordHash(replaced);
    assert.deepEqual(firstBad([...records.slice(0, 4), replaced]), { seq: 5, problem: 'edited' });
  });
});

auditTrailContract('memory fake', async () => new MemoryStore());
