import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openKeyring } from '../adapters/secrets-keyfile/keyring.js';
import { MemorySecretStore } from '../adapters/store-memory/memory-secret-store.js';
import { isSluiceError } from '../kernel/errors.js';
import { newKey } from './ports/keyring.js';
import { decryptSecret, encryptSecret } from './secret-cipher.js';
import { SecretService } from './secret-service.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('AES-256-GCM', () => {
  const k = newKey();
  it('round-trips, with a fresh nonce each time and no clear text', () => {
    const a = encryptSecret(k, 'prod', 'DB_PASSWORD', 'hunter2-✓');
    const b = encryptSecret(k, 'prod', 'DB_PASSWORD', 'hunter2-✓');
    assert.notEqual(a.nonce, b.nonce);
    assert.notEqual(a.ciphertext, b.ciphertext);
    assert.equal(Buffer.from(a.nonce, 'base64').length, 12);
    assert.ok(!Buffer.from(a.ciphertext, 'base64').toString('latin1').includes('hunter2'));
    assert.equal(decryptSecret(k, { stage: 'prod', name: 'DB_PASSWORD', ...a }), 'hunter2-✓');
  });
  it('a changed byte, another key, or a value moved to another stage or name does not decrypt', () => {
    const a = encryptSecret(k, 'prod', 'DB_PASSWORD', 'hunter2');
    const bytes = Buffer.from(a.ciphertext, 'base64');
    bytes[0]! ^= 1;
    const bad = /does not decrypt/;
    assert.throws(() => decryptSecret(k, { stage: 'prod', name: 'DB_PASSWORD', ...a, ciphertext: bytes.toString('base64') }), bad);
    assert.throws(() => decryptSecret(newKey(), { stage: 'prod', name: 'DB_PASSWORD', ...a }), bad);
    assert.throws(() => decryptSecret(k, { stage: 'beta', name: 'DB_PASSWORD', ...a }), bad);
    assert.throws(() => decryptSecret(k, { stage: 'prod', name: 'OTHER', ...a }), bad);
  });
});

describe('keyring', () => {
  it('a key file is made 0600 on first use and read again as it was', () => {
    const file = join(dir, 'k1', 'secrets.key');
    mkdirSync(join(dir, 'k1'), { mode: 0o700 });
    const a = openKeyring({ file });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const b = openKeyring({ file });
    assert.equal(b.current().id, a.current().id);
    assert.deepEqual(b.current().key, a.current().key);
  });
  it('SLUICE_SECRETS_KEY must be the base64 of 32 bytes, and wins over the file', () => {
    assert.throws(() => openKeyring({ envKey: 'c2hvcnQ=', file: join(dir, 'none') }), /SLUICE_SECRETS_KEY is not a secrets key: it must be the base64 of 32 bytes/);
    const k = openKeyring({ envKey: newKey().key.toString('base64'), file: join(dir, 'none') });
    assert.equal(k.rotatable, false);
  });
  it('a key file that is not one says where', () => {
    const file = join(dir, 'bad.key');
    writeFileSync(file, 'nonsense\n');
    assert.throws(() => openKeyring({ file }), /line 1 of .*bad.key is not a secrets key/);
  });
});

describe('secret service', () => {
  const file = join(dir, 'svc.key');
  const store = new MemorySecretStore();
  let now = 1000;
  const declared: Record<string, string[]> = { beta: ['DB_PASSWORD'], prod: ['DB_PASSWORD', 'API_KEY'] };
  const svc = () => new SecretService({ store, keyring: openKeyring({ file }), clock: { now: () => now }, declared: (s) => declared[s] });

  it('sets declared secrets only, and refuses bad input naming it, changing nothing', async () => {
    const s = svc();
    assert.deepEqual(await s.set('prod', 'DB_PASSWORD', 'p-prod'), { setAt: 1000, replaced: false });
    now = 2000;
    assert.deepEqual(await s.set('prod', 'DB_PASSWORD', 'p-prod-2'), { setAt: 2000, replaced: true });
    await s.set('beta', 'DB_PASSWORD', 'p-beta');
    const refused = async (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => isSluiceError(e) && re.test(e.message));
    await refused(s.set('prod', 'DB_PASWORD', 'x'), /stage prod declares no secret DB_PASWORD \(it declares DB_PASSWORD, API_KEY\)/);
    await refused(s.set('nope', 'DB_PASSWORD', 'x'), /the pipeline has no stage nope/);
    await refused(s.set('prod', 'API_KEY', ''), /empty/);
    await refused(s.set('prod', 'API_KEY', 'a\u0000b'), /NUL/);
    await refused(s.set('prod', 'API_KEY', '\uD800'), /not valid UTF-8/);
    await refused(s.set('prod', 'bad name', 'x'), /not an environment variable name/);
    assert.deepEqual((await store.listSecrets()).map((r) => `${r.stage}/${r.name}`), ['beta/DB_PASSWORD', 'prod/DB_PASSWORD']);
  });

  it('lists names and when they were set, never values', async () => {
    const l = await svc().list('prod');
    assert.deepEqual(l, [
      { name: 'API_KEY', declared: true },
      { name: 'DB_PASSWORD', declared: true, setAt: 2000 },
    ]);
    assert.ok(!JSON.stringify(await store.listSecrets()).includes('p-prod'));
  });

  it('gives each stage its own values, and a declared secret that is not set names the command that sets it', async () => {
    const s = svc();
    assert.deepEqual(await s.valuesFor({ name: 'beta', secrets: ['DB_PASSWORD'] }), { DB_PASSWORD: 'p-beta' });
    assert.deepEqual(await s.valuesFor({ name: 'web' }), {});
    await assert.rejects(s.valuesFor({ name: 'prod', secrets: ['DB_PASSWORD', 'API_KEY'] }), /stage prod needs secret API_KEY, not set: run `sluice secret set prod API_KEY`/);
  });

  it('rotation re-encrypts every secret under a new key, and the key file keeps only that key', async () => {
    const s = svc();
    const before = openKeyring({ file }).current().id;
    const r = await s.rotateKey();
    assert.notEqual(r.keyId, before);
    assert.equal(r.reencrypted, 2);
    assert.deepEqual([...new Set((await store.listSecrets()).map((x) => x.keyId))], [r.keyId]);
    assert.equal(readFileSync(file, 'utf8').split('\n').filter((l) => /^[0-9a-f]{16} /.test(l)).length, 1);
    assert.deepEqual(await svc().valuesFor({ name: 'prod', secrets: ['DB_PASSWORD'] }), { DB_PASSWORD: 'p-prod-2' });
    await s.unset('prod', 'DB_PASSWORD');
    await assert.rejects(s.unset('prod', 'DB_PASSWORD'), /stage prod has no secret DB_PASSWORD set/);
  });

  it('a key given by the environment cannot be rotated, and says how to', async () => {
    const s = new SecretService({ store, keyring: openKeyring({ envKey: newKey().key.toString('base64'), file }), clock: { now: () => now }, declared: (x) => declared[x] });
    await assert.rejects(s.rotateKey(), /comes from SLUICE_SECRETS_KEY, which Sluice cannot change: use a key file/);
    await assert.rejects(s.valuesFor({ name: 'beta', secrets: ['DB_PASSWORD'] }), /encrypted under key [0-9a-f]{16}, which SLUICE_SECRETS_KEY does not hold/);
  });
});
