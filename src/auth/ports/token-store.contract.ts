import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TokenStore } from './token-store.js';

/** The contract of the TokenStore port. */
export function tokenStoreContract(name: string, open: () => Promise<TokenStore & { close(): Promise<void> }>) {
  describe(`token store contract: ${name}`, () => {
    let store: TokenStore & { close(): Promise<void> };
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    it('keeps tokens by hash', async () => {
      assert.equal(await store.countTokens(), 0);
      await store.createToken({ id: 't1', name: 'admin', role: 'admin', hash: 'h1', createdAt: 5 });
      assert.deepEqual(await store.findTokenByHash('h1'), { id: 't1', name: 'admin', role: 'admin', hash: 'h1', createdAt: 5 });
      assert.equal(await store.findTokenByHash('h2'), undefined);
      assert.equal(await store.countTokens(), 1);
    });
  });
}
