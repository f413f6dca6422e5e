import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SecretRecord, SecretStore } from './secret-store.js';

const rec = (stage: string, name: string, v: string, setAt = 1): SecretRecord => ({ stage, name, keyId: 'k1', nonce: `n-${v}`, ciphertext: `c-${v}`, setAt });

/** The contract of the SecretStore port. */
export function secretStoreContract(name: string, open: () => Promise<SecretStore & { close(): Promise<void> }>) {
  describe(`secret store contract: ${name}`, () => {
    let store: SecretStore & { close(): Promise<void> };
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    it('keeps secrets by stage and name, a second set replacing the first, ordered by stage then name', async () => {
      await store.putSecret(rec('prod', 'B', 'b1'));
      await store.putSecret(rec('prod', 'A', 'a1'));
      await store.putSecret(rec('beta', 'A', 'x1'));
      await store.putSecret(rec('prod', 'B', 'b2', 7));
      assert.deepEqual(await store.listSecrets('prod'), [rec('prod', 'A', 'a1'), rec('prod', 'B', 'b2', 7)]);
      assert.deepEqual((await store.listSecrets()).map((r) => `${r.stage}/${r.name}`), ['beta/A', 'prod/A', 'prod/B']);
      assert.deepEqual(await store.listSecrets('nowhere'), []);
    });

    it('unsets one secret of one stage', async () => {
      assert.equal(await store.deleteSecret('prod', 'A'), true);
      assert.equal(await store.deleteSecret('prod', 'A'), false);
      assert.deepEqual((await store.listSecrets()).map((r) => `${r.stage}/${r.name}`), ['beta/A', 'prod/B']);
    });

    it('re-encrypts all secrets at once, or none when one fails', async () => {
      await assert.rejects(
        store.reencryptSecrets((r) => {
          if (r.stage === 'prod') throw new Error('no key');
          return { ...r, keyId: 'k2', ciphertext: `${r.ciphertext}'` };
        }),
        /no key/,
      );
      assert.deepEqual((await store.listSecrets()).map((r) => r.keyId), ['k1', 'k1']);
      assert.equal(await store.reencryptSecrets((r) => ({ ...r, keyId: 'k2', nonce: `${r.nonce}2`, ciphertext: `${r.ciphertext}2` })), 2);
      assert.deepEqual(await store.listSecrets(), [
        { ...rec('beta', 'A', 'x1'), keyId: 'k2', nonce: 'n-x12', ciphertext: 'c-x12' },
        { ...rec('prod', 'B', 'b2', 7), keyId: 'k2', nonce: 'n-b22', ciphertext: 'c-b22' },
      ]);
    });
  });
}
