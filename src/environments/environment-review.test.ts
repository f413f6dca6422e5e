import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import type { EffectRunner } from '../journeys/effect-runner.js';
import { Executor } from '../journeys/executor.js';
import type { ReleaseRef } from '../journeys/journey-events.js';
import { releasePromoter } from '../journeys/promote-release.js';
import type { TokenActor } from '../kernel/actor.js';
import { isSluiceError } from '../kernel/errors.js';
import { parsePipeline, type Plan } from '../pipeline/pipeline.js';
import { EnvironmentService, type EnvironmentsChanged } from './environment-service.js';

// Review of an environment (ADR 27) on the service, with the memory store, a real executor and journeys (their
// effects faked), and a fake target: the verdict kept and cleared, an approve's promotion through the journey (the
// lane included) and the destroy that follows, and every refusal changing nothing.
const pipeline = (extra = '', staging = 'autoPromote: false') =>
  parsePipeline(`app: shop
artifact: { output: dist }
${extra}
stages:
  staging:
    target: local
    local: { start: node server.js }
    ${staging}
  prod:
    after: staging
    target: local
    local: { start: node server.js }
    approval: true
`);

const lead: TokenActor = { kind: 'token', id: 't-lead', name: 'lead', role: 'approver' };
const dev: TokenActor = { kind: 'token', id: 't-dev', name: 'dev', role: 'deployer' };
const ref = (v: string): ReleaseRef => ({ version: v, digest: `sha256:${v.replace(/\./g, '').padEnd(64, '0')}` });

async function setup(plan: Plan, opts: { promoter?: boolean } = {}) {
  /** What was deployed where: by the journeys' (faked) effects and by the target, as `<stage>@<version>`. */
  const deployed: string[] = [];
  const runner: EffectRunner = {
    run: async (r, j) => {
      if (r.step === 'deploy') deployed.push(`${r.stage}@${j.release.version}`);
      return { ok: true, exitCode: 0 };
    },
  };
  /** Versions whose deploys fail. */
  const failing = new Set<string>();
  /** The environments' clock: still, but for `advance` (the journeys keep the wall clock). */
  const start = Date.now();
  let skew = 0;
  const store = new MemoryStore();
  const executor = new Executor({ store, clock: { now: () => Date.now() }, runner });
  const removed: string[] = [];
  const changes: EnvironmentsChanged[] = [];
  const releases = new Map<string, ReleaseRef>();
  const envs = new EnvironmentService({
    store: store.environments,
    target: {
      deploy: async (r) => {
        if (failing.has(r.release.version)) throw new Error('health check failed: 503');
        deployed.push(`${r.stage.name}@${r.release.version}`);
      },
      rollback: async (r) => void (r.to === null && removed.push(r.stage.name)),
      health: async () => ({ ok: true, detail: '' }),
      url: (s) => `http://${s.name}.shop.localhost:7080`,
      forgetStage: async () => {},
    },
    release: async (v) => releases.get(v),
    workspace: { open: () => ({ log: () => {}, logPath: '', runDir: '' }), readLog: () => undefined },
    clock: { now: () => start + skew },
    plan: () => plan,
    ...(opts.promoter === false ? {} : { promoter: releasePromoter(executor) }),
    changed: (c) => changes.push(c),
  });
  const release = async (v: string) => {
    const r = ref(v);
    releases.set(v, r);
    await store.createRelease({ version: v, digest: r.digest, createdAt: 1, journeyId: `j-${v}` }, { type: 'journey.created', release: r, plan }, dev);
    await executor.track(`j-${v}`);
  };
  const stageOf = (v: string, stage: string) => executor.get(`j-${v}`)?.stages[stage]?.status;
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 2000 && !check(); i++) await sleep(5);
    assert.ok(check(), `timed out waiting for ${what}`);
  };
  const audit = async () => (await store.auditRecords(0, 1000)).map((r) => [r.action, r.actor.kind === 'token' ? r.actor.name : 'sluice', r.links.environment ?? '', r.links.stage ?? '']);
  const advance = (ms: number) => void (skew += ms);
  return { advance, store, executor, envs, deployed, failing, removed, changes, release, stageOf, until, audit };
}

const refused = (code: string, message: RegExp) => (e: unknown) => isSluiceError(e) && e.code === code && message.test(e.message);

