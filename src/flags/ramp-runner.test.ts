import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store-memory/memory-store.js';
import type { TokenActor } from '../kernel/actor.js';
import { isSluiceError } from '../kernel/errors.js';
import { inThreadJudge } from '../rollout/ports/judge-runner.js';
import type { MetricQuery, MetricRef, MetricsProvider } from '../rollout/ports/metrics-provider.js';
import type { RampPlanInput } from './flag-ramp.js';
import { type ChangeMeta, FlagService } from './flag-service.js';
import { parseFlagsFile } from './flags-file.js';
import { FakeServing } from '../../test/helpers/fake-flag-serving.js';
import { parseVariantSeries, VARIANT_KEY_METADATA } from './ports/variant-metrics.js';
import { type RampNotice, RampRunner } from './ramp-runner.js';

/**
 * The data plane's per-variant counters as a metrics provider: per second of the window, the error rate each variant
 * has (`rates`), or nothing for a variant with no traffic. Records every window asked.
 */
class FakeVariantMetrics implements MetricsProvider {
  asked: Array<MetricQuery & { variant: string }> = [];
  constructor(public rates: Record<string, (second: number) => number>) {}
  async measure(): Promise<number | null> {
    return null;
  }
  async series(metric: MetricRef, q: MetricQuery): Promise<number[]> {
    const v = parseVariantSeries(q.version);
    assert.ok(v, `asked for a variant's series, not ${q.version}`);
    assert.equal(metric, 'error-rate');
    this.asked.push({ ...q, variant: v.variant });
    const rate = this.rates[v.variant];
    if (!rate) return [];
    const out: number[] = [];
    for (let s = Math.floor(q.fromMs / 1000); s < Math.floor(q.toMs / 1000); s++) out.push(rate(s));
    return out;
  }
}

const token = (role: TokenActor['role'], name = role): TokenActor => ({ kind: 'token', id: name, name, role });
const by = (actor: TokenActor, reason = 'because'): ChangeMeta => ({ actor, reason });
const admin = token('admin');
const healthy = (s: number) => (s % 7 === 0 ? 0.02 : 0.01 + (s % 3) * 0.001);
const broken = (s: number) => 0.4 + (s % 5) * 0.01;
const PLAN: RampPlanInput = { treatment: 'on', control: 'off', steps: [1, 5, 25, 100], waitMs: 30_000, variantKey: 'header:x-user-id' };

async function setup(rates: Record<string, (s: number) => number> = { on: healthy, off: healthy }) {
  const store = new MemoryStore();
  const serving = new FakeServing();
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const service = new FlagService({ store: store.flags, serving, clock, stages: () => ['staging', 'prod'], changeRoles: (s) => (s === 'prod' ? ['approver'] : ['deployer']) });
  await service.define(by(admin), { key: 'sale', type: 'boolean', variants: { on: true, off: false }, description: '', owner: '' });
  await service.set(by(admin), 'prod', 'sale', { state: 'ENABLED', defaultVariant: 'off' });
  const metrics = new FakeVariantMetrics(rates);
  const notices: RampNotice[] = [];
  const runner = (m: MetricsProvider = metrics) =>
    new RampRunner({ flags: service, metrics: m, judge: inThreadJudge({ maxValues: 100_000 }), clock, notify: async (n) => void notices.push(n) });
  return { store, serving, service, clock, metrics, notices, runner, advance: (ms: number) => (now += ms) };
}

const refused = async (p: Promise<unknown>, code: string, re: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(isSluiceError(e), String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });

