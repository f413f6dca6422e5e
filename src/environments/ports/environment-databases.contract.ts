import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DatabaseSource, EnvironmentDatabases } from './environment-databases.js';

/** What the contract runs on: the port, a source database per strategy, and a way to read and write a row of a database. */
export interface EnvironmentDatabasesHarness {
  databases: EnvironmentDatabases;
  /** Sources with rows `k` → `v` written by `put`; each clones by its strategy. */
  sources: Record<'template' | 'dump' | 'empty', DatabaseSource>;
  put(url: string, k: string, v: string): Promise<void>;
  /** The value of `k`, undefined when the row (or the table) is not there. */
  get(url: string, k: string): Promise<string | undefined>;
  /** True while a database of that URL exists. */
  exists(url: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The contract of the EnvironmentDatabases port (ADR 26). */
export function environmentDatabasesContract(name: string, open: () => Promise<EnvironmentDatabasesHarness>) {
  describe(`environment databases contract: ${name}`, () => {
    let h: EnvironmentDatabasesHarness;
    const app = 'shop';
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    before(async () => {
      h = await open();
      for (const s of Object.values(h.sources)) await h.put(s.plan.url, 'greeting', 'from the source');
    });
    after(() => h.close());

    for (const strategy of ['template', 'dump'] as const)
      it(`${strategy}: the copy has the source's rows, and a write in either is not seen in the other`, async () => {
        const src = h.sources[strategy];
        const env = `${strategy}-copy`;
        const url = await h.databases.clone(app, env, src, log);
        assert.notEqual(url, src.plan.url);
        assert.equal(new URL(url).password, '', 'the URL carries no password');
        assert.equal(await h.get(url, 'greeting'), 'from the source');
        await h.put(url, 'greeting', 'from the environment');
        assert.equal(await h.get(src.plan.url, 'greeting'), 'from the source', 'the source does not see the copy\'s write');
        await h.put(src.plan.url, 'later', 'after the copy');
        assert.equal(await h.get(url, 'later'), undefined, 'the copy does not see the source\'s later write');
        assert.deepEqual(await h.databases.list(app, src), [env]);
        assert.equal(await h.databases.drop(app, env, src), true);
        assert.equal(await h.exists(url), false, 'drop removes the database');
        assert.equal(await h.databases.drop(app, env, src), false, 'a second drop finds nothing');
        assert.deepEqual(await h.databases.list(app, src), []);
      });

    it('empty: the copy has no rows, and remembers once it is seeded', async () => {
      const src = h.sources.empty;
      const url = await h.databases.clone(app, 'fresh', src, log);
      assert.equal(await h.get(url, 'greeting'), undefined);
      assert.equal(await h.databases.seeded(app, 'fresh', src), false);
      await h.databases.markSeeded(app, 'fresh', src);
      assert.equal(await h.databases.seeded(app, 'fresh', src), true);
      assert.equal(await h.databases.drop(app, 'fresh', src), true);
      assert.equal(await h.exists(url), false);
    });

    it('a copy made again over a leftover starts afresh from the source', async () => {
      const src = h.sources.template;
      const url = await h.databases.clone(app, 'again', src, log);
      await h.put(url, 'greeting', 'stale');
      assert.equal(await h.databases.clone(app, 'again', src, log), url);
      assert.equal(await h.get(url, 'greeting'), 'from the source');
      await h.databases.drop(app, 'again', src);
    });

    it('lists every environment database of the app, and none of another app, for the orphan sweep; drop leaves other apps\' alone', async () => {
      const src = h.sources.empty;
      await h.databases.clone(app, 'one', src, log);
      await h.databases.clone(app, 'pr-2', src, log);
      const theirs = await h.databases.clone('other', 'pr-3', src, log);
      assert.deepEqual(await h.databases.list(app, src), ['one', 'pr-2']);
      assert.deepEqual(await h.databases.list('other', src), ['pr-3']);
      assert.equal(await h.databases.drop(app, 'pr-3', src), false, 'another app\'s database is not ours to drop');
      assert.equal(await h.exists(theirs), true);
      for (const [a, e] of [[app, 'one'], [app, 'pr-2'], ['other', 'pr-3']] as const) assert.equal(await h.databases.drop(a, e, src), true);
      assert.deepEqual(await h.databases.list(app, src), []);
    });

    it('gives a 63-character environment name a database PostgreSQL can name, distinct from its neighbour', async () => {
      const src = h.sources.empty;
      const [a, b] = ['a'.repeat(62) + '1', 'a'.repeat(62) + '2'];
      const [ua, ub] = [await h.databases.clone(app, a, src, log), await h.databases.clone(app, b, src, log)];
      assert.notEqual(ua, ub);
      assert.ok(new URL(ua).pathname.length - 1 <= 63);
      assert.deepEqual(await h.databases.list(app, src), [a, b]);
      await h.databases.drop(app, a, src);
      await h.databases.drop(app, b, src);
    });
  });
}
