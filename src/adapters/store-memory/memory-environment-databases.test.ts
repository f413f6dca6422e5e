import { environmentDatabasesContract } from '../../environments/ports/environment-databases.contract.js';
import { MemoryEnvironmentDatabases } from './memory-environment-databases.js';

environmentDatabasesContract('in memory', async () => {
  const databases = new MemoryEnvironmentDatabases();
  const source = (clone: 'template' | 'dump' | 'empty') => ({ plan: { url: `postgres://app@db.test:5432/${clone}_src`, clone, snapshotMaxAgeMs: 60_000 } });
  return {
    databases,
    sources: { template: source('template'), dump: source('dump'), empty: source('empty') },
    put: async (url, k, v) => void (databases.data.get(url) ?? databases.data.set(url, new Map()).get(url)!).set(k, v),
    get: async (url, k) => databases.data.get(url)?.get(k),
    exists: async (url) => databases.data.has(url),
    close: async () => {},
  };
});