describe('guarded ramps: the service', () => {
  it('start serves the first step as a split with the variant key in the metadata; events and audit written with the change', async () => {
    const { store, serving, service } = await setup();
    const before = (await store.flags.flagSnapshot()).stages.prod!.revision;
    const r = await service.rampStart(by(admin, 'ship the sale'), 'prod', 'sale', PLAN);
    assert.deepEqual([r.ramp.run?.status, r.ramp.run?.percent, r.revisions.prod], ['running', 1, before + 1]);
    const doc = serving.sets.get('prod')!.doc;
    assert.deepEqual(doc.flags.sale?.targeting, { fractional: [['on', 1], ['off', 99]] });
    assert.equal(doc.flags.sale?.metadata?.[VARIANT_KEY_METADATA], 'header:x-user-id');
    const ev = (await store.flags.flagEvents({ stage: 'prod', flag: 'sale', limit: 1 }))[0]!;
    assert.equal(ev.type, 'ramp.started');
    assert.deepEqual(ev.revisions, { prod: before + 1 });
    const audit = (await store.auditRecords(0, 100)).at(-1)!;
    assert.deepEqual([audit.action, audit.reason, audit.links.flag, audit.links.stage], ['flag.ramp.start', 'ship the sale', 'sale', 'prod']);
    const view = (await service.show('sale')).stages.prod!;
    assert.equal(view.rampInfo?.measurement, 'the router, counting requests by header x-user-id');
    assert.equal(view.rampInfo?.nextJudgementAt, r.ramp.run!.stepStartedAt + 30_000);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const { store, service } = await setup();
    const snap = JSON.stringify(await store.flags.flagSnapshot());
    const events = (await store.flags.flagEvents({ limit: 1000 })).length;
    await refused(service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, treatment: 'maybe' }), 'BAD_REQUEST', /ramp treatment: "maybe" is not a variant of the flag \(its variants: on, off\)/);
    await refused(service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, steps: [1, 25, 5, 100] }), 'BAD_REQUEST', /strictly increasing/);
    await refused(service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, waitMs: 10 }), 'BAD_REQUEST', /wait: 10 ms is out of bounds/);
    await refused(service.rampStart(by(admin), 'staging', 'sale', PLAN), 'INVALID_STATE', /flag sale is off in staging: a ramp moves users of an enabled flag; turn it on first/);
    await refused(service.rampStart(by(admin), 'prod', 'nope', PLAN), 'NOT_FOUND', /there is no flag nope/);
    await refused(service.rampStart(by(admin), 'prod', 'sale'), 'BAD_REQUEST', /declares no ramp in prod/);
    await refused(service.rampStart(by(token('deployer')), 'prod', 'sale', PLAN), 'FORBIDDEN', /ramp flags of stage prod needs a token that may deploy to prod/);
    await refused(service.rampPause(by(admin), 'prod', 'sale'), 'NOT_FOUND', /no ramp in prod/);
    await service.set(by(admin), 'prod', 'sale', { targeting: { if: [{ in: ['@example.com', { var: 'email' }] }, 'on', null] } });
    const withRules = JSON.stringify(await store.flags.flagSnapshot());
    await refused(service.rampStart(by(admin), 'prod', 'sale', PLAN), 'INVALID_STATE', /has targeting rules; a ramp owns the flag's targeting while it runs/);
    assert.equal(JSON.stringify(await store.flags.flagSnapshot()), withRules, 'nothing changed');
    assert.notEqual(snap, withRules);
    assert.equal((await store.flags.flagEvents({ limit: 1000 })).length, events + 1, 'only the targeting change was recorded');
  });

  it('pause, resume and abort by hand: abort puts back the targeting from before; a paused ramp is not judged', async () => {
    const { serving, service, runner, advance, metrics } = await setup();
    await service.set(by(admin), 'prod', 'sale', { targeting: { fractional: [['on', 10], ['off', 90]] } });
    await service.rampStart(by(admin), 'prod', 'sale', PLAN);
    const p = await service.rampPause(by(admin, 'looking at a graph'), 'prod', 'sale');
    assert.deepEqual([p.ramp.run?.status, p.ramp.run?.reason, p.ramp.nextJudgementAt], ['paused', 'looking at a graph', null]);
    advance(60_000);
    await runner().tick();
    assert.equal(metrics.asked.length, 0, 'a paused ramp is not judged');
    await refused(service.rampPause(by(admin), 'prod', 'sale'), 'INVALID_STATE', /only a running ramp can be paused; this one is paused/);
    const r = await service.rampResume(by(admin), 'prod', 'sale');
    assert.equal(r.ramp.nextJudgementAt, r.ramp.run!.stepStartedAt + 30_000);
    await refused(service.set(by(admin), 'prod', 'sale', { targeting: null }), 'INVALID_STATE', /sale in prod is being ramped \(running at 1 %\): the ramp owns its default variant and targeting; abort it first/);
    // flagd's format has no ramps: an import that would replace the ramped flag is refused, and changes nothing.
    const exported = await service.exportFlagd('prod');
    const before = JSON.stringify(await service.show('sale'));
    await refused(service.importFlagd(by(admin), 'prod', exported), 'INVALID_STATE', /stage prod is ramping sale: .* abort the ramp first \(sluice flags ramp abort sale --stage prod\) or leave that flag out of the document/);
    assert.equal(JSON.stringify(await service.show('sale')), before);
    await service.set(by(admin, 'kill switch'), 'prod', 'sale', { state: 'DISABLED' });
    await service.set(by(admin), 'prod', 'sale', { state: 'ENABLED' });
    await service.copy(by(admin), 'prod', 'staging', ['sale']);
    const copied = (await service.show('sale')).stages.staging!;
    assert.deepEqual([copied.ramp?.plan.steps, copied.ramp?.run], [[1, 5, 25, 100], undefined], 'a copy takes the plan, not the run');
    await service.rampAbort(by(admin, 'not today'), 'prod', 'sale');
    assert.deepEqual(serving.sets.get('prod')!.doc.flags.sale?.targeting, { fractional: [['on', 10], ['off', 90]] });
    assert.deepEqual((await service.history({ flag: 'sale', stage: 'prod' })).map((e) => e.type).slice(-6), ['ramp.started', 'ramp.paused', 'ramp.resumed', 'flag.set', 'flag.set', 'ramp.aborted']);
  });
});

