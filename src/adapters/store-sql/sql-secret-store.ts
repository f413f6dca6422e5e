import type { SecretRecord, SecretStore } from '../../secrets/ports/secret-store.js';
import type { SqlDriver } from './sql-driver.js';

interface SecretRow {
  stage: string;
  name: string;
  key_id: string;
  nonce: string;
  ciphertext: string;
  set_at: Date | string;
}

const toSecret = (r: SecretRow): SecretRecord => ({
  stage: r.stage,
  name: r.name,
  keyId: r.key_id,
  nonce: r.nonce,
  ciphertext: r.ciphertext,
  setAt: new Date(r.set_at).getTime(),
});

/** The secrets of stages in PostgreSQL (migration 0005), through either driver. */
export class SqlSecretStore implements SecretStore {
  constructor(private readonly db: SqlDriver) {}

  async putSecret(r: SecretRecord) {
    await this.db.query(
      `INSERT INTO secrets (stage, name, key_id, nonce, ciphertext, set_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (stage, name) DO UPDATE SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, set_at = EXCLUDED.set_at`,
      [r.stage, r.name, r.keyId, r.nonce, r.ciphertext, new Date(r.setAt)],
    );
  }

  async deleteSecret(stage: string, name: string) {
    const rows = await this.db.query(`DELETE FROM secrets WHERE stage = $1 AND name = $2 RETURNING name`, [stage, name]);
    return rows.length > 0;
  }

  async listSecrets(stage?: string) {
    const rows =
      stage === undefined
        ? await this.db.query<SecretRow>(`SELECT * FROM secrets ORDER BY stage, name`)
        : await this.db.query<SecretRow>(`SELECT * FROM secrets WHERE stage = $1 ORDER BY name`, [stage]);
    return rows.map(toSecret);
  }

  async reencryptSecrets(reencrypt: (r: SecretRecord) => SecretRecord) {
    return this.db.transaction(async (tx) => {
      const rows = (await tx.query<SecretRow>(`SELECT * FROM secrets ORDER BY stage, name FOR UPDATE`)).map(toSecret);
      for (const r of rows) {
        const n = reencrypt(r);
        await tx.query(`UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5 WHERE stage = $1 AND name = $2`, [r.stage, r.name, n.keyId, n.nonce, n.ciphertext]);
      }
      return rows.length;
    });
  }
}