describe("the pipeline's environments: section", () => {
  const parse = (extra: string) => parsePipeline(`app: shop\nartifact: { output: dist }\n${extra}\nstages:\n  staging: { target: command, command: { deploy: 'true' } }\n`);
  const invalid = (extra: string, message: RegExp) => assert.throws(() => parse(extra), (e: unknown) => isSluiceError(e) && e.code === 'PIPELINE_INVALID' && message.test(e.message));

  it('sets what an approve does; absent, it promotes and destroys', () => {
    assert.equal(parse('').environments, undefined);
    assert.deepEqual(parse('environments: { onApprove: record }').environments, { onApprove: 'record', destroyOnPromote: true });
    assert.deepEqual(parse('environments: { destroyOnPromote: false }').environments, { onApprove: 'promote', destroyOnPromote: false });
  });

  it('says what is wrong and where, by file:line:col', () => {
    invalid('environments: { onApprove: merge }', /sluice\.yaml:3:28: environments\.onApprove: onApprove is promote or record, not "merge"/);
    invalid('environments:\n  destroyOnPromote: yes please', /sluice\.yaml:4:21: environments\.destroyOnPromote: expected boolean/);
    invalid('environments:\n  keep: 1', /sluice\.yaml:4:3: environments\.keep: unknown key "keep"; allowed: idleAfter, onApprove, destroyOnPromote/);
  });
});

