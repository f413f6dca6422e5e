import { type AuditHead, type AuditRecord, EMPTY_HEAD, GENESIS_HASH, recordHash } from './audit-record.js';

/**
 * What is wrong with the first bad record:
 * - `edited`: its content is not what was hashed when it was written.
 * - `missing`: a record that should be there is not (a gap in the numbers, or the last records, which the head remembers).
 * - `out-of-order`: it follows another record than the one before it.
 * - `broken-link`: it does not follow the record before it, and no record it could follow is there.
 * - `unknown-tail`: records after the head, written outside the chain.
 */
export type ChainProblem = 'edited' | 'missing' | 'out-of-order' | 'broken-link' | 'unknown-tail';

export type ChainVerdict =
  | { ok: true; count: number; head: AuditHead }
  | { ok: false; count: number; head: AuditHead; firstBad: { seq: number; problem: ChainProblem; message: string } };

/**
 * Checks a chain of audit records, given in the order of their seq, against the head kept beside them. Names the
 * first bad record and what is wrong with it, or says the chain is whole.
 */
export function verifyChain(records: readonly AuditRecord[], head: AuditHead): ChainVerdict {
  const count = records.length;
  const bad = (seq: number, problem: ChainProblem, message: string): ChainVerdict => ({
    ok: false,
    count,
    head,
    firstBad: { seq, problem, message },
  });
  const seqOfHash = new Map<string, number>();
  for (const r of records) seqOfHash.set(r.hash, r.seq);
  let prev: AuditHead = EMPTY_HEAD;
  for (const r of records) {
    const expected = prev.seq + 1;
    if (r.seq > expected)
      return bad(expected, 'missing', expected === r.seq - 1 ? `record ${expected} is missing` : `records ${expected} to ${r.seq - 1} are missing`);
    if (r.seq < expected) return bad(r.seq, 'out-of-order', `record ${r.seq} appears again after record ${prev.seq}`);
    if (r.prevHash !== prev.hash) {
      const follows = seqOfHash.get(r.prevHash);
      if (follows !== undefined && follows !== prev.seq)
        return bad(r.seq, 'out-of-order', `record ${r.seq} was written after the record now numbered ${follows}, not after record ${prev.seq}: records were reordered`);
    }
    if (recordHash(r) !== r.hash) return bad(r.seq, 'edited', `record ${r.seq} (${r.action}) was changed after it was written: its hash does not match its content`);
    if (r.prevHash !== prev.hash)
      return bad(
        r.seq,
        'broken-link',
        prev.seq === 0 && r.prevHash !== GENESIS_HASH
          ? `record ${r.seq} is the first but does not start the chain: records before it are missing`
          : `record ${r.seq} does not follow record ${prev.seq}: record ${prev.seq} was replaced, or records between them are missing`,
      );
    prev = { seq: r.seq, hash: r.hash };
  }
  if (head.seq > prev.seq)
    return bad(prev.seq + 1, 'missing', prev.seq + 1 === head.seq ? `record ${head.seq} is missing (the head says the chain ends there)` : `records ${prev.seq + 1} to ${head.seq} are missing (the head says the chain ends at ${head.seq})`);
  if (head.seq < prev.seq) return bad(head.seq + 1, 'unknown-tail', `record ${head.seq + 1} and after are past the head (${head.seq}): written outside the audit trail`);
  if (head.hash !== prev.hash) return bad(prev.seq, 'edited', `record ${prev.seq} is not the record the head remembers: it was replaced`);
  return { ok: true, count, head };
}
