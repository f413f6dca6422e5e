import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JourneySim, shopPlan } from '../../../test/helpers/journey-sim.js';
import { approveCommand, promoteCommand } from '../../journeys/journey-commands.js';
import { MemoryStore } from '../../adapters/store-memory/memory-store.js';
import { FlagService } from '../../flags/flag-service.js';
import { flagsApi } from '../../interfaces/http/contract/flags.js';
import { mayCall, ROLES, type Role, type TokenActor } from '../../kernel/actor.js';
import { isSluiceError } from '../../kernel/errors.js';
import {
  type ActionName,
  DEFAULT_PROMOTERS,
  isProduction,
  journeyActions,
  mayChangeFlags,
  protectionByStage,
  stageActions,
  type StageProtection,
  type StageStatus,
} from './actions.js';

const shown = (role: Role, status: StageStatus | null, more: Partial<Parameters<typeof stageActions>[0]> = {}) =>
  stageActions({ role, stage: 'staging', status, ...more }).map((b) => b.name);

describe('which buttons each role sees', () => {
  it('a viewer sees no button anywhere', () => {
    for (const status of ['awaiting-promotion', 'awaiting-approval', 'rolling-out', 'paused', 'baking', 'failed'] as const)
      assert.deepEqual(shown('viewer', status, { serving: true, canary: true }), [], status);
    assert.deepEqual(journeyActions('viewer', 'failed', 'prod'), []);
  });

  it('by default a deployer steers and an approver decides; admin does both', () => {
    assert.deepEqual(shown('deployer', 'awaiting-approval'), ['Abort']);
    assert.deepEqual(shown('approver', 'awaiting-approval'), ['Approve', 'Reject']);
    assert.deepEqual(shown('admin', 'awaiting-approval'), ['Approve', 'Reject', 'Abort']);
    assert.deepEqual(shown('deployer', 'awaiting-promotion'), ['Promote']);
    assert.deepEqual(shown('approver', 'awaiting-promotion'), []);
    assert.deepEqual(shown('deployer', 'passed', { serving: true }), ['Rollback']);
    assert.deepEqual(shown('approver', 'passed', { serving: true }), []);
    assert.deepEqual(shown('deployer', 'verifying', { serving: true }), ['Abort'], 'no rollback while a release moves through');
  });

  it('a canary: promote to all traffic, pause or abort while it rolls out; resume when paused', () => {
    const rolling = stageActions({ role: 'deployer', stage: 'staging', status: 'rolling-out', canary: true });
    assert.deepEqual(rolling.map((b) => b.name), ['Promote', 'Pause', 'Abort']);
    assert.equal(rolling[0]!.full, true);
    assert.deepEqual(shown('deployer', 'paused', { canary: true }), ['Promote', 'Resume', 'Abort']);
  });

  it("a stage's protection widens or narrows who promotes and decides", () => {
    const protection = { approve: ['deployer', 'approver'] as Role[], promote: ['approver'] as Role[] };
    assert.deepEqual(shown('deployer', 'awaiting-approval', { protection }), ['Approve', 'Reject', 'Abort']);
    assert.deepEqual(shown('deployer', 'awaiting-promotion', { protection }), []);
    assert.deepEqual(shown('approver', 'awaiting-promotion', { protection }), ['Promote']);
    // A role the route itself refuses stays refused whatever the file says.
    assert.deepEqual(shown('viewer', 'awaiting-approval', { protection: { approve: ['viewer'] } }), []);
  });

  it('approve and reject always ask, with a comment (required to reject); on prod every action asks', () => {
    const [approve, reject] = stageActions({ role: 'approver', stage: 'staging', status: 'awaiting-approval' });
    assert.deepEqual([approve!.confirm, approve!.commentRequired, approve!.commentField], [true, false, 'comment']);
    assert.deepEqual([reject!.confirm, reject!.commentRequired], [true, true]);
    assert.equal(stageActions({ role: 'deployer', stage: 'staging', status: 'rolling-out', canary: true }).some((b) => b.confirm), false);
    for (const stage of ['prod', 'prod-eu'])
      assert.ok(stageActions({ role: 'admin', stage, status: 'rolling-out', canary: true, serving: true }).every((b) => b.confirm), stage);
    assert.ok(stageActions({ role: 'admin', stage: 'live', status: 'rolling-out', production: true }).every((b) => b.confirm));
    assert.equal(isProduction('production-like'), false);
    assert.equal(journeyActions('deployer', 'failed', 'prod')[0]!.confirm, true);
    assert.equal(journeyActions('deployer', 'failed', 'staging')[0]!.confirm, false);
    assert.deepEqual(journeyActions('deployer', 'running'), []);
  });

  it('reads each stage’s protection and canary from the pipeline the API shows', () => {
    const plan = shopPlan(`  staging: {}
  prod:
    after: staging
    protection:
      approve: [deployer]
`);
    const m = protectionByStage(JSON.parse(JSON.stringify(plan)));
    assert.deepEqual(m.get('prod')?.protection?.approve, ['deployer']);
    assert.equal(m.get('staging')?.protection, undefined);
    assert.equal(protectionByStage(null).size, 0);
  });
});

