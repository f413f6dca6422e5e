import type { SecretRecord, SecretStore } from '../../secrets/ports/secret-store.js';

/** The in-memory fake of the secret store: the same contract, nothing kept. */
export class MemorySecretStore implements SecretStore {
  private rows = new Map<string, SecretRecord>();

  async putSecret(r: SecretRecord) {
    this.rows.set(JSON.stringify([r.stage, r.name]), { ...r });
  }

  async deleteSecret(stage: string, name: string) {
    return this.rows.delete(JSON.stringify([stage, name]));
  }

  async listSecrets(stage?: string) {
    return [...this.rows.values()]
      .filter((r) => stage === undefined || r.stage === stage)
      .sort((a, b) => (a.stage === b.stage ? cmp(a.name, b.name) : cmp(a.stage, b.stage)))
      .map((r) => ({ ...r }));
  }

  async reencryptSecrets(reencrypt: (r: SecretRecord) => SecretRecord) {
    const all = await this.listSecrets();
    // Computed in full before anything is replaced: a throw changes nothing.
    const next = all.map((r) => ({ ...reencrypt(r), stage: r.stage, name: r.name, setAt: r.setAt }));
    for (const r of next) this.rows.set(JSON.stringify([r.stage, r.name]), r);
    return next.length;
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
