import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compileFlagSet } from '../../flags/flag-compiler.js';
import type { FlagdDocument } from '../../flags/ports/flag-serving.js';
import { isSluiceError } from '../../kernel/errors.js';
import { type FlagChange, FlagSets, keyHash } from './flag-sets.js';
import { FlagsFile } from './flags-file.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-flag-sets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const doc = (v: string): FlagdDocument => ({ flags: { f: { state: 'ENABLED', variants: { a: v }, defaultVariant: 'a' } } });
const set = (v: string, revision: number, ...keys: string[]) => ({ doc: doc(v), revision, keyHashes: keys.map(keyHash) });

describe('FlagSets', () => {
  it('compiles once per change: the same revision again is no change, no save and no news', () => {
    let compiles = 0;
    const sets = new FlagSets({ compile: (d) => (compiles++, compileFlagSet(d)), notice: () => {} });
    const changes: FlagChange[] = [];
    sets.onChange((c) => changes.push(c));
    assert.equal(sets.publish('prod', set('x', 1, 'k')).changed, true);
    assert.equal(sets.publish('prod', set('x', 1, 'k')).changed, false);
    assert.equal(changes.length, 1);
    assert.equal(sets.get('prod')!.set.evaluate('f', 'string', '', {}).value, 'x');
    assert.equal(sets.stageOfKey('k'), 'prod');
    assert.equal(compiles, 2, 'checked once per publish, never per evaluation');
  });

  it('a set that cannot be saved is not served: the stage keeps its last good flags', () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const notices: string[] = [];
    const good = new FlagsFile(join(dir, 'good.json'), (l) => notices.push(l));
    const sets = new FlagSets({ compile: compileFlagSet, file: good, notice: () => {} });
    sets.publish('prod', set('x', 1, 'k'));
    // The same sets, now with a file under a path that is not a folder: every save fails.
    const broken = new FlagSets({ compile: compileFlagSet, file: new FlagsFile(join(blocker, 'flags.json'), () => {}), notice: () => {} });
    assert.throws(() => broken.publish('prod', set('y', 2, 'k')));
    assert.equal(broken.get('prod'), undefined);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'good.json'), 'utf8')).stages.prod.revision, 1);
    const loaded = new FlagSets({ compile: compileFlagSet, file: good, notice: () => {} });
    loaded.load();
    assert.deepEqual(loaded.revisions(), { prod: 1 });
    assert.equal(loaded.get('prod')!.set.evaluate('f', 'string', '', {}).value, 'x');
    assert.deepEqual(notices, []);
  });

  it('refuses a bad stage name, bad key hashes and a set that does not compile, saying what and where', () => {
    const sets = new FlagSets({ compile: compileFlagSet, notice: () => {} });
    const refused = (stage: string, input: unknown) => {
      try {
        sets.publish(stage, input);
      } catch (e) {
        assert.ok(isSluiceError(e), String(e));
        return `${e.code}: ${e.message}`;
      }
      return assert.fail('accepted');
    };
    assert.match(refused('../prod', set('x', 1)), /^BAD_REQUEST: "..\/prod" is not a stage name/);
    assert.match(refused('prod', { doc: doc('x'), revision: 1, keyHashes: ['abc'] }), /keyHashes: expected a list of at most 100 SHA-256 digests/);
    assert.match(refused('prod', { doc: doc('x'), revision: -1, keyHashes: [] }), /revision: expected a whole number/);
    assert.match(refused('prod', { doc: { flags: { f: { state: 'ON', variants: {} } } }, revision: 1, keyHashes: [] }), /^BAD_REQUEST: stage prod's flags were refused: \/flags\/f\/state: /);
    assert.deepEqual(sets.revisions(), {});
  });
});
