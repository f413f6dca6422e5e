import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JourneySim, shopPlan } from '../../test/helpers/journey-sim.js';
import { ROLES, type Role, type TokenActor } from '../kernel/actor.js';
import { isSluiceError } from '../kernel/errors.js';
import type { DeployWindowPlan, ProtectionPlan } from '../pipeline/pipeline.js';
import { WEEKDAYS } from '../pipeline/pipeline-schema.js';
import { buildBoard } from './board.js';
import { approveCommand, promoteCommand, rejectCommand } from './journey-commands.js';
import { deployHold, describeInstant, insideWindow, nextOpening, requireRole } from './protection.js';

const at = (iso: string) => Date.parse(iso);
const MIN = 60_000;
const office: DeployWindowPlan = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' };
const protection = (p: Partial<ProtectionPlan>): ProtectionPlan => ({ approvals: 1, separateApprover: false, windows: [], freezes: [], ...p });
const token = (name: string, role: Role): TokenActor => ({ kind: 'token', id: `id-${name}`, name, role });

/** The error a call throws, as code and message. */
function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    assert.ok(isSluiceError(e), `expected a SluiceError, got ${e}`);
    return { code: e.code, message: e.message };
  }
  return assert.fail('expected a refusal');
}

describe('deploy windows', () => {
  it('are open from `from` up to `to` on the listed days, in their own time zone (winter and summer time)', () => {
    // December: Berlin is UTC+1. 2026-12-07 is a Monday.
    assert.equal(insideWindow(office, at('2026-12-07T07:59:59Z')), false, 'Mon 08:59:59 Berlin');
    assert.equal(insideWindow(office, at('2026-12-07T08:00:00Z')), true, 'Mon 09:00 Berlin');
    assert.equal(insideWindow(office, at('2026-12-07T15:59:59Z')), true, 'Mon 16:59:59 Berlin');
    assert.equal(insideWindow(office, at('2026-12-07T16:00:00Z')), false, 'Mon 17:00 Berlin: to is excluded');
    assert.equal(insideWindow(office, at('2026-12-05T10:00:00Z')), false, 'a Saturday');
    // June: Berlin is UTC+2.
    assert.equal(insideWindow(office, at('2026-06-01T06:30:00Z')), false, 'Mon 08:30 Berlin summer time');
    assert.equal(insideWindow(office, at('2026-06-01T07:00:00Z')), true, 'Mon 09:00 Berlin summer time');
    // Late Sunday in UTC is already Monday in Tokyo.
    const tokyo: DeployWindowPlan = { days: ['mon'], from: '00:00', to: '24:00', timeZone: 'Asia/Tokyo' };
    assert.equal(insideWindow(tokyo, at('2026-12-06T15:00:00Z')), true, 'Mon 00:00 Tokyo');
    assert.equal(insideWindow(tokyo, at('2026-12-06T14:59:00Z')), false, 'Sun 23:59 Tokyo');
    assert.equal(insideWindow(tokyo, at('2026-12-07T14:59:00Z')), true, 'Mon 23:59 Tokyo: 24:00 closes the day');
  });

  it('run past midnight when `to` is not after `from`: from the listed day into the next', () => {
    const night: DeployWindowPlan = { days: ['sat'], from: '22:00', to: '06:00', timeZone: 'UTC' };
    assert.equal(insideWindow(night, at('2026-12-05T21:59:00Z')), false, 'Sat 21:59');
    assert.equal(insideWindow(night, at('2026-12-05T22:00:00Z')), true, 'Sat 22:00');
    assert.equal(insideWindow(night, at('2026-12-06T05:59:00Z')), true, 'Sun 05:59, the night of Saturday');
    assert.equal(insideWindow(night, at('2026-12-06T06:00:00Z')), false, 'Sun 06:00');
    assert.equal(insideWindow(night, at('2026-12-06T23:00:00Z')), false, 'Sun 23:00: Sunday is not listed');
    assert.equal(insideWindow(night, at('2026-12-05T03:00:00Z')), false, 'Sat 03:00 belongs to Friday night');
  });

  it('open next at the following window start: after Friday 17:00 comes Monday 09:00, across a change of summer time', () => {
    const p = protection({ windows: [office] });
    assert.equal(nextOpening(p, at('2026-12-04T16:30:00Z')), at('2026-12-07T08:00:00Z'), 'Fri 17:30 → Mon 09:00 (UTC+1)');
    assert.equal(nextOpening(p, at('2026-12-07T09:00:00Z')), at('2026-12-07T09:00:00Z'), 'open now: now');
    // Berlin moves to UTC+2 on Sunday 2026-03-29.
    assert.equal(nextOpening(p, at('2026-03-27T17:00:00Z')), at('2026-03-30T07:00:00Z'), 'Fri → Mon 09:00 (UTC+2)');
    // Two windows: the earlier start wins.
    const weekend: DeployWindowPlan = { days: ['sat'], from: '10:00', to: '12:00', timeZone: 'UTC' };
    assert.equal(nextOpening(protection({ windows: [office, weekend] }), at('2026-12-04T16:30:00Z')), at('2026-12-05T10:00:00Z'));
  });

  it('never leave a closed gap: the next opening is open, and no minute before it is (any windows, any freezes)', () => {
    const hhmm = fc.integer({ min: 0, max: 24 * 4 }).map((q) => `${String(Math.floor(q / 4)).padStart(2, '0')}:${String((q % 4) * 15).padStart(2, '0')}`);
    const win = fc
      .record({
        days: fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1, maxLength: 7 }),
        from: hhmm.filter((h) => h !== '24:00'),
        to: hhmm,
        timeZone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'),
      })
      .filter((w) => w.from !== w.to);
    const base = at('2026-03-25T00:00:00Z');
    const freeze = fc
      .record({ start: fc.integer({ min: 0, max: 10 * 24 * 60 }), length: fc.integer({ min: 1, max: 3 * 24 * 60 }) })
      .map(({ start, length }) => ({ from: base + start * MIN, to: base + (start + length) * MIN, reason: 'r' }));
    fc.assert(
      fc.property(
        fc.array(win, { maxLength: 3 }),
        fc.array(freeze, { maxLength: 3 }),
        fc.integer({ min: 0, max: 10 * 24 * 60 * 60 }),
        (windows, freezes, sec) => {
          const p = protection({ windows, freezes });
          const now = base + sec * 1000;
          const open = nextOpening(p, now);
          assert.ok(open >= now);
          assert.equal(deployHold(p, open), undefined, 'open at the opening');
          for (let t = Math.ceil(now / MIN) * MIN; t < open; t += MIN) assert.ok(deployHold(p, t), `open already at ${new Date(t).toISOString()}`);
          if (open > now) assert.equal(deployHold(p, now)?.until, open, 'the hold says until when');
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('freezes', () => {
  const holidays = { from: at('2026-12-20T00:00:00Z'), to: at('2027-01-04T00:00:00Z'), reason: 'year-end freeze' };

  it('hold until their end, with their reason, and then the windows decide', () => {
    const now = at('2026-12-24T12:00:00Z');
    assert.deepEqual(deployHold(protection({ freezes: [holidays] }), now), {
      kind: 'freeze',
      until: holidays.to,
      reason: 'year-end freeze',
      message: 'frozen until Mon 2027-01-04 00:00 UTC (year-end freeze)',
    });
    // The freeze ends at midnight Berlin+1 = 01:00 Berlin, before the window: it opens at 09:00 Berlin.
    const both = deployHold(protection({ freezes: [holidays], windows: [office] }), now);
    assert.equal(both?.until, at('2027-01-04T08:00:00Z'));
    assert.equal(both?.message, 'frozen until Mon 2027-01-04 01:00 Europe/Berlin (year-end freeze); then waiting for deploy window (opens Mon 2027-01-04 09:00 Europe/Berlin)');
    assert.equal(deployHold(protection({ freezes: [holidays] }), holidays.to), undefined, 'to is excluded');
    assert.equal(deployHold(protection({ freezes: [holidays] }), holidays.from - 1), undefined, 'not yet');
  });

  it('that overlap or touch hold until the last one ends', () => {
    const a = { from: at('2026-12-01T00:00:00Z'), to: at('2026-12-03T00:00:00Z'), reason: 'a' };
    const b = { from: at('2026-12-02T00:00:00Z'), to: at('2026-12-05T00:00:00Z'), reason: 'b' };
    const c = { from: at('2026-12-05T00:00:00Z'), to: at('2026-12-06T00:00:00Z'), reason: 'c' };
    assert.equal(nextOpening(protection({ freezes: [c, a, b] }), at('2026-12-01T10:00:00Z')), c.to);
  });

  it('and windows say when they open, for people: the weekday within a week, the date beyond', () => {
    const now = at('2026-12-04T16:30:00Z'); // Fri 17:30 Berlin
    assert.deepEqual(deployHold(protection({ windows: [office] }), now), {
      kind: 'window',
      until: at('2026-12-07T08:00:00Z'),
      message: 'waiting for deploy window (opens Mon 09:00 Europe/Berlin)',
    });
    assert.equal(describeInstant(at('2026-12-20T08:00:00Z'), 'Europe/Berlin', now), 'Sun 2026-12-20 09:00 Europe/Berlin');
    assert.equal(deployHold(undefined, now), undefined, 'no protection: never held');
    assert.equal(deployHold(protection({}), now), undefined, 'no windows nor freezes: never held');
  });
});

describe('protection roles', () => {
  it('allow admin always and the roles listed; others are FORBIDDEN with the roles named', () => {
    const lists: (readonly Role[])[] = [[], ['deployer'], ['approver'], ['admin'], ['deployer', 'approver'], ['deployer', 'admin'], ['approver', 'admin']];
    for (const allowed of lists)
      for (const role of ROLES) {
        const who = token('t', role);
        const ok = role === 'admin' || allowed.includes(role);
        if (ok) assert.doesNotThrow(() => requireRole(who, allowed, 'approve 1.0.0 at prod'), `${role} with ${allowed}`);
        else {
          const r = refusal(() => requireRole(who, allowed, 'approve 1.0.0 at prod'));
          assert.equal(r.code, 'FORBIDDEN');
          assert.match(r.message, new RegExp(`^only ${[...new Set([...allowed, 'admin'])].join(' or ')} tokens may approve 1\\.0\\.0 at prod; token "t" is an? ${role}$`));
        }
      }
  });
});

const PROD = (rules: string, extra = '') =>
  shopPlan(`  staging: {}
  prod:
    after: staging
${extra}    protection:
${rules}`);

describe('stage protection in a journey', () => {
  const ci = { id: 'id-ci', name: 'ci' };
  const alice = token('alice', 'approver');
  const bob = token('bob', 'approver');
  const dave = token('dave', 'deployer');

  it('approvals: the roles named may approve, each token once, until as many distinct tokens as asked have', () => {
    const s = new JourneySim(PROD('      approve: [approver]\n      approvals: 2\n', '    approval: true\n'));
    s.create('1.0.0', undefined, ci);
    s.run();
    const prod = () => s.get('1.0.0').stages.prod!;
    assert.equal(prod().status, 'awaiting-approval');
    const forbidden = refusal(() => approveCommand(s.get('1.0.0'), 'prod', dave));
    assert.deepEqual(forbidden, { code: 'FORBIDDEN', message: 'only approver or admin tokens may approve 1.0.0 at prod; token "dave" is a deployer' });
    assert.equal(refusal(() => rejectCommand(s.get('1.0.0'), 'prod', dave, 'no')).code, 'FORBIDDEN', 'nor reject');
    s.command(approveCommand(s.get('1.0.0'), 'prod', alice, 'fine'));
    s.run();
    assert.equal(prod().status, 'awaiting-approval', 'one of two');
    assert.deepEqual(buildBoard(s.get('1.0.0').plan, s.all(), s.now).stages[1]!.latest?.approvals, { gate: 'after-verify', received: 1, required: 2, by: ['alice'] });
    const again = refusal(() => approveCommand(s.get('1.0.0'), 'prod', alice));
    assert.deepEqual(again, { code: 'INVALID_STATE', message: 'token "alice" already approved 1.0.0 at prod (1 of 2); another token must approve' });
    // The same name on another token is another approver: tokens are told apart by id.
    s.command(approveCommand(s.get('1.0.0'), 'prod', { ...alice, id: 'id-alice-2' }));
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded');
    const approved = s.logs.get('1.0.0')!.filter((e) => e.type === 'stage.approved');
    assert.deepEqual(approved.map((e) => e.type === 'stage.approved' && [e.by, e.byId, e.gate]), [['alice', 'id-alice', undefined], ['alice', 'id-alice-2', undefined]]);
  });

  it('separateApprover: the token that created the release may not approve it; any other may, admin included', () => {
    const s = new JourneySim(PROD('      separateApprover: true\n', '    approval: true\n'));
    const creator = token('ci', 'admin');
    s.create('1.0.0', undefined, { id: creator.id, name: creator.name });
    s.run();
    const r = refusal(() => approveCommand(s.get('1.0.0'), 'prod', creator));
    assert.deepEqual(r, { code: 'FORBIDDEN', message: 'token "ci" created release 1.0.0, and prod needs a separate approver: another token must approve it' });
    s.command(approveCommand(s.get('1.0.0'), 'prod', token('lead', 'admin')));
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded');
    // Without separateApprover the creator may.
    const t = new JourneySim(PROD('      approvals: 1\n', '    approval: true\n'));
    t.create('1.0.0', undefined, { id: creator.id, name: creator.name });
    t.run();
    t.command(approveCommand(t.get('1.0.0'), 'prod', creator));
    t.run();
    assert.equal(t.get('1.0.0').status, 'succeeded');
  });

  it('approval before deploy: nothing is deployed to the stage until approved; a rejection then has nothing to undo', () => {
    const p = PROD('      approvals: 2\n', '    approval: { before: deploy }\n');
    const s = new JourneySim(p);
    s.create('1.0.0', undefined, ci);
    s.run();
    assert.equal(s.get('1.0.0').stages.prod!.status, 'awaiting-approval');
    assert.ok(!s.executed.some((k) => k.startsWith('1.0.0/prod/')), 'prod has deployed nothing');
    s.command(approveCommand(s.get('1.0.0'), 'prod', alice));
    s.run();
    assert.ok(!s.executed.some((k) => k.startsWith('1.0.0/prod/')), 'one approval of two: still nothing');
    assert.equal(buildBoard(p, s.all(), s.now).stages[1]!.latest?.approvals?.gate, 'before-deploy');
    s.command(approveCommand(s.get('1.0.0'), 'prod', bob));
    s.run();
    assert.deepEqual(s.executed.filter((k) => k.startsWith('1.0.0/prod/')), ['1.0.0/prod/deploy']);
    assert.equal(s.get('1.0.0').status, 'succeeded');

    s.create('2.0.0', undefined, ci);
    s.run();
    s.command(rejectCommand(s.get('2.0.0'), 'prod', alice, 'not today'));
    s.run();
    const j = s.get('2.0.0');
    assert.equal(j.stages.prod!.status, 'rolled-back');
    assert.equal(j.status, 'failed');
    assert.deepEqual(j.failure, { stage: 'prod', reason: 'rejected by alice: not today' });
    assert.ok(!s.executed.some((k) => k.startsWith('2.0.0/prod/')), 'nothing deployed, nothing rolled back');
  });

  it('approval before deploy and after verify: two gates, each with its own approvers', () => {
    const s = new JourneySim(PROD('      approvals: 1\n', '    approval: { before: deploy, after: verify }\n    verify: { smoke: t }\n'));
    s.create('1.0.0');
    s.run();
    s.command(approveCommand(s.get('1.0.0'), 'prod', alice));
    s.run();
    assert.deepEqual(s.executed.filter((k) => k.startsWith('1.0.0/prod/')), ['1.0.0/prod/deploy', '1.0.0/prod/verify:smoke']);
    assert.equal(s.get('1.0.0').stages.prod!.status, 'awaiting-approval', 'verified: the second approval');
    s.command(approveCommand(s.get('1.0.0'), 'prod', alice));
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded', 'the same token may approve each gate once');
  });

  it('promote: the roles named may; outside a window it is refused with the next opening, and an automatic one waits then goes on', () => {
    const rules = `      promote: [deployer]
      windows:
        - { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", timeZone: Europe/Berlin }
`;
    const manual = PROD(rules, '    autoPromote: false\n');
    const s = new JourneySim(manual);
    s.now = at('2026-12-04T16:30:00Z'); // Fri 17:30 Berlin
    s.create('1.0.0');
    s.run();
    assert.equal(s.get('1.0.0').stages.prod!.status, 'awaiting-promotion');
    assert.deepEqual(refusal(() => promoteCommand(s.get('1.0.0'), 'prod', alice, s.now)), {
      code: 'FORBIDDEN',
      message: 'only deployer or admin tokens may promote 1.0.0 into prod; token "alice" is an approver',
    });
    assert.deepEqual(refusal(() => promoteCommand(s.get('1.0.0'), 'prod', dave, s.now)), {
      code: 'INVALID_STATE',
      message: 'cannot promote 1.0.0 into prod now: waiting for deploy window (opens Mon 09:00 Europe/Berlin)',
    });
    s.now = at('2026-12-07T08:00:00Z');
    s.command(promoteCommand(s.get('1.0.0'), 'prod', dave, s.now));
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded');

    const auto = new JourneySim(PROD(rules));
    auto.now = at('2026-12-04T16:30:00Z');
    auto.create('1.0.0');
    const wake = auto.settle();
    assert.equal(auto.get('1.0.0').stages.prod!.status, 'ready', 'staging passed; prod waits');
    assert.equal(wake, at('2026-12-07T08:00:00Z'), 'the engine wakes at the opening');
    assert.deepEqual(buildBoard(auto.get('1.0.0').plan, auto.all(), auto.now).stages[1]!.latest?.hold, {
      kind: 'window',
      until: at('2026-12-07T08:00:00Z'),
      message: 'waiting for deploy window (opens Mon 09:00 Europe/Berlin)',
    });
    auto.run();
    assert.equal(auto.get('1.0.0').status, 'succeeded');
    assert.equal(auto.get('1.0.0').stages.prod!.enteredAt, at('2026-12-07T08:00:00Z'), 'entered when the window opened');
  });

  it('approved before its deploy but outside a window: the deploy waits for the opening', () => {
    const s = new JourneySim(PROD('      windows:\n        - { days: [mon], from: "09:00", to: "10:00" }\n', '    approval: { before: deploy }\n'));
    s.now = at('2026-12-07T09:30:00Z');
    s.create('1.0.0');
    s.settle();
    assert.equal(s.get('1.0.0').stages.prod!.status, 'awaiting-approval');
    s.now = at('2026-12-07T10:30:00Z');
    s.command(approveCommand(s.get('1.0.0'), 'prod', alice));
    assert.equal(s.settle(), at('2026-12-14T09:00:00Z'));
    assert.ok(!s.executed.some((k) => k.startsWith('1.0.0/prod/')));
    assert.equal(buildBoard(s.get('1.0.0').plan, s.all(), s.now).stages[1]!.latest?.hold?.message, 'waiting for deploy window (opens Mon 2026-12-14 09:00 UTC)');
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded');
  });

  it('a freeze holds an automatic promotion and refuses a manual one, with its reason', () => {
    const rules = '      freezes:\n        - { from: "2026-12-20T00:00:00Z", to: "2027-01-04T00:00:00Z", reason: year-end }\n';
    const s = new JourneySim(PROD(rules));
    s.now = at('2026-12-24T12:00:00Z');
    s.create('1.0.0');
    assert.equal(s.settle(), at('2027-01-04T00:00:00Z'));
    assert.equal(buildBoard(s.get('1.0.0').plan, s.all(), s.now).stages[1]!.latest?.hold?.message, 'frozen until Mon 2027-01-04 00:00 UTC (year-end)');
    const m = new JourneySim(PROD(rules, '    autoPromote: false\n'));
    m.now = s.now;
    m.create('1.0.0');
    m.settle();
    const r = refusal(() => promoteCommand(m.get('1.0.0'), 'prod', token('root', 'admin'), m.now));
    assert.deepEqual(r, { code: 'INVALID_STATE', message: 'cannot promote 1.0.0 into prod now: frozen until Mon 2027-01-04 00:00 UTC (year-end)' });
    s.run();
    assert.equal(s.get('1.0.0').stages.prod!.enteredAt, at('2027-01-04T00:00:00Z'));
  });
});

describe('old event logs', () => {
  it('reduce as before: an approval without token id or gate counts for the approval after verify, by name', () => {
    const s = new JourneySim(shopPlan('  prod:\n    approval: true\n'));
    s.create('1.0.0');
    s.run();
    assert.equal(s.get('1.0.0').stages.prod!.status, 'awaiting-approval');
    s.append('1.0.0', { type: 'stage.approved', stage: 'prod', by: 'lead' });
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded');
    assert.deepEqual(s.get('1.0.0').stages.prod!.approvals.map((a) => [a.by, a.byId, a.gate]), [['lead', undefined, 'after-verify']]);
    assert.equal(s.get('1.0.0').createdBy, undefined);
  });
});
