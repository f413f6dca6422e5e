import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Role } from '../../src/kernel/actor.js';
import { loadConfig } from '../../src/main/config.js';
import { downSluice, type RunningSluice, startSluice } from '../../src/main/single-node.js';
import { api, cli, copyExample, viaRouter } from '../helpers/sluice-process.js';

// Stage protection end to end: a real control plane and data plane on loopback, real tokens of each role made through
// the token service, and the engine's clock set by the test so that windows and freezes are exact.

const pipeline = (prod: string) => `app: shop
artifact:
  build: node build.js
  output: dist
defaults:
  local: { start: node server.js, instances: 1, stopTimeout: 2s }
stages:
  prod:
${prod}`;

const APPROVALS = pipeline(`    approval: { before: deploy }
    protection:
      approve: [approver]
      approvals: 2
      separateApprover: true
`);
const FREEZE = '      freezes:\n        - { from: "2026-12-20T00:00:00Z", to: "2027-01-04T00:00:00Z", reason: year-end freeze }\n';

interface StageDetail {
  name: string;
  status: string;
  approvals?: { gate: string; received: number; required: number; by: string[] };
  hold?: { kind: string; until: number; message: string };
}
interface ReleaseView {
  release: { version: string; createdBy?: { id: string; name: string } };
  journey: { status: string; stageDetails: StageDetail[] };
}
interface ErrorBody {
  code: string;
  message: string;
}

