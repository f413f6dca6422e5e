import { createHash, randomBytes } from 'node:crypto';
import { SluiceError } from '../../kernel/errors.js';

/** A key that encrypts secrets: 32 bytes for AES-256-GCM, named by an id derived from the key itself. */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/** Where the keys come from, in words for people (`the key file /x/secrets.key`, `SLUICE_SECRETS_KEY`). */
export interface Keyring {
  readonly source: string;
  /** True when keys can be added (a key file); false when the key is given by the environment. */
  readonly rotatable: boolean;
  /** The key new values are encrypted under. */
  current(): SecretKey;
  /** The key of an id, if this keyring holds it. */
  byId(id: string): SecretKey | undefined;
  /** Makes a new random key current, keeping the others readable (written before it is used). */
  addKey(): SecretKey;
  /** Forgets every key but the current one (once nothing is encrypted under them). */
  retireOthers(): void;
}

/** The bytes of a key. */
export const KEY_BYTES = 32;

/** A key's id: the start of its SHA-256, so that the same key has the same id wherever it comes from. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** A key from its base64 text (`SLUICE_SECRETS_KEY`, a key file's line); `where` names it in the error. */
export function parseKey(text: string, where: string): SecretKey {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : Buffer.alloc(0);
  if (key.length !== KEY_BYTES)
    throw new SluiceError('CONFIG_INVALID', `${where} is not a secrets key: it must be the base64 of ${KEY_BYTES} bytes (make one with: openssl rand -base64 32)`);
  return { id: keyId(key), key };
}

/** A new random key. */
export function newKey(): SecretKey {
  const key = randomBytes(KEY_BYTES);
  return { id: keyId(key), key };
}
