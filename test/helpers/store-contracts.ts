import type { MemoryStore } from '../../src/adapters/store-memory/memory-store.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { auditTrailContract } from '../../src/audit/ports/audit-trail.contract.js';
import { sessionStoreContract } from '../../src/auth/ports/session-store.contract.js';
import { tokenStoreContract } from '../../src/auth/ports/token-store.contract.js';
import { journeyLogContract } from '../../src/journeys/ports/journey-log.contract.js';
import { outboxContract } from '../../src/notifications/ports/outbox.contract.js';
import { releaseStoreContract } from '../../src/releases/ports/release-store.contract.js';
import { environmentStoreContract } from '../../src/environments/ports/environment-store.contract.js';
import { flagStoreContract } from '../../src/flags/ports/flag-store.contract.js';
import { secretStoreContract } from '../../src/secrets/ports/secret-store.contract.js';

/**
 * Every store port's contract against one way of opening a store; `reopen` keeps the same data. `shared`: opening the
 * same part twice gives two writers on the same data (a database server), as two processes would be.
 */
export function storeContracts(name: string, open: (part: string) => Promise<SqlStore | MemoryStore>, durable: boolean, shared = false) {
  const reopen = (part: string) => async (s: { close(): Promise<void> }) => {
    await s.close();
    return open(part) as Promise<never>;
  };
  journeyLogContract(name, () => open('journeys'), durable ? reopen('journeys') : undefined);
  releaseStoreContract(name, () => open('releases'), durable ? reopen('releases') : undefined);
  tokenStoreContract(name, () => open('tokens'));
  sessionStoreContract(name, () => open('sessions'));
  auditTrailContract(name, () => open('audit'), {
    ...(durable ? { reopen: reopen('audit') } : {}),
    ...(shared ? { second: () => open('audit') } : {}),
  });
  outboxContract(name, () => open('outbox'), durable ? reopen('outbox') : undefined);
  secretStoreContract(name, async () => {
    const s = await open('secrets');
    return Object.assign(s.secrets, { close: () => s.close() });
  });
  flagStoreContract(name, async () => {
    const s = await open('flags');
    return { flags: s.flags, audit: s, close: () => s.close() };
  });
  environmentStoreContract(name, async () => {
    const s = await open('environments');
    return { environments: s.environments, audit: s, close: () => s.close() };
  });
}

