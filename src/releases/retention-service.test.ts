import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactStore } from '../adapters/artifacts-fs/artifact-store.js';
import { JourneySim, shopPlan } from '../../test/helpers/journey-sim.js';
import type { StoredEvent } from '../journeys/journey-events.js';
import type { PruneResult } from '../journeys/ports/target.js';
import { isSluiceError } from '../kernel/errors.js';
import { RetentionService, type RetentionServiceOptions } from './retention-service.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-retention-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ONE = shopPlan(`  prod:
    verify: { smoke: t }
`);

let n = 0;
/** A fresh artifact store holding one artifact per version, and journeys that took each through prod in turn. */
async function setup(versions: string[]) {
  const dir = join(root, String(n++));
  const store = new ArtifactStore(join(dir, 'artifacts'));
  const sim = new JourneySim(ONE);
  const digests = new Map<string, string>();
  for (const v of versions) {
    const src = join(dir, 'src', v);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'server.js'), `console.log(${JSON.stringify(v)})`);
    const digest = await store.add(src);
    digests.set(v, digest);
    sim.now += 60_000;
    sim.append(v, { type: 'journey.created', release: { version: v, digest }, plan: ONE });
    sim.run();
  }
  const releases = sim.all().map((j) => ({ ...j.release, createdAt: j.createdAt, journeyId: j.id }));
  return { dir, store, sim, digests, releases };
}

type Setup = Awaited<ReturnType<typeof setup>>;

function service(s: Setup, o: Partial<RetentionServiceOptions> & { notices?: string[] } = {}) {
  const notices = o.notices ?? [];
  return new RetentionService({
    keep: 1,
    journeys: () => s.sim.all(),
    releases: { listReleases: async () => s.releases },
    artifacts: s.store,
    targets: [],
    // An hour on: everything stored a moment ago counts as long unused.
    clock: { now: () => Date.now() + 3_600_000 },
    notice: (line) => notices.push(line),
    ...o,
  });
}

const finished = (step: string, ok: boolean) =>
  ({ type: 'step.finished', stage: 'prod', step, key: `k/${step}`, ok, exitCode: null, id: 1, journeyId: 'j', seq: 1, at: 0 }) as StoredEvent;

describe('retention service', () => {
  it('removes the artifacts no stage keeps, says so in one line, and a later use names the digest and why', async () => {
    const s = await setup(['1', '2', '3', '4']);
    const notices: string[] = [];
    const report = await service(s, { notices }).run();
    assert.deepEqual(report?.artifacts.map((a) => a.digest).sort(), [s.digests.get('1'), s.digests.get('2')].sort());
    // 4 serves prod and 3 is its rollback target: kept even with a setting of one.
    assert.deepEqual(s.store.list().map((a) => a.digest).sort(), [s.digests.get('3'), s.digests.get('4')].sort());
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /^retention: removed 2 artifact\(s\) \(1, 2; \d+ kB\); each stage keeps its newest 1 release\(s\)$/);
    const gone = s.digests.get('1')!;
    assert.throws(
      () => s.store.pathOf(gone),
      (e: unknown) => isSluiceError(e) && e.code === 'ARTIFACT_REMOVED' && e.message.includes(gone) && /retention: not among the newest 1/.test(e.message),
    );
    assert.match(readFileSync(join(s.dir, 'artifacts', 'removed.log'), 'utf8'), new RegExp(gone));
    // Storing the same build again brings it back.
    assert.equal(await s.store.add(join(s.dir, 'src', '1')), gone);
    assert.ok(s.store.pathOf(gone));
  });

  it('leaves what was used just before its snapshot, and comes back for it once it is not recent', async () => {
    const s = await setup(['1', '2', '3']);
    const notices: string[] = [];
    const r = service(s, { notices, clock: { now: () => Date.now() }, recentMs: 400, delayMs: 20 });
    const first = await r.run();
    assert.deepEqual(first?.artifacts, [], 'stored a moment ago: another journey may be about to use it');
    assert.equal(first?.deferred, 1);
    assert.equal(s.store.list().length, 3);
    for (const until = Date.now() + 5_000; notices.length === 0 && Date.now() < until; ) await sleep(20);
    assert.match(notices[0] ?? '', /removed 1 artifact\(s\) \(1;/, 'a follow-up pass removed it by itself');
    assert.equal(s.store.list().length, 2);
    await r.stop();
  });

  it('a failing pass is one line and changes nothing; the next pass works', async () => {
    const s = await setup(['1', '2', '3']);
    const notices: string[] = [];
    let fail = true;
    const target = {
      pruneReleases: async (): Promise<PruneResult> => {
        if (fail) throw new Error('EACCES: permission denied, rename\n    at renameSync');
        return { removed: [], deferred: 0 };
      },
    };
    const r = service(s, { notices, targets: [target] });
    assert.equal(await r.run(), undefined);
    assert.deepEqual(notices, ['retention: a clean-up pass failed, nothing else is affected and the next deploy tries again: EACCES: permission denied, rename']);
    assert.equal(s.store.list().length, 3);
    fail = false;
    assert.equal((await r.run())?.artifacts.length, 1);
  });

  it('runs by itself after a deploy, promotion or rollback finishes, and not after other steps or failures', async () => {
    const s = await setup(['1']);
    let passes = 0;
    const target = {
      pruneReleases: async (): Promise<PruneResult> => {
        passes++;
        return { removed: [], deferred: 0 };
      },
    };
    const r = service(s, { targets: [target], delayMs: 10 });
    for (const e of [finished('verify:smoke', true), finished('deploy', false), finished('bake-check', true)]) r.observe(e);
    await sleep(100);
    assert.equal(passes, 0);
    for (const step of ['deploy', 'promote', 'rollback']) {
      r.observe(finished(step, true));
      for (const until = Date.now() + 2_000; passes === 0 && Date.now() < until; ) await sleep(5);
      assert.equal(passes, 1, step);
      passes = 0;
    }
    // A burst makes one pass.
    for (let i = 0; i < 5; i++) r.observe(finished('deploy', true));
    await sleep(150);
    assert.equal(passes, 1);
    await r.stop();
  });
});
