import type { AuditDraft } from '../../audit/ports/audit-trail.js';
import type { EnvironmentRecord } from '../environment.js';

export type { AuditDraft } from '../../audit/ports/audit-trail.js';
export type { EnvironmentRecord } from '../environment.js';

/**
 * Where environments are kept: one record each, the desired state its target converges to (ADR 25). Each write
 * carries its audit records, written in the same transaction.
 */
export interface EnvironmentStore {
  /**
   * Writes an environment. `expect`: the `deploys` and `status` it must have now (undefined: it must not exist yet);
   * another writer got there first otherwise, and nothing is written: answers false.
   */
  putEnvironment(e: EnvironmentRecord, expect: Pick<EnvironmentRecord, 'deploys' | 'status'> | undefined, audit: readonly AuditDraft[], at: number): Promise<boolean>;
  /** Removes an environment's record; false (nothing written) when there is none. */
  deleteEnvironment(name: string, audit: readonly AuditDraft[], at: number): Promise<boolean>;
  getEnvironment(name: string): Promise<EnvironmentRecord | undefined>;
  /** Every environment, by name. */
  listEnvironments(): Promise<EnvironmentRecord[]>;
}
