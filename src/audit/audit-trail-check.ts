import type { AuditRecord } from './audit-record.js';
import type { AuditTrail } from './ports/audit-trail.js';
import { type ChainVerdict, verifyChain } from './verify-chain.js';

const PAGE = 1000;

/**
 * Verifies the whole trail as stored. Records appended meanwhile are not mistaken for tampering: the head is read
 * before and after the records, and the reading starts again if it moved.
 */
export async function verifyTrail(trail: Pick<AuditTrail, 'auditHead' | 'auditRecords'>): Promise<ChainVerdict> {
  for (let attempt = 0; ; attempt++) {
    const before = await trail.auditHead();
    const records: AuditRecord[] = [];
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const page = await trail.auditRecords(after, PAGE);
      records.push(...page);
      if (page.length < PAGE) break;
      after = page.at(-1)!.seq;
    }
    const afterwards = await trail.auditHead();
    if ((before.seq === afterwards.seq && before.hash === afterwards.hash) || attempt >= 5) return verifyChain(records, afterwards);
  }
}
