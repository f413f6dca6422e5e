import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditTrail } from '../../audit/ports/audit-trail.js';
import type { JourneyLog } from '../../journeys/ports/journey-log.js';
import type { Actor, AuditDraft, JourneyEvent, ReleaseStore } from './release-store.js';

type Store = ReleaseStore & Pick<JourneyLog, 'loadEvents'> & Pick<AuditTrail, 'auditRecords'> & { close(): Promise<void> };
const alice: Actor = { kind: 'token', id: 't-1', name: 'alice', role: 'deployer' };
const audit = (version: string): AuditDraft => ({ actor: alice, action: 'release.create', reason: '', links: { release: version }, outcome: 'done' });
const created = (version: string): Extract<JourneyEvent, { type: 'journey.created' }> => ({
  type: 'journey.created',
  release: { version, digest: `sha256:${version}` },
  plan: { app: 'a', artifact: { output: 'd' }, commit: { budgetMs: 1000, steps: [] }, stages: [] },
});

/** The contract of the ReleaseStore port: a release is created once, with its journey's first event, atomically. */
export function releaseStoreContract(name: string, open: () => Promise<Store>, reopen?: (s: Store) => Promise<Store>) {
  describe(`release store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    it('creates a release with its journey\'s first event, once', async () => {
      const r = { version: '1.0.0', digest: 'sha256:aa', createdAt: 1_700_000_000_123, sourceRef: 'main@abc', journeyId: 'j-1' };
      const first = await store.createRelease(r, created('1.0.0'), alice, [audit('1.0.0')]);
      assert.equal(first.created, true);
      assert.deepEqual(first.release, r);
      const again = await store.createRelease({ ...r, digest: 'sha256:bb', journeyId: 'j-2' }, created('1.0.0'), alice, [audit('1.0.0')]);
      assert.equal(again.created, false);
      assert.deepEqual(again.release, r, 'the existing release, with its own digest and journey');
      assert.deepEqual(await store.getRelease('1.0.0'), r);
      assert.equal(await store.getRelease('nope'), undefined);
      const events = await store.loadEvents('j-1');
      assert.deepEqual(events.map((e) => [e.type, e.seq, e.at, e.actor]), [['journey.created', 0, r.createdAt, alice]]);
      assert.deepEqual(await store.loadEvents('j-2'), [], 'the second create started no journey');
      const records = await store.auditRecords(0, 10);
      assert.deepEqual(records.map((x) => [x.seq, x.action, x.links.release, x.at]), [[1, 'release.create', '1.0.0', r.createdAt]], 'one audit record, with the release; none for the second create');
    });

    it('lists releases in the order they were made', async () => {
      await store.createRelease({ version: '0.9.0', digest: 'sha256:cc', createdAt: 1_700_000_009_000, journeyId: 'j-3' }, created('0.9.0'), alice);
      assert.deepEqual((await store.listReleases()).map((r) => r.version), ['1.0.0', '0.9.0']);
    });

    it('keeps the token that created a release, and none for a release made without one', async () => {
      const r = { version: '2.0.0', digest: 'sha256:dd', createdAt: 1_700_000_010_000, journeyId: 'j-4', createdBy: { id: 'tok-1', name: 'ci' } };
      const first = await store.createRelease(r, { ...created('2.0.0'), createdBy: r.createdBy }, alice);
      assert.deepEqual(first.release, r);
      assert.deepEqual(await store.getRelease('2.0.0'), r);
      const again = await store.createRelease({ ...r, journeyId: 'j-5', createdBy: { id: 'tok-2', name: 'someone-else' } }, created('2.0.0'), alice);
      assert.deepEqual(again.release.createdBy, { id: 'tok-1', name: 'ci' }, 'the creator is the first one, kept');
      assert.equal((await store.getRelease('1.0.0'))!.createdBy, undefined);
      const events = await store.loadEvents('j-4');
      assert.deepEqual((events[0] as { createdBy?: unknown }).createdBy, { id: 'tok-1', name: 'ci' }, "the journey's first event names the creator too");
    });

    if (reopen)
      it('keeps releases across a close and reopen', async () => {
        const list = await store.listReleases();
        store = await reopen(store);
        assert.deepEqual(await store.listReleases(), list);
      });
  });
}
