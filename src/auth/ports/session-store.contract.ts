import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SessionRecord, SessionStore } from './session-store.js';

/** The contract of the SessionStore port. */
export function sessionStoreContract(name: string, open: () => Promise<SessionStore & { close(): Promise<void> }>) {
  describe(`session store contract: ${name}`, () => {
    let store: SessionStore & { close(): Promise<void> };
    before(async () => {
      store = await open();
    });
    after(() => store.close());
    const rec = (id: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({ id, hash: `h-${id}`, tokenId: 't1', csrf: `c-${id}`, createdAt: 1_000, expiresAt: 5_000, ...extra });

    it('keeps sessions by hash', async () => {
      await store.createSession(rec('s1'));
      await store.createSession(rec('s2', { tokenId: 't2', expiresAt: 9_000 }));
      assert.deepEqual(await store.findSessionByHash('h-s1'), rec('s1'));
      assert.deepEqual(await store.findSessionByHash('h-s2'), rec('s2', { tokenId: 't2', expiresAt: 9_000 }));
      assert.equal(await store.findSessionByHash('h-none'), undefined);
    });

    it('moves a session’s end', async () => {
      await store.extendSession('s1', 7_000);
      await store.extendSession('nope', 7_000);
      assert.equal((await store.findSessionByHash('h-s1'))?.expiresAt, 7_000);
    });

    it('ends a session once, and forgets the ones that ended', async () => {
      assert.equal(await store.deleteSession('s1'), true);
      assert.equal(await store.deleteSession('s1'), false);
      assert.equal(await store.findSessionByHash('h-s1'), undefined);
      await store.createSession(rec('s3', { expiresAt: 2_000 }));
      assert.equal(await store.deleteExpiredSessions(3_000), 1);
      assert.equal(await store.findSessionByHash('h-s3'), undefined);
      assert.ok(await store.findSessionByHash('h-s2'), 'a session that has not ended is kept');
    });
  });
}
