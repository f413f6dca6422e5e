import type { Clock } from '../kernel/clock.js';
import { SluiceError } from '../kernel/errors.js';
import { decryptSecret, encryptSecret } from './secret-cipher.js';
import type { Keyring } from './ports/keyring.js';
import type { SecretRecord, SecretStore } from './ports/secret-store.js';

/** A secret's name: an environment variable name that is none of those Sluice sets itself. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** The longest value, in bytes: it travels as an environment variable. */
export const MAX_SECRET_BYTES = 64 * 1024;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What `secret list` shows of a stage's secret: never its value. */
export interface SecretListing {
  name: string;
  /** Declared in the stage of the current pipeline file. */
  declared: boolean;
  /** When it was set; absent when it is not set. */
  setAt?: number;
  /** Set for a value Sluice keeps for the stage's workloads itself (`sluiceValue`): what it is for. */
  keptBySluice?: string;
}

/** The values Sluice keeps for a stage's workloads itself, and what each is for. */
export const SLUICE_VALUES: Readonly<Record<string, string>> = { SLUICE_FLAGS_KEY: "the stage's flag key" };

export interface SecretServiceOptions {
  store: SecretStore;
  keyring: Keyring;
  clock: Clock;
  /** The secrets a stage of the current pipeline declares; undefined when there is no such stage. */
  declared: (stage: string) => readonly string[] | undefined;
}

/** The command that sets a secret, as an error message names it. */
export const setCommand = (stage: string, name: string) => `sluice secret set ${stage} ${name}`;

/** Sets, lists, unsets and reads stages' secrets, and rotates the key they are encrypted under. */
export class SecretService {
  constructor(private readonly o: SecretServiceOptions) {}

  /** Sets a declared secret of a stage. Bad input changes nothing and says what and where. */
  async set(stage: string, name: string, value: string): Promise<{ setAt: number; replaced: boolean }> {
    this.checkDeclared(stage, name);
    if (value.length === 0) throw new SluiceError('BAD_REQUEST', `the value of ${name} is empty; pipe the value into ${setCommand(stage, name)}`);
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES)
      throw new SluiceError('BAD_REQUEST', `the value of ${name} is longer than ${MAX_SECRET_BYTES} bytes`);
    if (value.includes('\u0000')) throw new SluiceError('BAD_REQUEST', `the value of ${name} contains a NUL byte, which no environment variable can hold`);
    if (LONE_SURROGATE.test(value)) throw new SluiceError('BAD_REQUEST', `the value of ${name} is not valid UTF-8 text`);
    const replaced = (await this.o.store.listSecrets(stage)).some((r) => r.name === name);
    const setAt = this.o.clock.now();
    await this.o.store.putSecret({ stage, name, setAt, ...encryptSecret(this.o.keyring.current(), stage, name, value) });
    return { setAt, replaced };
  }

  /** Removes a stage's secret. */
  async unset(stage: string, name: string): Promise<void> {
    this.checkName(name);
    if (!(await this.o.store.deleteSecret(stage, name))) throw new SluiceError('NOT_FOUND', `stage ${stage} has no secret ${name} set`);
  }

  /** The stage's secrets, declared or set: names and when they were set, never values. */
  async list(stage: string): Promise<SecretListing[]> {
    const declared = this.o.declared(stage);
    const set = await this.o.store.listSecrets(stage);
    if (declared === undefined && set.length === 0) throw new SluiceError('NOT_FOUND', `the pipeline has no stage ${stage}`);
    const names = [...new Set([...(declared ?? []), ...set.map((r) => r.name)])].sort();
    return names.map((name) => {
      const r = set.find((x) => x.name === name);
      const kept = SLUICE_VALUES[name];
      return { name, declared: declared?.includes(name) ?? false, ...(r ? { setAt: r.setAt } : {}), ...(kept ? { keptBySluice: kept } : {}) };
    });
  }

  /**
   * The values of the secrets a stage declares, for its workloads. A declared secret that is not set is an error that
   * names the command to run.
   */
  async valuesFor(stage: { name: string; secrets?: readonly string[] }): Promise<Record<string, string>> {
    const names = stage.secrets ?? [];
    if (names.length === 0) return {};
    const set = await this.o.store.listSecrets(stage.name);
    const out: Record<string, string> = {};
    const missing: string[] = [];
    for (const name of names) {
      const r = set.find((x) => x.name === name);
      if (r) out[name] = this.decrypt(r);
      else missing.push(name);
    }
    if (missing.length > 0)
      throw new SluiceError(
        'INVALID_STATE',
        `stage ${stage.name} needs secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, not set: run ${missing.map((n) => `\`${setCommand(stage.name, n)}\``).join(', ')} (the value is read from stdin)`,
      );
    return out;
  }

  /**
   * A value Sluice keeps for a stage's workloads itself (its flag key, `SLUICE_FLAGS_KEY`), encrypted and rotated like
   * the stage's secrets: the one stored, or `mint()`'s, stored first. It is listed among the stage's secrets; unsetting
   * it makes a new one at the next start.
   */
  async sluiceValue(stage: string, name: string, mint: () => string): Promise<string> {
    const stored = async () => (await this.o.store.listSecrets(stage)).find((r) => r.name === name);
    const found = await stored();
    if (found) return this.decrypt(found);
    await this.o.store.putSecret({ stage, name, setAt: this.o.clock.now(), ...encryptSecret(this.o.keyring.current(), stage, name, mint()) });
    // Read back: of two replicas minting at once, both go on with the value stored last.
    return this.decrypt((await stored())!);
  }

  /**
   * Encrypts every secret under a new key, in one transaction; then the old keys are forgotten. A crash in between
   * leaves both keys in the key file, and every secret readable.
   */
  async rotateKey(): Promise<{ keyId: string; reencrypted: number }> {
    const k = this.o.keyring;
    if (!k.rotatable)
      throw new SluiceError('CONFIG_INVALID', `the secrets key comes from ${k.source}, which Sluice cannot change: use a key file (--secrets-key-file) to rotate`);
    const next = k.addKey();
    const reencrypted = await this.o.store.reencryptSecrets((r) => ({ ...r, ...encryptSecret(next, r.stage, r.name, this.decrypt(r)) }));
    k.retireOthers();
    return { keyId: next.id, reencrypted };
  }

  private decrypt(r: SecretRecord): string {
    const key = this.o.keyring.byId(r.keyId);
    if (!key)
      throw new SluiceError('CONFIG_INVALID', `secret ${r.name} of stage ${r.stage} is encrypted under key ${r.keyId}, which ${this.o.keyring.source} does not hold`);
    return decryptSecret(key, r);
  }

  private checkName(name: string): void {
    if (!SECRET_NAME.test(name)) throw new SluiceError('BAD_REQUEST', `secret name ${JSON.stringify(name)} is not an environment variable name (letters, digits, _)`);
  }

  private checkDeclared(stage: string, name: string): void {
    this.checkName(name);
    const declared = this.o.declared(stage);
    if (declared === undefined) throw new SluiceError('NOT_FOUND', `the pipeline has no stage ${stage}`);
    if (!declared.includes(name))
      throw new SluiceError(
        'BAD_REQUEST',
        `stage ${stage} declares no secret ${name}${declared.length ? ` (it declares ${declared.join(', ')})` : ''}: add it to the stage's secrets in the pipeline file first`,
      );
  }
}
