import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import type { TokenActor } from '../kernel/actor.js';
import { isSluiceError } from '../kernel/errors.js';
import { type ChangeMeta, FlagService } from './flag-service.js';
import { parseFlagsFile } from './flags-file.js';
import { FakeServing } from '../../test/helpers/fake-flag-serving.js';

const token = (role: TokenActor['role'], name = role): TokenActor => ({ kind: 'token', id: name, name, role });
const by = (actor: TokenActor, reason = 'because', extra: Partial<ChangeMeta> = {}): ChangeMeta => ({ actor, reason, ...extra });

function setup() {
  const store = new MemoryStore();
  const serving = new FakeServing();
  let now = 1_000_000;
  const clock = { now: () => now };
  const service = new FlagService({
    store: store.flags,
    serving,
    clock,
    stages: () => ['staging', 'prod'],
    changeRoles: (s) => (s === 'prod' ? ['approver'] : ['deployer']),
  });
  return { store, serving, service, advance: (ms: number) => (now += ms), clock };
}
const bool = { key: 'checkout', type: 'boolean' as const, variants: { on: true, off: false }, description: 'new checkout', owner: 'shop' };

describe('flag service', () => {
  it('declares a flag off everywhere, toggles it per stage, publishes each save with a growing revision, and audits who, why and which release', async () => {
    const { store, serving, service } = setup();
    const admin = token('admin');
    await service.define(by(admin, 'launch'), bool);
    assert.equal(serving.value('prod', 'checkout'), false);
    assert.deepEqual(serving.log, ['staging@1', 'prod@1']);
    await service.set(by(admin, 'try it', { release: '1.4.0' }), 'staging', 'checkout', { state: 'ENABLED', defaultVariant: 'on' });
    assert.equal(serving.value('staging', 'checkout'), true);
    assert.equal(serving.value('prod', 'checkout'), false, 'another stage is untouched');
    assert.equal(serving.sets.get('staging')?.revision, 2);
    const view = await service.show('checkout');
    assert.equal(view.stages.staging?.state, 'ENABLED');
    assert.equal(view.stages.prod?.configured, false);
    const rec = (await store.auditRecords(0, 10)).at(-1)!;
    assert.deepEqual([rec.action, rec.reason, rec.links, rec.actor], ['flag.set', 'try it', { release: '1.4.0', stage: 'staging', flag: 'checkout' }, admin]);
    const hist = await service.history({ flag: 'checkout' });
    assert.deepEqual(hist.map((e) => [e.type, e.stage ?? '*', e.reason]), [['flag.define', '*', 'launch'], ['flag.set', 'staging', 'try it']]);
  });

  it('refuses a change that leaves a stage with bad rules, naming where, and the stage keeps its last good flags', async () => {
    const { serving, service } = setup();
    const admin = token('admin');
    await service.define(by(admin), bool);
    await service.set(by(admin), 'prod', 'checkout', { state: 'ENABLED', defaultVariant: 'on' });
    const before = structuredClone(serving.sets.get('prod'));
    for (const targeting of [{ no_such_op: [1] }, { if: [{ $ref: 'missing' }, 'on', 'off'] }]) {
      await assert.rejects(service.set(by(admin), 'prod', 'checkout', { targeting }), (e) => {
        assert.ok(isSluiceError(e) && e.code === 'BAD_REQUEST', String(e));
        assert.match(e.message, /prod\/flags\/checkout\/targeting/);
        return true;
      });
    }
    await service.setSegment(by(admin), 'prod', 'a', { $ref: 'b' }).catch(() => undefined);
    await assert.rejects(service.setSegment(by(admin), 'prod', 'b', { $ref: 'b' }), /nothing changed/);
    await assert.rejects(service.set(by(admin), 'prod', 'checkout', { defaultVariant: 'maybe' }), /defaultVariant/);
    await assert.rejects(service.update(by(admin), 'checkout', { variants: { yes: true } }), /nothing changed/, 'a variant a stage serves cannot go');
    await assert.rejects(service.define(by(admin), { ...bool, key: 'x', variants: { a: 'text' } }), /not a boolean/);
    assert.deepEqual((await service.show('checkout')).stages.prod?.state, 'ENABLED');
    assert.deepEqual(serving.sets.get('prod')?.doc, before?.doc);
    assert.ok((serving.sets.get('prod')?.revision ?? 0) <= (before?.revision ?? 0) + 1);
  });

  it('needs what deploying to the stage needs to change its flags; an unknown stage is named with a suggestion', async () => {
    const { service } = setup();
    await service.define(by(token('deployer')), bool);
    await service.set(by(token('deployer')), 'staging', 'checkout', { state: 'ENABLED' });
    await assert.rejects(service.set(by(token('deployer')), 'prod', 'checkout', { state: 'ENABLED' }), (e) => isSluiceError(e) && e.code === 'FORBIDDEN' && /approver or admin/.test(e.message));
    await service.set(by(token('approver')), 'prod', 'checkout', { state: 'ENABLED' });
    await assert.rejects(service.set(by(token('admin')), 'prd', 'checkout', { state: 'ENABLED' }), (e) => isSluiceError(e) && e.code === 'NOT_FOUND' && /did you mean prod/.test(e.message));
    await assert.rejects(service.set(by(token('admin')), 'prod', 'chekout', { state: 'ENABLED' }), /did you mean checkout/);
  });

  it('copies a stage to another, imports and exports flagd JSON unchanged', async () => {
    const { service, serving } = setup();
    const admin = token('admin');
    await service.define(by(admin), bool);
    await service.setSegment(by(admin), 'staging', 'testers', { in: [{ var: 'customerId' }, ['c-1', 'c-2']] });
    await service.set(by(admin), 'staging', 'checkout', { state: 'ENABLED', defaultVariant: 'off', targeting: { if: [{ $ref: 'testers' }, 'on', null] } });
    await service.copy(by(admin), 'staging', 'prod');
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-2' }), true);
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-3' }), false);
    const doc = await service.exportFlagd('prod');
    assert.deepEqual(doc, await service.exportFlagd('staging'));
    const { service: other, serving: s2 } = setup();
    await other.importFlagd(by(admin), 'prod', doc);
    assert.deepEqual(await other.exportFlagd('prod'), doc);
    assert.equal(s2.value('prod', 'checkout', { customerId: 'c-1' }), true);
    await assert.rejects(other.importFlagd(by(admin), 'prod', { flags: { bad: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'b' } } }), /nothing changed/);
  });

  it('makes read keys shown once, publishes only their hashes, and drops a revoked one', async () => {
    const { service, serving, store } = setup();
    const k = await service.createKey(by(token('admin')), 'prod', 'shop');
    assert.match(k.key, /^slf_/);
    const hashes = serving.sets.get('prod')?.keyHashes ?? [];
    assert.equal(hashes.length, 1);
    assert.ok(!hashes.includes(k.key));
    assert.deepEqual((await service.listKeys('prod')).map((x) => x.name), ['shop']);
    assert.ok(!JSON.stringify(await service.listKeys('prod')).includes(k.key));
    await service.revokeKey(by(token('admin')), 'prod', k.id);
    assert.deepEqual(serving.sets.get('prod')?.keyHashes, []);
    await assert.rejects(service.revokeKey(by(token('admin')), 'prod', k.id), /no read key/);
    assert.deepEqual((await store.auditRecords(0, 10)).map((r) => r.action), ['flag-key.create', 'flag-key.revoke']);
  });

  it('reports stale flags: fully on or untouched everywhere for N days, and never evaluated; shows when each was last evaluated', async () => {
    const { service, advance, clock } = setup();
    const admin = token('admin');
    await service.define(by(admin), bool);
    await service.define(by(admin), { ...bool, key: 'used' });
    await service.define(by(admin), { ...bool, key: 'fresh' });
    for (const s of ['staging', 'prod']) await service.set(by(admin), s, 'checkout', { state: 'ENABLED', defaultVariant: 'on' });
    await service.recordCounts([{ stage: 'prod', flag: 'used', variant: 'off', count: 4, lastAt: clock.now() }]);
    advance(31 * 86_400_000);
    await service.set(by(admin), 'prod', 'fresh', { state: 'ENABLED' });
    const stale = await service.stale(30);
    assert.deepEqual(stale.map((s) => [s.key, s.reasons]), [['checkout', ['fully-on', 'never-evaluated']], ['fresh', ['never-evaluated']], ['used', ['untouched']]]);
    assert.equal(stale.find((s) => s.key === 'used')?.lastEvaluatedAt.prod, clock.now() - 31 * 86_400_000);
    assert.deepEqual((await service.show('used')).stages.prod?.evaluations, { off: 4 });
  });
});

