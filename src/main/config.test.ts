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

describe('API access settings (apiHost, apiAllowedHosts)', () => {
  it('listens where the router does unless told; allowed hosts come from the file, then the environment, then the flag', () => {
    assert.equal(loadConfig({ env: {}, argv: {}, cwd: dir }).apiHost, '127.0.0.1');
    assert.equal(loadConfig({ env: {}, argv: { host: '0.0.0.0' }, cwd: dir }).apiHost, '0.0.0.0');
    assert.equal(loadConfig({ env: { SLUICE_API_HOST: '0.0.0.0' }, argv: { host: '10.0.0.5' }, cwd: dir }).apiHost, '0.0.0.0');
    assert.deepEqual(loadConfig({ env: {}, argv: {}, cwd: dir }).apiAllowedHosts, []);
    const config = withFile({ apiHost: '::', apiAllowedHosts: ['Sluice.Example.com', 'fd00::5'] });
    assert.deepEqual(loadConfig({ env: {}, argv: { config }, cwd: dir }).apiAllowedHosts, ['sluice.example.com', '[fd00::5]']);
    assert.equal(loadConfig({ env: {}, argv: { config }, cwd: dir }).apiHost, '::');
    assert.deepEqual(loadConfig({ env: { SLUICE_API_ALLOWED_HOSTS: 'a.test' }, argv: { config }, cwd: dir }).apiAllowedHosts, ['a.test']);
    assert.deepEqual(loadConfig({ env: { SLUICE_API_ALLOWED_HOSTS: 'a.test' }, argv: { config, apiAllowedHosts: 'b.test, 10.0.0.5' }, cwd: dir }).apiAllowedHosts, ['b.test', '10.0.0.5']);
  });

  it('refuses an allowed host with a port, scheme, path or wildcard, naming the setting and the value', () => {
    for (const [argv, env, re] of [
      [{ apiAllowedHosts: 'sluice.example.com:7070' }, {}, /^--api-allowed-host: "sluice\.example\.com:7070" is not a host name or address/],
      [{}, { SLUICE_API_ALLOWED_HOSTS: 'ok.test,https://x.test' }, /^SLUICE_API_ALLOWED_HOSTS: "https:\/\/x\.test" is not a host name/],
      [{ config: withFile({ apiAllowedHosts: ['*.example.com'] }) }, {}, /apiAllowedHosts: "\*\.example\.com" is not a host name/],
    ] as const) {
      assert.throws(
        () => loadConfig({ env, argv, cwd: dir }),
        (e: unknown) => isSluiceError(e) && e.code === 'CONFIG_INVALID' && re.test(e.message),
      );
    }
  });
});

describe('the flags port (flagsPort)', () => {
  it('is 7090 by default, 0 (a free port) when the router\'s is 0; the file, then SLUICE_FLAGS_PORT, then --flags-port override it', () => {
    assert.equal(loadConfig({ env: {}, argv: {}, cwd: dir }).flagsPort, 7090);
    assert.equal(loadConfig({ env: {}, argv: { routerPort: '0' }, cwd: dir }).flagsPort, 0);
    const config = withFile({ flagsPort: 7191 });
    assert.equal(loadConfig({ env: {}, argv: { config, routerPort: '0' }, cwd: dir }).flagsPort, 7191);
    assert.equal(loadConfig({ env: { SLUICE_FLAGS_PORT: '7192' }, argv: { config }, cwd: dir }).flagsPort, 7192);
    assert.equal(loadConfig({ env: { SLUICE_FLAGS_PORT: '7192' }, argv: { config, flagsPort: '7193' }, cwd: dir }).flagsPort, 7193);
    assert.throws(() => loadConfig({ env: { SLUICE_FLAGS_PORT: 'http' }, argv: {}, cwd: dir }), /SLUICE_FLAGS_PORT must be a port number \(0-65535\), got "http"/);
  });
});
