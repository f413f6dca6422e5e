import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/adapters/store-sql/open-store.js';
import { verifyChain } from '../../src/audit/verify-chain.js';
import { FlagService } from '../../src/flags/flag-service.js';
import { pgAdmin, pgUrlOf } from '../helpers/pg-databases.js';

// Two replicas on one PostgreSQL server, each with its own connection and FlagService, toggling the same flag at
// once: no change is lost, every change has its own revision, event and audit record, and the audit chain holds.
const db = `sluice_test_flags_${process.pid}_${Date.now()}`;
const url = () => pgUrlOf(db);

describe('flags across two replicas on one PostgreSQL', () => {
  after(() => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));

  it('serialises concurrent changes: each sees the one before, none is lost or half-written', async () => {
    await pgAdmin(`CREATE DATABASE ${db}`);
    const [s1, s2] = [await openStore({ dataDir: 'unused', databaseUrl: url() }), await openStore({ dataDir: 'unused', databaseUrl: url() })];
    try {
      const service = (s: typeof s1) =>
        new FlagService({ store: s.flags, serving: undefined, clock: { now: () => Date.now() }, stages: () => ['prod'], changeRoles: () => ['deployer'] });
      const [a, b] = [service(s1), service(s2)];
      const actor = { kind: 'token', id: 't', name: 'ops', role: 'admin' } as const;
      await a.define({ actor, reason: '' }, { key: 'x', type: 'number', variants: Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`v${i}`, i])), description: '', owner: '' });
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).set({ actor, reason: `to v${i}` }, 'prod', 'x', { defaultVariant: `v${i}` })));
      const events = await s1.flags.flagEvents({ flag: 'x', limit: 100 });
      const sets = events.filter((e) => e.type === 'flag.set');
      assert.equal(sets.length, 20);
      assert.deepEqual(sets.map((e) => e.revisions.prod), Array.from({ length: 20 }, (_, i) => i + 2), 'one revision per change, in order, no gap');
      const snap = await s2.flags.flagSnapshot();
      assert.equal(snap.stages.prod?.revision, 21);
      assert.equal(snap.stages.prod?.flags.x?.config.defaultVariant, (sets.at(-1)!.data as { defaultVariant: string }).defaultVariant, 'the projection is the last event');
      const records = await s1.auditRecords(0, 1000);
      assert.equal(records.filter((r) => r.action === 'flag.set').length, 20);
      assert.equal(verifyChain(records, await s1.auditHead()).ok, true);
    } finally {
      await s1.close();
      await s2.close();
    }
  });
});