describe('stage protection through the API, with tokens of each role', () => {
  const clock = { t: Date.parse('2026-12-07T10:00:00Z'), now: () => clock.t };
  let app: string;
  let sluice: RunningSluice;
  let dataDir: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    app = copyExample();
    writeFileSync(join(app, 'sluice.yaml'), APPROVALS);
    const config = loadConfig({ env: {}, cwd: app, argv: { dataDir: '.sluice', port: '0', routerPort: '0' } });
    dataDir = config.dataDir;
    sluice = await startSluice(config, { env: { PATH: process.env.PATH ?? '' }, clock });
    const make: [string, Role][] = [['lead', 'admin'], ['root', 'admin'], ['dave', 'deployer'], ['alice', 'approver'], ['bob', 'approver']];
    for (const [name, role] of make) tokens[name] = (await sluice.tokens.create(name, role)).token;
  });
  after(async () => {
    await sluice?.close();
    if (dataDir) await downSluice(dataDir);
    if (app) rmSync(join(app, '..'), { recursive: true, force: true });
  });

  const show = (v: string) => api<ReleaseView>(sluice.apiUrl, 'GET', `/api/v1/releases/${v}`).then((r) => r.json);
  const prodOf = async (v: string) => (await show(v)).journey.stageDetails.find((s) => s.name === 'prod')!;
  const until = async (v: string, ok: (s: StageDetail) => boolean, what: string) => {
    for (const end = Date.now() + 60_000; Date.now() < end; ) {
      const s = await prodOf(v);
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    return assert.fail(`${v} at prod never became ${what}: ${JSON.stringify(await prodOf(v))}`);
  };
  const create = async (version: string, who: string) => {
    const r = await api(sluice.apiUrl, 'POST', '/api/v1/releases', { version }, tokens[who]);
    assert.equal(r.status, 201, JSON.stringify(r.json));
  };
  const decide = (verb: string, version: string, who: string, body: Record<string, unknown> = { stage: 'prod' }) =>
    api<ErrorBody>(sluice.apiUrl, 'POST', `/api/v1/releases/${version}/${verb}`, body, tokens[who]);
  const served = async () => (await viaRouter(sluice.routerPort, 'prod.shop.localhost', '/healthz')).version;
  const run = (...args: string[]) => cli([...args, '--dir', app], { SLUICE_URL: sluice.apiUrl });

  it('records the creator of a release and shows it through the API and release show', { timeout: 120_000 }, async () => {
    await create('1.0.0', 'dave');
    const s = await until('1.0.0', (x) => x.status === 'awaiting-approval', 'awaiting-approval');
    assert.deepEqual(s.approvals, { gate: 'before-deploy', received: 0, required: 2, by: [] });
    const { release } = await show('1.0.0');
    assert.equal(release.createdBy?.name, 'dave');
    const listed = await api<{ version: string; createdBy?: { name: string } }[]>(sluice.apiUrl, 'GET', '/api/v1/releases');
    assert.equal(listed.json.find((r) => r.version === '1.0.0')?.createdBy?.name, 'dave');
    const shown = await run('release', 'show', '1.0.0');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /by dave/);
    assert.match(shown.stdout, /prod\s+⏸ awaiting-approval\s+waiting for approval before deploy \(0 of 2\)/);
    for (const who of ['alice', 'bob']) assert.equal((await decide('approve', '1.0.0', who)).status, 200);
    await until('1.0.0', (x) => x.status === 'passed', 'passed');
    assert.equal(await served(), '1.0.0');
  });

  it('a deployer cannot approve a stage only approvers approve; the creator cannot with separateApprover; two approvals are needed; prod serves the old version until approved', { timeout: 120_000 }, async () => {
    await create('2.0.0', 'lead');
    await until('2.0.0', (x) => x.status === 'awaiting-approval', 'awaiting-approval');
    assert.equal(await served(), '1.0.0', 'waiting for approval before deploy: prod still serves 1.0.0');

    const deployer = await decide('approve', '2.0.0', 'dave');
    assert.equal(deployer.status, 403);
    assert.deepEqual(deployer.json, { code: 'FORBIDDEN', message: 'only approver or admin tokens may approve 2.0.0 at prod; token "dave" is a deployer', details: { allowed: ['approver', 'admin'], role: 'deployer' } });
    const creator = await decide('approve', '2.0.0', 'lead');
    assert.equal(creator.status, 403, 'an admin that created the release may not approve it either');
    assert.equal(creator.json.message, 'token "lead" created release 2.0.0, and prod needs a separate approver: another token must approve it');
    const cliRefusal = await run('approve', '2.0.0', 'prod', '--token', tokens.dave!);
    assert.equal(cliRefusal.code, 1);
    assert.match(cliRefusal.stderr, /^sluice: only approver or admin tokens may approve 2\.0\.0 at prod; token "dave" is a deployer$/m);

    const first = await run('approve', '2.0.0', 'prod', '--token', tokens.alice!);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /approved 2\.0\.0 at prod; journey ⟳ running; prod is waiting for approval before deploy \(1 of 2, by alice\)/);
    const again = await decide('approve', '2.0.0', 'alice');
    assert.equal(again.status, 409);
    assert.equal(again.json.message, 'token "alice" already approved 2.0.0 at prod (1 of 2); another token must approve');
    const status = await run('status');
    assert.match(status.stdout, /⏸ waiting for approval before deploy \(1 of 2, by alice\): sluice approve 2\.0\.0/);
    assert.equal(await served(), '1.0.0', 'one approval of two: still 1.0.0');
    assert.equal((await prodOf('2.0.0')).status, 'awaiting-approval');

    assert.equal((await decide('approve', '2.0.0', 'bob')).status, 200);
    await until('2.0.0', (x) => x.status === 'passed', 'passed');
    assert.equal(await served(), '2.0.0');
    const events = await api<{ type: string; by?: string; byId?: string; gate?: string }[]>(sluice.apiUrl, 'GET', '/api/v1/releases/2.0.0/events');
    assert.deepEqual(
      events.json.filter((e) => e.type === 'stage.approved').map((e) => [e.by, e.gate, typeof e.byId]),
      [['alice', 'before-deploy', 'string'], ['bob', 'before-deploy', 'string']],
      'each approval is an event with the token id',
    );
  });

  it('a freeze refuses a manual promotion with its reason, and holds an automatic one visibly until it ends', { timeout: 120_000 }, async () => {
    clock.t = Date.parse('2026-12-24T12:00:00Z');
    writeFileSync(join(app, 'sluice.yaml'), pipeline(`    autoPromote: false\n    protection:\n${FREEZE}`));
    await create('3.0.0', 'dave');
    await until('3.0.0', (x) => x.status === 'awaiting-promotion', 'awaiting-promotion');
    const refused = await decide('promote', '3.0.0', 'root');
    assert.equal(refused.status, 409);
    assert.equal(refused.json.message, 'cannot promote 3.0.0 into prod now: frozen until Mon 2027-01-04 00:00 UTC (year-end freeze)');
    const cliRefusal = await run('promote', '3.0.0', 'prod', '--token', tokens.root!);
    assert.equal(cliRefusal.code, 1);
    assert.match(cliRefusal.stderr, /sluice: cannot promote 3\.0\.0 into prod now: frozen until Mon 2027-01-04 00:00 UTC \(year-end freeze\)/);
    assert.equal((await prodOf('3.0.0')).status, 'awaiting-promotion', 'refused: nothing changed');

    writeFileSync(join(app, 'sluice.yaml'), pipeline(`    protection:\n${FREEZE}`));
    await create('4.0.0', 'dave');
    const held = await until('4.0.0', (x) => x.hold !== undefined, 'held');
    assert.equal(held.status, 'ready');
    assert.deepEqual(held.hold, { kind: 'freeze', until: Date.parse('2027-01-04T00:00:00Z'), reason: 'year-end freeze', message: 'frozen until Mon 2027-01-04 00:00 UTC (year-end freeze)' });
    const status = await run('status');
    assert.match(status.stdout, /prod\s+2\.0\.0\s+4\.0\.0\s+… ready\s+❄ frozen until Mon 2027-01-04 00:00 UTC \(year-end freeze\)/);
    assert.equal(await served(), '2.0.0');

    clock.t = Date.parse('2027-01-04T00:00:00Z');
    await sluice.executor.resume();
    await until('4.0.0', (x) => x.status === 'passed', 'passed once the freeze ended');
    assert.equal(await served(), '4.0.0');
  });
});
