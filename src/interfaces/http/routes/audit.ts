import { verifyTrail } from '../../../audit/audit-trail-check.js';
import { SluiceError } from '../../../kernel/errors.js';
import { auditApi } from '../contract/audit.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

const limitOf = (s: string | undefined, fallback: number) => {
  const n = s === undefined ? fallback : Number(s);
  if (n < 1 || n > 1000) throw new SluiceError('BAD_REQUEST', `limit must be between 1 and 1000, not ${n}`);
  return n;
};

export function auditRoutes(r: Registrar, d: ApiDeps): void {
  r.route(auditApi.list, async ({ query: q }) =>
    d.audit.listAudit({
      limit: limitOf(q.limit, 100),
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.release !== undefined ? { release: q.release } : {}),
      ...(q.stage !== undefined ? { stage: q.stage } : {}),
      ...(q.since !== undefined ? { since: Number(q.since) } : {}),
    }),
  );
  r.route(auditApi.records, async ({ query: q }) => {
    const head = await d.audit.auditHead();
    return { head, records: await d.audit.auditRecords(q.after === undefined ? 0 : Number(q.after), limitOf(q.limit, 500)) };
  });
  r.route(auditApi.verify, async () => verifyTrail(d.audit));
}
