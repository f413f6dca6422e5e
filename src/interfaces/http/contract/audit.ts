import { z } from 'zod';
import { defineRoute } from './route.js';

const actor = z.union([
  z.object({ kind: z.literal('token'), id: z.string(), name: z.string(), role: z.enum(['viewer', 'deployer', 'approver', 'admin']) }),
  z.object({ kind: z.literal('system'), reason: z.string() }),
]);

export const auditRecord = z.object({
  seq: z.number(),
  at: z.number().describe('epoch ms'),
  actor,
  action: z.string().describe('what was done: release.create, stage.approve, stage.rollback, token.create, …'),
  reason: z.string(),
  links: z.record(z.string(), z.string()).describe('what it is about, by kind: release, journey, stage, token'),
  outcome: z.enum(['done', 'refused']),
  detail: z.unknown().optional(),
  prevHash: z.string(),
  hash: z.string(),
});

const head = z.object({ seq: z.number(), hash: z.string() });
const name = z.string().min(1).max(100);

export const auditApi = {
  list: defineRoute({
    method: 'GET',
    path: '/api/v1/audit',
    summary: 'Audit records, newest last; every filter narrows (actor: a token name, or sluice)',
    tag: 'audit',
    auth: 'token',
    query: z.object({
      actor: name.optional(),
      action: name.optional(),
      release: z.string().min(1).max(64).optional(),
      stage: z.string().min(1).max(63).optional(),
      since: z.string().regex(/^\d{1,15}$/, 'epoch milliseconds').optional(),
      limit: z.string().regex(/^\d{1,4}$/, 'a number').optional().describe('at most 1000 (default 100)'),
    }),
    response: z.array(auditRecord),
  }),
  records: defineRoute({
    method: 'GET',
    path: '/api/v1/audit/records',
    summary: 'The chain as stored, in order, a page at a time (?after=<seq>), with its head: what `sluice audit export` writes',
    tag: 'audit',
    auth: 'token',
    query: z.object({ after: z.string().regex(/^\d{1,15}$/, 'a record number').optional(), limit: z.string().regex(/^\d{1,4}$/, 'a number').optional() }),
    response: z.object({ head, records: z.array(auditRecord) }),
  }),
  verify: defineRoute({
    method: 'GET',
    path: '/api/v1/audit/verify',
    summary: 'Checks the hash chain: ok with the count and head, or the first bad record and what is wrong with it',
    tag: 'audit',
    auth: 'token',
    response: z.object({
      ok: z.boolean(),
      count: z.number(),
      head,
      firstBad: z.object({ seq: z.number(), problem: z.enum(['edited', 'missing', 'out-of-order', 'broken-link', 'unknown-tail']), message: z.string() }).optional(),
    }),
  }),
};
