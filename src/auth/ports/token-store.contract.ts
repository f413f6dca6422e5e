import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditDraft, AuditTrail } from '../../audit/ports/audit-trail.js';
import type { TokenRecord, TokenStore } from './token-store.js';

/** The contract of the TokenStore port, on a store that keeps the audit trail too (a change and its record go together). */
export function tokenStoreContract(name: string, open: () => Promise<TokenStore & AuditTrail & { close(): Promise<void> }>) {
  describe(`token store contract: ${name}`, () => {
    let store: TokenStore & AuditTrail & { close(): Promise<void> };
    before(async () => {
      store = await open();
    });
    after(() => store.close());
    const rec = (id: string, name: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({ id, name, role: 'viewer', hash: `h-${id}`, createdAt: 10, ...extra });

    it('keeps tokens by hash', async () => {
      assert.equal(await store.countTokens(), 0);
      assert.equal(await store.createToken({ id: 't1', name: 'admin', role: 'admin', hash: 'h1', createdAt: 5 }), 'created');
      assert.deepEqual(await store.findTokenByHash('h1'), { id: 't1', name: 'admin', role: 'admin', hash: 'h1', createdAt: 5 });
      assert.equal(await store.findTokenByHash('h2'), undefined);
      assert.deepEqual(await store.findTokenById('t1'), { id: 't1', name: 'admin', role: 'admin', hash: 'h1', createdAt: 5 });
      assert.equal(await store.findTokenById('t9'), undefined);
      assert.equal(await store.countTokens(), 1);
    });

    it('keeps an expiry, and refuses a second token with the name of one not revoked, keeping nothing of it', async () => {
      assert.equal(await store.createToken(rec('t2', 'ci', { role: 'deployer', expiresAt: 9_000 })), 'created');
      assert.equal(await store.createToken(rec('t3', 'ci', { role: 'admin' })), 'name-taken');
      assert.equal(await store.findTokenByHash('h-t3'), undefined);
      assert.deepEqual(await store.findTokenByHash('h-t2'), rec('t2', 'ci', { role: 'deployer', expiresAt: 9_000 }));
      assert.equal(await store.countTokens(), 2);
    });

    it('revokes a token once; its name is then free, and the revoked one is still listed', async () => {
      assert.equal(await store.revokeToken('t2', 50), true);
      assert.equal(await store.revokeToken('t2', 60), false, 'a second revoke changes nothing');
      assert.equal(await store.revokeToken('nope', 60), false);
      assert.equal((await store.findTokenByHash('h-t2'))?.revokedAt, 50);
      assert.equal(await store.createToken(rec('t4', 'ci', { createdAt: 70 })), 'created');
      assert.deepEqual(
        (await store.listTokens()).map((t) => [t.id, t.name, t.revokedAt]),
        [['t1', 'admin', undefined], ['t2', 'ci', 50], ['t4', 'ci', undefined]],
      );
    });

    it('keeps the audit record of a token made or revoked with the change, and none of a change that did not happen', async () => {
      const draft = (action: string): AuditDraft => ({ actor: { kind: 'system', reason: 'test' }, action, reason: '', links: { token: 'audited' }, outcome: 'done' });
      const actions = async () => (await store.auditRecords(0, 100)).map((r) => [r.action, r.at]);
      assert.equal(await store.createToken(rec('t5', 'audited', { createdAt: 90 }), [draft('token.create')]), 'created');
      assert.equal(await store.createToken(rec('t6', 'audited', { createdAt: 91 }), [draft('token.create')]), 'name-taken');
      assert.equal(await store.revokeToken('t5', 95, [draft('token.revoke')]), true);
      assert.equal(await store.revokeToken('t5', 96, [draft('token.revoke')]), false);
      assert.deepEqual(await actions(), [
        ['token.create', 90],
        ['token.revoke', 95],
      ]);
    });

    it('records when a token was last used', async () => {
      await store.touchToken('t4', 80);
      await store.touchToken('nope', 80);
      assert.equal((await store.findTokenByHash('h-t4'))?.lastUsedAt, 80);
      assert.equal((await store.listTokens()).find((t) => t.id === 't4')?.lastUsedAt, 80);
    });
  });
}
