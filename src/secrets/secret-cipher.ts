import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SluiceError } from '../kernel/errors.js';
import type { SecretKey } from './ports/keyring.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** What the value is bound to: a ciphertext moved to another stage or name does not decrypt. */
const aad = (stage: string, name: string) => Buffer.from(`sluice-secret\u0000${stage}\u0000${name}`, 'utf8');

/** Encrypts a value with AES-256-GCM under `k`, with a fresh random 12-byte nonce. */
export function encryptSecret(k: SecretKey, stage: string, name: string, value: string): { keyId: string; nonce: string; ciphertext: string } {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', k.key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad(stage, name));
  const body = Buffer.concat([c.update(value, 'utf8'), c.final(), c.getAuthTag()]);
  return { keyId: k.id, nonce: nonce.toString('base64'), ciphertext: body.toString('base64') };
}

/** Decrypts a value; a wrong key or a changed ciphertext is an error that names the secret, never a wrong value. */
export function decryptSecret(k: SecretKey, r: { stage: string; name: string; nonce: string; ciphertext: string }): string {
  const body = Buffer.from(r.ciphertext, 'base64');
  const nonce = Buffer.from(r.nonce, 'base64');
  try {
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new Error('truncated');
    const d = createDecipheriv('aes-256-gcm', k.key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(aad(r.stage, r.name));
    d.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]).toString('utf8');
  } catch {
    throw new SluiceError('INTERNAL', `secret ${r.name} of stage ${r.stage} does not decrypt with key ${k.id}: it was changed, or the key is not the one it was set with`);
  }
}