describe('guarded ramps: the runner', () => {
  it('judges each step at the end of its wait on the step\'s window, steps up while the treatment is as good, and completes: the treatment to everyone', async () => {
    const { serving, service, runner, advance, metrics } = await setup();
    const start = await service.rampStart(by(admin), 'prod', 'sale', PLAN);
    const rr = runner();
    advance(29_000);
    await rr.tick();
    assert.equal(metrics.asked.length, 0, 'not due yet');
    const shares: number[] = [serving.share('prod', 'sale')];
    // Three judgements: 1 %, 5 % and 25 %; the last passing gives everyone the treatment (100 % is never judged).
    for (let i = 0; i < 3; i++) {
      advance(30_000);
      await rr.tick();
      shares.push(serving.share('prod', 'sale'));
    }
    assert.equal(metrics.asked[0]!.fromMs, start.ramp.run!.stepStartedAt, 'the window is the step');
    assert.deepEqual(metrics.asked.slice(0, 2).map((q) => q.variant), ['on', 'off']);
    const near = (x: number | undefined, want: number, by: number) => Math.abs(x! - want) <= by;
    const steps = near(shares[0], 0.01, 0.02) && near(shares[1], 0.05, 0.02) && near(shares[2], 0.25, 0.03);
    assert.ok(steps && shares[3] === 1, String(shares));
    const f = serving.sets.get('prod')!.doc.flags.sale!;
    assert.deepEqual([f.defaultVariant, f.targeting], ['on', undefined]);
    const r = await service.ramp('prod', 'sale');
    assert.equal(r.run?.status, 'completed');
    assert.equal(r.run?.verdicts.length, 3);
    assert.deepEqual((await service.history({ flag: 'sale', stage: 'prod' })).map((e) => e.type).slice(-4), ['ramp.started', 'ramp.stepped', 'ramp.stepped', 'ramp.completed']);
  });

  it('end to end: the treatment\'s error rate is high, the ramp goes back to 0 % by itself, the served set shows it, the audit says why, people are told', async () => {
    const { store, serving, service, runner, advance, notices } = await setup({ on: broken, off: healthy });
    await service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, steps: [5, 50, 100] });
    assert.ok(serving.share('prod', 'sale') > 0.02);
    advance(30_000);
    await runner().tick();
    assert.equal(serving.share('prod', 'sale'), 0, 'nobody gets the treatment');
    assert.deepEqual(serving.sets.get('prod')!.doc.flags.sale?.targeting, { fractional: [['on', 0], ['off', 100]] });
    const r = await service.ramp('prod', 'sale');
    assert.deepEqual([r.run?.status, r.run?.percent], ['regressed', 0]);
    const ev = (await service.history({ flag: 'sale', stage: 'prod' })).at(-1)!;
    assert.equal(ev.type, 'ramp.regressed');
    type Figures = Array<{ metric: string; treatmentMean: number; controlMean: number }>;
    const data = ev.data as { reason: string; verdict: { score: number }; figures: Figures };
    assert.match(data.reason, /the judge found on worse than off at 5 %: error-rate High: treatment \(on\) mean 0\.4\d* vs control \(off\) mean 0\.01\d*, ratio \d+.*; score 0/);
    assert.equal(data.figures[0]!.metric, 'error-rate');
    const audit = (await store.auditRecords(0, 100)).at(-1)!;
    assert.equal(audit.action, 'flag.ramp.judge');
    assert.equal(audit.actor.kind, 'system');
    assert.match(audit.reason, /^the judge found on worse than off at 5 %: error-rate High: treatment \(on\) mean 0\.4.*; set back to 0 % on$/);
    assert.equal(notices.length, 1);
    assert.deepEqual([notices[0]!.kind, notices[0]!.stage, notices[0]!.flag], ['regressed', 'prod', 'sale']);
    assert.match(notices[0]!.reason, /error-rate High/);
    advance(60_000);
    await runner().tick();
    assert.equal((await service.ramp('prod', 'sale')).run?.status, 'regressed', 'a regressed ramp is not judged again');
  });

  it('with onRegression pause, a regression holds the percentage and pauses', async () => {
    const { serving, service, runner, advance } = await setup({ on: broken, off: healthy });
    await service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, steps: [25, 100], onRegression: 'pause' });
    advance(30_000);
    await runner().tick();
    const r = await service.ramp('prod', 'sale');
    assert.deepEqual([r.run?.status, r.run?.percent], ['paused', 25]);
    assert.ok(Math.abs(serving.share('prod', 'sale') - 0.25) < 0.03);
  });

  it('no traffic on a side holds the step, judged again after another wait, then pauses with the reason after maxHolds', async () => {
    const { service, runner, advance, notices } = await setup({ on: healthy });
    await service.rampStart(by(admin), 'prod', 'sale', { ...PLAN, maxHolds: 1 });
    advance(30_000);
    await runner().tick();
    let r = await service.ramp('prod', 'sale');
    assert.deepEqual([r.run?.status, r.run?.holds, r.nextJudgementAt], ['running', 1, r.run!.stepStartedAt + 60_000]);
    assert.match(r.run!.verdicts[0]!.reason, /too little traffic to judge error-rate: 30 s with requests on on, 0 s on off/);
    advance(30_000);
    await runner().tick();
    r = await service.ramp('prod', 'sale');
    assert.equal(r.run?.status, 'paused');
    assert.match(r.run!.reason!, /no verdict after 2 judgements of the step at 1 %/);
    assert.deepEqual(notices.map((n) => n.kind), ['paused']);
  });

  it('after a restart a new runner picks the ramp up where the store has it; a judgement due while it was away is made at once, on the counters of the step', async () => {
    const { service, runner, advance, metrics } = await setup();
    const s = await service.rampStart(by(admin), 'prod', 'sale', PLAN);
    // The control plane is away for 3 minutes: the step fell due 150 s ago.
    advance(180_000);
    await runner().tick();
    const r = await service.ramp('prod', 'sale');
    assert.deepEqual([r.run?.status, r.run?.percent], ['running', 5]);
    assert.equal(metrics.asked[0]!.fromMs, s.ramp.run!.stepStartedAt);
    assert.equal(metrics.asked[0]!.toMs, s.ramp.run!.stepStartedAt + 180_000);
    // Away longer than the counters remember: the window is their last 600 s.
    advance(30 * 60_000);
    await runner().tick();
    assert.equal(metrics.asked.at(-1)!.fromMs, metrics.asked.at(-1)!.toMs - 600_000);
  });

  it('two replicas judging the same step: one advances the ramp, the other gets CONFLICT and, reading it again, finds nothing due', async () => {
    const { service, advance, runner, metrics } = await setup();
    await service.rampStart(by(admin), 'prod', 'sale', PLAN);
    advance(30_000);
    const [a, b] = [runner(), runner()];
    const seen = await service.ramps();
    // Both read the same revision; both judge; the second write is refused.
    await a.judgeOne(seen[0]!, seen[0]!.nextJudgementAt as number);
    await refused(b.judgeOne(seen[0]!, seen[0]!.nextJudgementAt as number), 'CONFLICT', /changed since the ramp of sale was read \(revision \d+, not \d+\); read it again/);
    const r = await service.ramp('prod', 'sale');
    assert.deepEqual([r.run?.step, r.run?.verdicts.length], [1, 1], 'stepped once');
    const asked = metrics.asked.length;
    await b.tick();
    assert.equal(metrics.asked.length, asked, 'b reloaded: the next step is not due');
    assert.equal((await service.history({ flag: 'sale', stage: 'prod' })).filter((e) => e.type === 'ramp.stepped').length, 1);
  });
});

