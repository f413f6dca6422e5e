import type { AuditDraft, EnvironmentRecord, EnvironmentStore } from '../../environments/ports/environment-store.js';

/** The in-memory fake of the environment store: the same contract, nothing kept. Audit records go to the chain it is given. */
export class MemoryEnvironmentStore implements EnvironmentStore {
  private rows = new Map<string, EnvironmentRecord>();

  constructor(private readonly appendAudit: (drafts: readonly AuditDraft[], at: number) => unknown) {}

  // No await between the check and the write: two calls cannot both see the state they expect.
  async putEnvironment(e: EnvironmentRecord, expect: Pick<EnvironmentRecord, 'deploys' | 'status'> | undefined, audit: readonly AuditDraft[], at: number) {
    const now = this.rows.get(e.name);
    const holds = expect === undefined ? now === undefined : now !== undefined && now.deploys === expect.deploys && now.status === expect.status;
    if (!holds) return false;
    // Kept as JSON, as the SQL store keeps it: a field set to undefined reads back absent there too.
    this.rows.set(e.name, JSON.parse(JSON.stringify(e)) as EnvironmentRecord);
    this.appendAudit(audit, at);
    return true;
  }

  async deleteEnvironment(name: string, audit: readonly AuditDraft[], at: number) {
    if (!this.rows.delete(name)) return false;
    this.appendAudit(audit, at);
    return true;
  }

  async getEnvironment(name: string) {
    const e = this.rows.get(name);
    return e && structuredClone(e);
  }

  async listEnvironments() {
    return [...this.rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((e) => structuredClone(e));
  }
}
