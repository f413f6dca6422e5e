/** A secret as it is kept: its value encrypted (AES-256-GCM) under the key `keyId`, never in the clear. */
export interface SecretRecord {
  stage: string;
  name: string;
  /** The id of the key it is encrypted under (see the keyring). */
  keyId: string;
  /** The 12-byte nonce, base64. */
  nonce: string;
  /** The ciphertext followed by the 16-byte authentication tag, base64. */
  ciphertext: string;
  setAt: number;
}

/** Where the secrets of stages are kept, encrypted. */
export interface SecretStore {
  /** Sets a stage's secret, replacing any value it had. */
  putSecret(r: SecretRecord): Promise<void>;
  /** Removes a stage's secret; false when it was not set. */
  deleteSecret(stage: string, name: string): Promise<boolean>;
  /** The secrets of one stage, or of every stage, ordered by stage then name. */
  listSecrets(stage?: string): Promise<SecretRecord[]>;
  /**
   * Rewrites every secret through `reencrypt` in one transaction: all are rewritten or none is (a throw of `reencrypt`
   * changes nothing). The number rewritten.
   */
  reencryptSecrets(reencrypt: (r: SecretRecord) => SecretRecord): Promise<number>;
}
