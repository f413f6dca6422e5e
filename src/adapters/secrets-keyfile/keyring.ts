import { chmodSync, readFileSync } from 'node:fs';
import { SluiceError } from '../../kernel/errors.js';
import { writeFileAtomic } from '../../platform/files.js';
import { type Keyring, newKey, parseKey, type SecretKey } from '../../secrets/ports/keyring.js';

/**
 * The keys that encrypt secrets. From `SLUICE_SECRETS_KEY` (base64 of 32 bytes) when it is set: one key, which Sluice
 * cannot rotate. Else from a key file (0600; made with a random key when it does not exist): one key a line, as
 * `<id> <base64>`, the first the current one.
 */
export function openKeyring(o: { envKey?: string; file: string }): Keyring {
  if (o.envKey !== undefined) {
    const k = parseKey(o.envKey, 'SLUICE_SECRETS_KEY');
    return {
      source: 'SLUICE_SECRETS_KEY',
      rotatable: false,
      current: () => k,
      byId: (id) => (id === k.id ? k : undefined),
      addKey: () => {
        throw new SluiceError('CONFIG_INVALID', 'the secrets key comes from SLUICE_SECRETS_KEY: Sluice cannot add a key to it');
      },
      retireOthers: () => {},
    };
  }
  return new FileKeyring(o.file);
}

class FileKeyring implements Keyring {
  readonly rotatable = true;
  readonly source: string;
  private keys: SecretKey[];

  constructor(private readonly file: string) {
    this.source = `the key file ${file}`;
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SluiceError('CONFIG_INVALID', `cannot read the secrets key file ${file}: ${(e as Error).message}`);
    }
    if (text === undefined) {
      this.keys = [newKey()];
      this.write();
    } else {
      this.keys = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
        .map((l, i) => {
          const [id, b64] = l.split(/\s+/);
          const k = parseKey(b64 ?? id ?? '', `line ${i + 1} of ${file}`);
          if (b64 !== undefined && id !== k.id) throw new SluiceError('CONFIG_INVALID', `line ${i + 1} of ${file}: the key's id is ${k.id}, not ${id}`);
          return k;
        });
      if (this.keys.length === 0) throw new SluiceError('CONFIG_INVALID', `the secrets key file ${file} holds no key`);
      // A key file is for this user's eyes only, whoever made it.
      chmodSync(file, 0o600);
    }
  }

  current(): SecretKey {
    return this.keys[0]!;
  }

  byId(id: string): SecretKey | undefined {
    return this.keys.find((k) => k.id === id);
  }

  addKey(): SecretKey {
    const k = newKey();
    this.keys = [k, ...this.keys];
    this.write();
    return k;
  }

  retireOthers(): void {
    this.keys = this.keys.slice(0, 1);
    this.write();
  }

  /** Written whole and synced to a new file (0600), then renamed: a crash leaves the old file or the new one. */
  private write(): void {
    const text = `# Sluice secrets keys: keep this file, and a copy of it apart from the data; the first line is the current key.\n${this.keys
      .map((k) => `${k.id} ${k.key.toString('base64')}`)
      .join('\n')}\n`;
    writeFileAtomic(this.file, text);
  }
}
