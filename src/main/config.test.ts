import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSluiceError } from '../kernel/errors.js';
import { loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const withFile = (json: unknown) => {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(json));
  return path;
};

describe('retention setting (keepReleases)', () => {
  it('keeps the newest 5 releases per stage by default; the file, then the environment, then the flag override it', () => {
    assert.equal(loadConfig({ env: {}, argv: {}, cwd: dir }).keepReleases, 5);
    const config = withFile({ keepReleases: 7 });
    assert.equal(loadConfig({ env: {}, argv: { config }, cwd: dir }).keepReleases, 7);
    assert.equal(loadConfig({ env: { SLUICE_KEEP_RELEASES: '3' }, argv: { config }, cwd: dir }).keepReleases, 3);
    assert.equal(loadConfig({ env: { SLUICE_KEEP_RELEASES: '3' }, argv: { config, keepReleases: '1' }, cwd: dir }).keepReleases, 1);
  });

  it('refuses anything but a whole number from 1, saying where it came from and what the setting means', () => {
    const refused = (argv: Parameters<typeof loadConfig>[0]['argv'], env: Record<string, string> = {}) => {
      try {
        loadConfig({ env, argv, cwd: dir });
      } catch (e) {
        assert.ok(isSluiceError(e) && e.code === 'CONFIG_INVALID', String(e));
        return e.message;
      }
      return assert.fail('accepted');
    };
    assert.match(refused({ keepReleases: '0' }), /^--keep-releases must be a whole number from 1 to 10000: how many of its newest releases each stage keeps on disk, .* always kept; got "0"$/);
    assert.match(refused({ keepReleases: '2.5' }), /^--keep-releases must be .*; got "2\.5"$/);
    assert.match(refused({}, { SLUICE_KEEP_RELEASES: 'all' }), /^SLUICE_KEEP_RELEASES must be .*; got "all"$/);
    assert.match(refused({ config: withFile({ keepReleases: 0 }) }), /config-\w+\.json: keepReleases: must be a whole number from 1 to 10000/);
    assert.match(refused({ config: withFile({ keepReleases: '5' }) }), /keepReleases: must be a whole number from 1/);
    assert.match(refused({ config: withFile({ retention: { keep: 5 } }) }), /unknown key\(s\) retention/);
  });
});