describe('guarded ramps: the flags file', () => {
  const file = (ramp: string) => `flags:
  sale:
    type: boolean
    variants: { on: true, off: false }
    stages:
      prod:
        enabled: true
        default: off
        ramp: ${ramp}
`;
  it('declares a ramp under a stage; start then uses it', async () => {
    const { service, serving } = await setup();
    await service.applyText(by(admin), file('{ treatment: on, control: off, steps: [1,5,25,100], wait: 30s, variantKey: header:x-user-id, onRegression: zero }'), 'sluice.flags.yaml');
    assert.equal(serving.sets.get('prod')!.doc.flags.sale?.metadata?.[VARIANT_KEY_METADATA], 'header:x-user-id');
    const r = await service.rampStart(by(admin), 'prod', 'sale');
    assert.deepEqual([r.ramp.plan.waitMs, r.ramp.plan.steps, r.ramp.run?.percent], [30_000, [1, 5, 25, 100], 1]);
    // Re-applying the unchanged file keeps the ramp where it is.
    const again = await service.applyText(by(admin), file('{ treatment: on, control: off, steps: [1,5,25,100], wait: 30s, variantKey: header:x-user-id, onRegression: zero }'), 'sluice.flags.yaml');
    assert.equal(again.changed.length, 0);
    assert.equal((await service.ramp('prod', 'sale')).run?.status, 'running');
  });
  it('reports a bad ramp at file:line:col', () => {
    const at = (ramp: string) => {
      try {
        parseFlagsFile(file(ramp), 'sluice.flags.yaml', ['staging', 'prod']);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    assert.match(at('{ treatment: maybe, control: off, steps: [1,100], wait: 30s }'), /sluice\.flags\.yaml:9:\d+.*ramp treatment: "maybe" is not a variant/s);
    assert.match(at('{ treatment: on, control: off, steps: [5,1,100], wait: 30s }'), /sluice\.flags\.yaml:9:\d+.*strictly increasing/s);
    assert.match(at('{ treatment: on, control: off, steps: [1,100], wait: 1s }'), /sluice\.flags\.yaml:9:\d+.*wait: 1000 ms is out of bounds/s);
    assert.match(at('{ treatment: on, control: off, steps: [1,100], wait: 30s, speed: 3 }'), /sluice\.flags\.yaml:9:\d+.*unknown key "speed"/s);
  });
});
