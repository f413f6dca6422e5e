import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JourneySim, shopPlan } from '../../test/helpers/journey-sim.js';
import type { StoredEvent } from '../journeys/journey-events.js';
import { approveCommand, promoteCommand } from '../journeys/journey-commands.js';
import { reduceJourney } from '../journeys/journey-reducer.js';
import { redactUrl } from '../kernel/redact.js';
import { GIVE_UP_AFTER_MS, MAX_RETRY_GAP_MS, nextAttemptAt, notificationsFor, slackPayload, targetWants } from './notification.js';
import type { TokenActor } from '../kernel/actor.js';

const person = (name: string): TokenActor => ({ kind: 'token', id: `token-${name}`, name, role: 'admin' });

const API = 'http://127.0.0.1:7070';
const plan = shopPlan(`  staging:
    verify: { acceptance: t1 }
  prod:
    after: staging
`);

/** Every notification of a journey's log, each made from the journey before and after its event. */
function announced(log: StoredEvent[]) {
  const at = (seq: number) => reduceJourney(log.filter((x) => x.seq <= seq));
  return log.flatMap((e) => notificationsFor(e, e.seq > 0 ? at(e.seq - 1) : undefined, at(e.seq), API));
}

describe('notifications', () => {
  it('announce a failed step and the rollback it causes, with links to the journey and the step log', () => {
    const s = new JourneySim(plan);
    s.create('1.0.0');
    s.run();
    s.outcome = (r) => (r.key === '2.0.0/staging/verify:acceptance' ? { ok: false, reason: 'exit code 1' } : { ok: true });
    s.create('2.0.0');
    s.run();
    assert.equal(announced(s.logs.get('1.0.0')!).length, 0, 'a journey that went well says nothing');
    const notes = announced(s.logs.get('2.0.0')!);
    assert.deepEqual(
      notes.map((n) => [n.kind, n.stage, n.step, n.reason]),
      [
        ['step-failed', 'staging', 'verify:acceptance', 'exit code 1'],
        ['rolled-back', 'staging', 'rollback', 'staging is back on 1.0.0: verify:acceptance failed: exit code 1'],
      ],
    );
    assert.equal(notes[0]!.app, 'shop');
    assert.equal(notes[0]!.release, '2.0.0');
    assert.deepEqual(notes[0]!.links, {
      journey: `${API}/api/v1/releases/2.0.0`,
      logs: `${API}/api/v1/releases/2.0.0/stages/staging/logs?step=verify%3Aacceptance`,
    });
    assert.equal(
      slackPayload(notes[0]!).text,
      `:x: shop 2.0.0 at staging (verify:acceptance) failed: exit code 1 <${notes[0]!.links.logs}|logs> · <${notes[0]!.links.journey}|journey>`,
    );
    assert.match(slackPayload(notes[1]!).text, /^:leftwards_arrow_with_hook: shop 2\.0\.0 at staging \(rollback\) rolled back: staging is back on 1\.0\.0/);
  });

  it('announce an inconclusive analysis and a failed rollback, and nothing for a cancelled or passing step', () => {
    const s = new JourneySim(plan);
    s.create('1.0.0');
    const j = s.get('1.0.0');
    const finished = (step: string, extra: Record<string, unknown>): StoredEvent =>
      ({ type: 'step.finished', stage: 'staging', step, key: `k/${step}`, exitCode: null, id: 99, journeyId: '1.0.0', seq: 9, at: 0, ...extra }) as StoredEvent;
    const kinds = (e: StoredEvent) => notificationsFor(e, j, j, API).map((n) => n.kind);
    assert.deepEqual(kinds(finished('canary:1', { ok: false, inconclusive: true, reason: 'no data' })), ['needs-decision']);
    assert.deepEqual(kinds(finished('rollback', { ok: false, reason: 'exit code 2' })), ['rollback-failed']);
    assert.deepEqual(kinds(finished('verify:acceptance', { ok: false, cancelled: true })), []);
    assert.deepEqual(kinds(finished('verify:acceptance', { ok: true })), []);
    assert.equal(slackPayload(notificationsFor(finished('canary:1', { ok: false, inconclusive: true }), j, j, API)[0]!).text.startsWith(':warning:'), true);
  });

  it('announce each stage that comes to wait for a person, once: an approval, a promotion, a pause with no duration', () => {
    const waits = shopPlan(`  staging:
    approval: true
  prod-us:
    after: staging
    autoPromote: false
  prod-eu:
    after: staging
    autoPromote: false
  canary:
    after: [prod-us, prod-eu]
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
`);
    const s = new JourneySim(waits);
    s.create('1.0.0');
    s.run();
    const said = () => announced(s.logs.get('1.0.0')!).map((n) => [n.kind, n.stage, n.reason]);
    assert.deepEqual(said(), [['needs-approval', 'staging', 'staging waits for approval: sluice approve 1.0.0 staging (or reject)']]);
    s.command(approveCommand(s.get('1.0.0'), 'staging', person('lead'), ''));
    s.run();
    assert.deepEqual(said().slice(1), [
      ['needs-promotion', 'prod-us', 'prod-us waits to be promoted: sluice promote 1.0.0 prod-us'],
      ['needs-promotion', 'prod-eu', 'prod-eu waits to be promoted: sluice promote 1.0.0 prod-eu'],
    ]);
    for (const stage of ['prod-us', 'prod-eu']) s.command(promoteCommand(s.get('1.0.0'), stage, person('lead'), s.now, false));
    s.run();
    assert.equal(s.get('1.0.0').status, 'succeeded', 'a first release deploys the canary stage all at once');
    assert.equal(said().length, 3, 'nothing more: nobody had to act again');

    s.create('2.0.0');
    s.run();
    s.command(approveCommand(s.get('2.0.0'), 'staging', person('lead'), ''));
    s.run();
    for (const stage of ['prod-us', 'prod-eu']) s.command(promoteCommand(s.get('2.0.0'), stage, person('lead'), s.now, false));
    s.run();
    assert.equal(s.get('2.0.0').stages.canary!.status, 'paused');
    const last = announced(s.logs.get('2.0.0')!).at(-1)!;
    assert.deepEqual([last.kind, last.stage, last.reason], ['paused', 'canary', 'the rollout at canary waits: sluice resume 2.0.0 canary (or abort)']);
    assert.match(slackPayload(last).text, /^:double_vertical_bar: shop 2\.0\.0 at canary paused: /);
  });

  it('go to a target only for the stages and kinds it lists', () => {
    const n = { kind: 'rolled-back', app: 'shop', release: '1.0.0', stage: 'prod', reason: 'r', at: '', links: { journey: '', logs: '' } } as const;
    const url = 'http://hooks.test/x';
    assert.equal(targetWants({ kind: 'slack', url }, n), true);
    assert.equal(targetWants({ kind: 'slack', url, stages: ['prod'], on: ['rolled-back'] }, n), true);
    assert.equal(targetWants({ kind: 'slack', url, stages: ['staging'] }, n), false);
    assert.equal(targetWants({ kind: 'slack', url, on: ['step-failed', 'needs-approval'] }, n), false);
  });

  it('retry a failed delivery after 1 s, doubling to 5 minutes, and give up after a day or at once when refused', () => {
    const gaps = [1, 2, 3, 4, 5, 8, 9, 10, 30].map((n) => nextAttemptAt(n, 0, 1000, false)! - 1000);
    assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16_000, 128_000, 256_000, MAX_RETRY_GAP_MS, MAX_RETRY_GAP_MS]);
    assert.equal(nextAttemptAt(1, 0, 1000, true), undefined);
    assert.equal(nextAttemptAt(3, 0, GIVE_UP_AFTER_MS - 1, false), GIVE_UP_AFTER_MS - 1 + 4000);
    assert.equal(nextAttemptAt(3, 0, GIVE_UP_AFTER_MS, false), undefined);
  });

  it('show a webhook as its scheme and host only, since the path of an incoming webhook is its secret', () => {
    assert.equal(redactUrl('https://hooks.slack.com/services/T000/B000/XXXX'), 'https://hooks.slack.com/…');
    assert.equal(redactUrl('http://user:pw@127.0.0.1:9000/hook?token=x'), 'http://127.0.0.1:9000/…');
    assert.equal(redactUrl('not a url'), '…');
  });
});