describe('reviewing an environment', () => {
  it('approves: the build goes to staging through its journey (stage.promoted by the lead), then the environment is destroyed', async () => {
    const t = await setup(pipeline());
    await t.release('1.0.0');
    await t.until('1.0.0 to await promotion into staging', () => t.stageOf('1.0.0', 'staging') === 'awaiting-promotion');
    await t.envs.create(dev, { name: 'pr-1', from: 'staging', ref: '1.0.0' });
    const draft = { actor: lead, action: 'environment.review', reason: 'looks right', links: {}, outcome: 'done' as const };
    const r = await t.envs.review(lead, 'pr-1', { verdict: 'approved', comment: ' looks right ' }, [draft]);
    assert.equal(r.destroyed, true);
    assert.equal(r.environment, null);
    assert.deepEqual({ ...r.review, at: 0 }, { verdict: 'approved', version: '1.0.0', by: 'lead', byId: 't-lead', at: 0, comment: 'looks right' });
    assert.equal(r.promotion?.outcome, 'promoted');
    assert.equal(r.promotion?.stage, 'staging');
    await t.until('staging to pass 1.0.0', () => t.stageOf('1.0.0', 'staging') === 'passed');
    assert.ok(t.deployed.includes('staging@1.0.0'), `staging deployed it: ${t.deployed}`);
    assert.deepEqual(await t.envs.list(), [], 'the environment is gone');
    assert.ok(t.removed.includes('pr-1'), 'its instances were taken down');
    const events = await t.store.loadEvents('j-1.0.0');
    const promoted = events.find((e) => e.type === 'stage.promoted');
    assert.deepEqual(promoted?.actor, lead, 'the journey says who let it in');
    const trail = await t.audit();
    assert.deepEqual(
      trail.filter((a) => a[0] !== 'stage.deploy'),
      [
        ['stage.promote', 'lead', 'pr-1', 'staging'],
        ['environment.review', 'lead', 'pr-1', 'staging'],
        ['environment.destroy', 'lead', 'pr-1', 'staging'],
      ],
    );
    assert.ok(t.changes.some((c) => c.names.includes('pr-1')), 'the change was announced');
    await t.executor.stop();
  });

  it('with a lane on staging: an approved build waits in the queue behind the release ahead, in order', async () => {
    const laned = await setup(pipeline('', 'autoPromote: false\n    lane: { maxAhead: 1 }'));
    await laned.release('1.0.0');
    await laned.release('2.0.0');
    await laned.until('both to await promotion', () => laned.stageOf('1.0.0', 'staging') === 'awaiting-promotion' && laned.stageOf('2.0.0', 'staging') === 'awaiting-promotion');
    await laned.envs.create(dev, { name: 'one', from: 'staging', ref: '1.0.0' });
    await laned.envs.create(dev, { name: 'two', from: 'staging', ref: '2.0.0' });
    await laned.envs.review(lead, 'one', { verdict: 'approved' });
    await laned.until('1.0.0 to await approval at prod', () => laned.stageOf('1.0.0', 'prod') === 'awaiting-approval');
    const r = await laned.envs.review(lead, 'two', { verdict: 'approved' });
    assert.equal(r.promotion?.outcome, 'promoted');
    assert.equal(r.promotion?.status, 'ready', 'let in, but queued: 1.0.0 is in staging without having reached prod');
    assert.equal(laned.stageOf('2.0.0', 'staging'), 'ready');
    assert.ok(!laned.deployed.includes('staging@2.0.0'), 'staging does not take it yet');
    assert.deepEqual(await laned.envs.list(), [], 'both environments are gone');
    await laned.executor.stop();
  });

  it('request-changes records the verdict and comment only; a redeploy of another build clears it, of the same build keeps it', async () => {
    const t = await setup(pipeline());
    await t.release('1.0.0');
    await t.release('1.1.0');
    await t.envs.create(dev, { name: 'pr-2', from: 'staging', ref: '1.0.0' });
    const r = await t.envs.review(lead, 'pr-2', { verdict: 'changes-requested', comment: 'the button is off by 2px' });
    assert.equal(r.promotion, null);
    assert.equal(r.destroyed, false);
    assert.equal(r.environment?.review?.verdict, 'changes-requested');
    assert.equal((await t.envs.show('pr-2')).review?.comment, 'the button is off by 2px');
    assert.equal((await t.envs.redeploy('pr-2', undefined)).review?.verdict, 'changes-requested', 'the same build: the verdict holds');
    const next = await t.envs.redeploy('pr-2', '1.1.0');
    assert.equal(next.review, undefined, 'another build needs a review of its own');
    assert.equal((await t.envs.show('pr-2')).review, undefined);
    assert.equal(t.stageOf('1.0.0', 'staging'), 'awaiting-promotion', 'nothing was promoted');
    await t.executor.stop();
  });

  it("--no-promote records the approval only; --keep promotes and keeps the environment; the pipeline's environments: sets the defaults", async () => {
    const t = await setup(pipeline('environments: { onApprove: record }'));
    await t.release('1.0.0');
    await t.until('awaiting promotion', () => t.stageOf('1.0.0', 'staging') === 'awaiting-promotion');
    await t.envs.create(dev, { name: 'a', from: 'staging', ref: '1.0.0' });
    const recorded = await t.envs.review(lead, 'a', { verdict: 'approved' });
    assert.equal(recorded.promotion, null, 'onApprove: record');
    assert.equal(recorded.environment?.review?.verdict, 'approved');
    assert.equal(t.stageOf('1.0.0', 'staging'), 'awaiting-promotion');
    const kept = await t.envs.review(lead, 'a', { verdict: 'approved', promote: true, keep: true });
    assert.equal(kept.promotion?.outcome, 'promoted');
    assert.equal(kept.destroyed, false);
    assert.equal((await t.envs.show('a')).status, 'ready');
    await t.executor.stop();

    const u = await setup(pipeline('environments: { destroyOnPromote: false }'));
    await u.release('1.0.0');
    await u.until('awaiting promotion', () => u.stageOf('1.0.0', 'staging') === 'awaiting-promotion');
    await u.envs.create(dev, { name: 'b', from: 'staging', ref: '1.0.0' });
    const r = await u.envs.review(lead, 'b', { verdict: 'approved' });
    assert.equal(r.promotion?.outcome, 'promoted');
    assert.equal(r.destroyed, false, 'destroyOnPromote: false');
    const noPromote = await u.envs.review(lead, 'b', { verdict: 'approved', promote: false });
    assert.equal(noPromote.promotion, null);
    await u.executor.stop();
  });

  it('an approve of a build already on its way to staging promotes nothing and still destroys the environment', async () => {
    const t = await setup(pipeline('', 'autoPromote: true'));
    await t.release('1.0.0');
    await t.until('1.0.0 at prod', () => t.stageOf('1.0.0', 'prod') === 'awaiting-approval');
    await t.envs.create(dev, { name: 'late', from: 'staging', ref: '1.0.0' });
    const r = await t.envs.review(lead, 'late', { verdict: 'approved' });
    assert.deepEqual([r.promotion?.outcome, r.promotion?.status, r.destroyed], ['already', 'passed', true]);
    assert.equal((await t.store.loadEvents('j-1.0.0')).filter((e) => e.type === 'stage.promoted').length, 0);
    await t.executor.stop();
  });

  it('refuses bad input and states it cannot act on, and changes nothing', async () => {
    const integ = ['autoPromote: false', '    after: integ', '  integ:', '    target: local', '    local: { start: node server.js }', '    approval: true'].join('\n');
    const t = await setup(pipeline('', integ));
    await t.release('1.0.0');
    await t.until('1.0.0 at integ', () => t.stageOf('1.0.0', 'integ') === 'awaiting-approval');
    await t.envs.create(dev, { name: 'c', from: 'staging', ref: '1.0.0' });
    const before = JSON.stringify(await t.envs.show('c'));
    const trail = (await t.audit()).length;
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'changes-requested' }), refused('BAD_REQUEST', /a request for changes needs a comment/));
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'changes-requested', comment: '   ' }), refused('BAD_REQUEST', /needs a comment/));
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'approved', comment: 'x'.repeat(2001) }), refused('BAD_REQUEST', /at most 2000 characters/));
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'maybe' as never }), refused('BAD_REQUEST', /verdict "maybe": approved or changes-requested/));
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'changes-requested', comment: 'x', keep: true }), refused('BAD_REQUEST', /go with an approve only/));
    await assert.rejects(t.envs.review(lead, 'nowhere', { verdict: 'approved' }), refused('NOT_FOUND', /there is no environment nowhere/));
    // Its journey has not passed integ: the promotion is refused, so the verdict is not written either.
    await assert.rejects(t.envs.review(lead, 'c', { verdict: 'approved' }), refused('INVALID_STATE', /cannot go to staging yet: its journey has not passed the stages before it/));
    assert.equal(JSON.stringify(await t.envs.show('c')), before, 'the environment is as it was');
    assert.equal((await t.audit()).length, trail, 'no audit record');
    await t.executor.stop();
  });

  it("obeys the stage's protection: a stage whose promoters are admins refuses an approver's promotion, and nothing is written", async () => {
    const t = await setup(pipeline('', 'autoPromote: false\n    protection: { promote: [admin] }'));
    await t.release('1.0.0');
    await t.until('awaiting promotion', () => t.stageOf('1.0.0', 'staging') === 'awaiting-promotion');
    await t.envs.create(dev, { name: 'd', from: 'staging', ref: '1.0.0' });
    await assert.rejects(t.envs.review(lead, 'd', { verdict: 'approved' }), refused('FORBIDDEN', /only admin tokens may promote 1\.0\.0 into staging/));
    assert.equal((await t.envs.show('d')).review, undefined);
    assert.equal(t.stageOf('1.0.0', 'staging'), 'awaiting-promotion');
    // The verdict alone is still the lead's to give.
    assert.equal((await t.envs.review(lead, 'd', { verdict: 'approved', promote: false })).review.verdict, 'approved');
    await t.executor.stop();
  });

  it('extends: the TTL starts again from now without a deploy, audited, and the sweep counts from there', async () => {
    const t = await setup(pipeline());
    await t.release('1.0.0');
    const made = await t.envs.create(dev, { name: 'x', from: 'staging', ref: '1.0.0', ttlMs: 3_600_000 });
    t.advance(3_000_000);
    const draft = { actor: dev, action: 'environment.extend', reason: 'still testing', links: {}, outcome: 'done' as const };
    const extended = await t.envs.extend('x', [draft]);
    assert.equal(extended.expiresAt, made.expiresAt! + 3_000_000, 'an hour from now again');
    assert.equal(extended.deploys, 1, 'no deploy');
    assert.deepEqual(t.deployed, ['x@1.0.0']);
    assert.deepEqual((await t.audit()).filter((a) => a[0] === 'environment.extend'), [['environment.extend', 'dev', 'x', 'staging']]);
    t.advance(3_599_000);
    assert.deepEqual(await t.envs.sweep(), [], 'not expired: the TTL counts from the extend');
    t.advance(2_000);
    assert.deepEqual(await t.envs.sweep(), ['x']);
    await assert.rejects(t.envs.extend('x'), refused('NOT_FOUND', /there is no environment x/));
    await t.executor.stop();
  });

  it('refuses to approve an environment whose deploy failed, and a server without a promoter says so', async () => {
    const t = await setup(pipeline(), { promoter: false });
    await t.release('1.0.0');
    await t.release('6.6.6');
    t.failing.add('6.6.6');
    assert.equal((await t.envs.create(dev, { name: 'bad', from: 'staging', ref: '6.6.6' })).status, 'failed');
    await assert.rejects(t.envs.review(lead, 'bad', { verdict: 'approved', promote: false }), refused('INVALID_STATE', /environment bad is failed, so its build 6\.6\.6 cannot be approved/));
    assert.equal((await t.envs.review(lead, 'bad', { verdict: 'changes-requested', comment: 'it does not start' })).review.verdict, 'changes-requested', 'feedback on a failed build is fine');
    await t.envs.create(dev, { name: 'e', from: 'staging', ref: '1.0.0' });
    await assert.rejects(t.envs.review(lead, 'e', { verdict: 'approved' }), refused('INVALID_STATE', /cannot promote from an environment/));
    assert.equal((await t.envs.review(lead, 'e', { verdict: 'approved', promote: false })).review.verdict, 'approved');
    await t.executor.stop();
  });
});