describe('the buttons agree with what the engine allows', () => {
  const token = (role: Role): TokenActor => ({ kind: 'token', id: `id-${role}`, name: role, role });
  const allows = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch (e) {
      if (isSluiceError(e) && e.code === 'FORBIDDEN') return false;
      throw e;
    }
  };
  const cases: Array<{ title: string; rules: string; action: ActionName; status: StageStatus }> = [
    { title: 'approve, default protection', rules: '    approval: true\n', action: 'Approve', status: 'awaiting-approval' },
    { title: 'approve, deployers too', rules: '    approval: true\n    protection:\n      approve: [deployer, approver]\n', action: 'Approve', status: 'awaiting-approval' },
    { title: 'promote, default protection', rules: '    autoPromote: false\n', action: 'Promote', status: 'awaiting-promotion' },
    { title: 'promote, approvers only', rules: '    autoPromote: false\n    protection:\n      promote: [approver]\n', action: 'Promote', status: 'awaiting-promotion' },
  ];
  for (const c of cases)
    it(c.title, () => {
      const s = new JourneySim(shopPlan(`  staging: {}\n  prod:\n    after: staging\n${c.rules}`));
      s.create('1.0.0');
      s.run();
      const j = s.get('1.0.0');
      assert.equal(j.stages.prod!.status, c.status);
      const info = protectionByStage(j.plan).get('prod');
      for (const role of ROLES) {
        const engine = c.action === 'Approve' ? allows(() => approveCommand(j, 'prod', token(role))) : allows(() => promoteCommand(j, 'prod', token(role), s.now));
        const ui = stageActions({ role, stage: 'prod', status: c.status, ...(info?.protection ? { protection: info.protection } : {}) }).some((b) => b.name === c.action);
        assert.equal(ui, engine, `${role}: shown ${ui}, engine allows ${engine}`);
      }
    });
});

describe('the flag buttons agree with what the flag service allows', () => {
  const protections: Record<string, StageProtection | undefined> = { staging: undefined, prod: { promote: ['approver'] } };
  it('each role, in a stage with the default protection and one only approvers may deploy to', async () => {
    const service = new FlagService({
      store: new MemoryStore().flags,
      serving: undefined,
      clock: { now: () => 1_000_000 },
      stages: () => Object.keys(protections),
      changeRoles: (s) => protections[s]?.promote ?? DEFAULT_PROMOTERS,
    });
    const admin: TokenActor = { kind: 'token', id: 'a', name: 'a', role: 'admin' };
    await service.define({ actor: admin, reason: '' }, { key: 'f', type: 'boolean', variants: { on: true, off: false }, description: '', owner: '' });
    for (const [stage, protection] of Object.entries(protections))
      for (const role of ROLES) {
        const actor: TokenActor = { kind: 'token', id: role, name: role, role };
        // The server: the route's roles first, then the service's check of the stage.
        let server = mayCall(role, flagsApi.set.roles);
        if (server)
          server = await service.set({ actor, reason: 'test' }, stage, 'f', { state: 'ENABLED' }).then(
            () => true,
            (e: unknown) => {
              if (isSluiceError(e) && e.code === 'FORBIDDEN') return false;
              throw e;
            },
          );
        assert.equal(mayChangeFlags(role, protection), server, `${role} in ${stage}`);
      }
  });
});