describe('the flags file and run-time changes (ADR 20)', () => {
  const fileText = (prodEnabled: boolean, testers = "['c-1']") => `
segments:
  testers: { in: [ { var: customerId }, ${testers} ] }
flags:
  checkout:
    type: boolean
    variants: { on: true, off: false }
    owner: shop
    stages:
      staging: { enabled: true, default: on }
      prod:
        enabled: ${prodEnabled}
        default: off
        targeting: { if: [ { $ref: testers }, on, null ] }
`;
  it('re-applying an unchanged file keeps a run-time toggle; editing that entry in the file overrides it; both are in the history', async () => {
    const { service, serving, store } = setup();
    const sys = { kind: 'system', reason: 'sluice up applied sluice.flags.yaml' } as const;
    const apply = (t: string) => service.applyFile({ actor: sys, reason: 'flags file' }, parseFlagsFile(t, 'sluice.flags.yaml', ['staging', 'prod']));
    const first = await apply(fileText(false));
    assert.deepEqual(first.changed.sort(), ['checkout', 'prod/checkout', 'prod/segment:testers', 'staging/checkout', 'staging/segment:testers']);
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-1' }), false, 'off in prod, as the file says');
    await service.set(by(token('admin'), 'incident: turn it on for testers'), 'prod', 'checkout', { state: 'ENABLED' });
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-1' }), true);
    const again = await apply(fileText(false));
    assert.deepEqual(again.changed, [], 'the same file changes nothing');
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-1' }), true, 'the run-time toggle stands');
    const edited = await apply(fileText(false, "['c-1', 'c-9']"));
    assert.deepEqual(edited.changed.sort(), ['prod/segment:testers', 'staging/segment:testers'], 'only the edited entry');
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-9' }), true, 'the toggle still stands: its entry did not change');
    await apply(fileText(true));
    await apply(fileText(false));
    assert.equal(serving.value('prod', 'checkout', { customerId: 'c-1' }), false, 'the edited entry in the file wins over the run-time toggle');
    const hist = await service.history({ stage: 'prod', flag: 'checkout' });
    assert.deepEqual(hist.filter((e) => e.type === 'flag.set').map((e) => [e.actor.kind, (e.data as { state: string }).state]), [['system', 'DISABLED'], ['token', 'ENABLED'], ['system', 'ENABLED'], ['system', 'DISABLED']]);
    assert.ok((await store.auditRecords(0, 100)).some((r) => r.action === 'flags.apply' && r.actor.kind === 'system'));
  });

  it('reports problems of the file at file:line:col, and refuses it whole', async () => {
    const { service } = setup();
    const parse = (t: string) => parseFlagsFile(t, 'sluice.flags.yaml', ['staging', 'prod']);
    assert.throws(() => parse('flags:\n  x:\n    type: boolean\n    variants: { on: true }\n    stages:\n      prd: { enabled: true }\n'), /sluice\.flags\.yaml:6:7: flags\.x\.stages\.prd: the pipeline has no stage prd \(did you mean prod\?\)/);
    assert.throws(() => parse('flags:\n  x:\n    typo: 1\n'), /sluice\.flags\.yaml:3:5: .*unknown key "typo"/);
    assert.throws(() => parse('flags: [\n'), /sluice\.flags\.yaml:\d+:\d+/);
    const bad = 'flags:\n  x:\n    type: boolean\n    variants: { on: true, off: false }\n    stages:\n      prod:\n        enabled: true\n        targeting: { nope: [1] }\n';
    await assert.rejects(service.applyFile({ actor: { kind: 'system', reason: 't' }, reason: '' }, parse(bad)), /sluice\.flags\.yaml:8:28: flags\.x\.stages\.prod\.targeting\.nope \(stage prod\): unknown operator "nope"/);
    assert.deepEqual(await service.list(), [], 'nothing of it was applied');
  });
});
