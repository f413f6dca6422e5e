import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditTrail } from '../../audit/ports/audit-trail.js';
import type { AuditDraft, EnvironmentRecord, EnvironmentStore } from './environment-store.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const env = (name: string, over: Partial<EnvironmentRecord> = {}): EnvironmentRecord => ({
  name,
  source: 'staging',
  release: { version: '1.0.0', digest: digest('a') },
  previous: null,
  env: {},
  status: 'ready',
  deploys: 1,
  createdAt: 1_000,
  createdBy: 'alice',
  deployedAt: 1_000,
  ttlMs: 3 * 86_400_000,
  maxAgeMs: 14 * 86_400_000,
  pinned: false,
  ...over,
});

/** The contract of the EnvironmentStore port, on a store that keeps the audit trail too (a write and its records go together). */
export function environmentStoreContract(
  name: string,
  open: () => Promise<{ environments: EnvironmentStore; audit: AuditTrail; close(): Promise<void> }>,
) {
  describe(`environment store contract: ${name}`, () => {
    let s: { environments: EnvironmentStore; audit: AuditTrail; close(): Promise<void> };
    before(async () => {
      s = await open();
    });
    after(() => s.close());
    const actor = { kind: 'token', id: 't1', name: 'alice', role: 'deployer' } as const;
    const audit = (action: string, envName: string): AuditDraft => ({ actor, action, reason: '', links: { environment: envName }, outcome: 'done' });
    const actions = async () => (await s.audit.auditRecords(0, 1000)).map((r) => [r.action, r.links.environment, r.at]);

    it('keeps new environments, listed by name (code point order, as names are DNS labels)', async () => {
      // "a-c" before "a1" before "ab": a locale collation that skips "-" would put "a-c" last.
      for (const n of ['ab', 'a-c', 'a1']) assert.equal(await s.environments.putEnvironment(env(n), undefined, [], 10), true);
      assert.deepEqual(await s.environments.getEnvironment('ab'), env('ab'));
      assert.equal(await s.environments.getEnvironment('nowhere'), undefined);
      assert.deepEqual(await s.environments.listEnvironments(), [env('a-c'), env('a1'), env('ab')]);
    });

    it('refuses to create an environment that exists, and changes nothing', async () => {
      const other = env('ab', { source: 'prod', deploys: 7, createdBy: 'bob' });
      assert.equal(await s.environments.putEnvironment(other, undefined, [], 20), false);
      assert.deepEqual(await s.environments.getEnvironment('ab'), env('ab'));
    });

    it('replaces an environment only while its deploys and status are those expected', async () => {
      const next = env('ab', { status: 'deploying', deploys: 2, release: { version: '1.1.0', digest: digest('b') }, previous: env('ab').release, deployedAt: 30 });
      assert.equal(await s.environments.putEnvironment(next, { deploys: 2, status: 'ready' }, [], 30), false, 'deploys differ');
      assert.equal(await s.environments.putEnvironment(next, { deploys: 1, status: 'failed' }, [], 30), false, 'status differs');
      assert.deepEqual(await s.environments.getEnvironment('ab'), env('ab'));
      assert.equal(await s.environments.putEnvironment(next, { deploys: 1, status: 'ready' }, [], 30), true);
      assert.deepEqual(await s.environments.getEnvironment('ab'), next);
      assert.equal(await s.environments.putEnvironment(env('gone'), { deploys: 1, status: 'ready' }, [], 31), false, 'nothing to replace');
      assert.equal(await s.environments.getEnvironment('gone'), undefined, 'a replace creates nothing');
    });

    it('deletes an environment once', async () => {
      assert.equal(await s.environments.deleteEnvironment('a1', [], 40), true);
      assert.equal(await s.environments.deleteEnvironment('a1', [], 41), false);
      assert.equal(await s.environments.getEnvironment('a1'), undefined);
      assert.deepEqual((await s.environments.listEnvironments()).map((e) => e.name), ['a-c', 'ab']);
    });

    it('appends the audit records of a write with it, at its time, and none for a write refused', async () => {
      assert.deepEqual(await actions(), [], 'the writes above carried none');
      assert.equal(await s.environments.putEnvironment(env('audited'), undefined, [audit('environment.create', 'audited'), audit('environment.deploy', 'audited')], 50), true);
      assert.equal(await s.environments.putEnvironment(env('audited'), undefined, [audit('environment.create', 'audited')], 51), false);
      assert.equal(await s.environments.putEnvironment(env('audited', { deploys: 2 }), { deploys: 9, status: 'ready' }, [audit('environment.deploy', 'audited')], 52), false);
      assert.equal(await s.environments.putEnvironment(env('audited', { pinned: true }), { deploys: 1, status: 'ready' }, [audit('environment.pin', 'audited')], 53), true);
      assert.equal(await s.environments.deleteEnvironment('audited', [audit('environment.delete', 'audited')], 54), true);
      assert.equal(await s.environments.deleteEnvironment('audited', [audit('environment.delete', 'audited')], 55), false);
      assert.deepEqual(await actions(), [
        ['environment.create', 'audited', 50],
        ['environment.deploy', 'audited', 50],
        ['environment.pin', 'audited', 53],
        ['environment.delete', 'audited', 54],
      ]);
    });

    it('gives back a record exactly as written: optional fields present or absent, env, previous; a copy each read', async () => {
      const full = env('pr-42', {
        source: 'qa',
        release: { version: '2.0.0-rc.1+build.7', digest: digest('c') },
        previous: { version: '1.9.9', digest: digest('d') },
        env: { API_URL: 'http://api.local:8080/v1?x=1&y="2"', EMPTY: '', 'WITH SPACE': 'ünï ✓ \\ \n' },
        status: 'failed',
        reason: 'health check failed: 503',
        deploys: 12,
        createdAt: 1_700_000_000_123,
        createdBy: 'ci-bot',
        deployedAt: 1_700_000_999_456,
        ttlMs: 30 * 86_400_000,
        maxAgeMs: 0,
        pinned: true,
        branch: 'feature/Login_v2',
        pr: 42,
      });
      const bare = env('bare');
      assert.equal(await s.environments.putEnvironment(full, undefined, [], 60), true);
      assert.equal(await s.environments.putEnvironment(bare, undefined, [], 60), true);
      assert.deepEqual(await s.environments.getEnvironment('pr-42'), full);
      const got = await s.environments.getEnvironment('bare');
      assert.deepEqual(got, bare);
      assert.deepEqual(Object.keys(got!).filter((k) => ['reason', 'branch', 'pr'].includes(k)), [], 'absent fields stay absent');
      const listed = await s.environments.listEnvironments();
      assert.deepEqual(listed.find((e) => e.name === 'pr-42'), full);
      const fromList = listed.find((e) => e.name === 'bare')!;
      fromList.env.CHANGED = 'by the caller';
      assert.deepEqual(await s.environments.getEnvironment('bare'), bare, 'a record read is the caller\'s copy');
      const cleared = { ...full, status: 'deploying' as const, deploys: 13, reason: undefined, branch: undefined, pr: undefined };
      assert.equal(await s.environments.putEnvironment(cleared, { deploys: 12, status: 'failed' }, [], 61), true);
      const { reason: _r, branch: _b, pr: _p, ...rest } = cleared;
      assert.deepEqual(await s.environments.getEnvironment('pr-42'), rest, 'a field written as undefined reads back absent');
    });

    it('keeps a review with the record, and forgets it when a write leaves it out (ADR 27)', async () => {
      const reviewed = env('rev', {
        review: { verdict: 'changes-requested', version: '1.0.0', by: 'lead', byId: 't-lead', at: 1_700_000_000_999, comment: 'the total is wrong: "12,00 €" ≠ 12.00\n' },
      });
      assert.equal(await s.environments.putEnvironment(reviewed, undefined, [], 80), true);
      assert.deepEqual(await s.environments.getEnvironment('rev'), reviewed);
      const approved = { ...reviewed, review: { verdict: 'approved' as const, version: '1.0.0', by: 'lead', at: 81 } };
      assert.equal(await s.environments.putEnvironment(approved, { deploys: 1, status: 'ready' }, [], 81), true);
      const got = await s.environments.getEnvironment('rev');
      assert.deepEqual(got, approved);
      assert.deepEqual(Object.keys(got!.review!).sort(), ['at', 'by', 'verdict', 'version'], 'no comment or byId left from the verdict before');
      const { review: _r, ...cleared } = approved;
      assert.equal(await s.environments.putEnvironment({ ...cleared, deploys: 2, status: 'deploying' }, { deploys: 1, status: 'ready' }, [], 82), true);
      assert.equal((await s.environments.getEnvironment('rev'))?.review, undefined, 'a new build: no verdict');
      assert.ok(!('review' in (await s.environments.getEnvironment('rev'))!));
      assert.equal(await s.environments.deleteEnvironment('rev', [], 83), true);
    });

    it('lets exactly one of two writers with the same expectation win, creating or replacing', async () => {
      const seen = (await actions()).length;
      const created = await Promise.all(
        ['x', 'y'].map((by) => s.environments.putEnvironment(env('race', { createdBy: by }), undefined, [audit(`environment.create.${by}`, 'race')], 70)),
      );
      assert.deepEqual(created.filter(Boolean).length, 1, `one create wins: ${created}`);
      assert.equal((await s.environments.getEnvironment('race'))?.createdBy, created[0] ? 'x' : 'y');
      const deploys = ['2.0.0', '3.0.0'].map((version) => env('race', { createdBy: created[0] ? 'x' : 'y', deploys: 2, status: 'deploying', release: { version, digest: digest('e') } }));
      const replaced = await Promise.all(deploys.map((d) => s.environments.putEnvironment(d, { deploys: 1, status: 'ready' }, [audit(`environment.deploy.${d.release.version}`, 'race')], 71)));
      assert.deepEqual(replaced.filter(Boolean).length, 1, `one replace wins: ${replaced}`);
      assert.deepEqual(await s.environments.getEnvironment('race'), deploys[replaced[0] ? 0 : 1]);
      const winners = (await actions()).slice(seen).map((a) => a[0]);
      assert.deepEqual(winners, [`environment.create.${created[0] ? 'x' : 'y'}`, `environment.deploy.${replaced[0] ? '2.0.0' : '3.0.0'}`], 'only the winners\' records');
    });
  });
}
