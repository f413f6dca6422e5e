import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from '../kernel/errors.js';
import { parseGithubEvent } from './github-event.js';
import { callEventId, describe as describeText, githubEntry } from './github-report.js';
import { githubSettingsFrom } from './github-settings.js';

const SHA = 'a'.repeat(40);
const pr = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ action: 'opened', number: 3, pull_request: { head: { sha: SHA, ref: 'feature/x' }, merged: false }, repository: { full_name: 'acme/shop' }, ...over });
const refused = (f: () => unknown, message: RegExp) =>
  assert.throws(f, (e: unknown) => isSluiceError(e) && e.code === 'BAD_REQUEST' && message.test(e.message), String(message));

describe('GitHub webhook payloads', () => {
  it('reads a pull_request and a push', () => {
    assert.deepEqual(parseGithubEvent('pull_request', pr()), { kind: 'pull_request', action: 'opened', number: 3, repository: 'acme/shop', headSha: SHA, headRef: 'feature/x', merged: false });
    assert.deepEqual(parseGithubEvent('pull_request', pr({ action: 'closed', pull_request: { head: { sha: SHA, ref: 'x' }, merged: true } }))?.kind, 'pull_request');
    assert.equal((parseGithubEvent('pull_request', pr({ pull_request: { head: { sha: SHA, ref: 'x' }, merged: true } })) as { merged: boolean }).merged, true);
    assert.deepEqual(parseGithubEvent('push', JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository: { full_name: 'acme/shop' } })), {
      kind: 'push',
      ref: 'refs/heads/main',
      after: SHA,
      repository: 'acme/shop',
      deleted: false,
    });
  });

  it('ignores events it does not act on, without reading them', () => {
    assert.equal(parseGithubEvent('ping', 'not even JSON'), undefined);
    assert.equal(parseGithubEvent('issues', '{}'), undefined);
  });

  it('refuses a body of the wrong shape, naming the field', () => {
    refused(() => parseGithubEvent('push', '{"ref": '), /webhook payload is not JSON/);
    refused(() => parseGithubEvent('push', 'null'), /the payload must be an object, not null/);
    refused(() => parseGithubEvent('push', '"x"'), /the payload must be an object, not string/);
    refused(() => parseGithubEvent('push', JSON.stringify({ ref: 'refs/heads/main', after: SHA })), /repository is missing/);
    refused(() => parseGithubEvent('push', JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository: { full_name: 'no-slash' } })), /repository\.full_name must be owner\/name/);
    refused(() => parseGithubEvent('push', JSON.stringify({ ref: 'refs/heads/main', after: SHA.toUpperCase(), repository: { full_name: 'a/b' } })), /after must be a commit id/);
    refused(() => parseGithubEvent('push', JSON.stringify({ ref: 'refs/heads/a b', after: SHA, repository: { full_name: 'a/b' } })), /ref must be a git ref/);
    refused(() => parseGithubEvent('pull_request', pr({ number: 0 })), /number must be a pull request number, not 0/);
    refused(() => parseGithubEvent('pull_request', pr({ number: 1.5 })), /number must be a pull request number/);
    refused(() => parseGithubEvent('pull_request', pr({ pull_request: [] })), /pull_request must be an object, not an array/);
    refused(() => parseGithubEvent('pull_request', pr({ pull_request: { head: { ref: 'x' } } })), /pull_request\.head\.sha is missing/);
    refused(() => parseGithubEvent('pull_request', pr({ pull_request: { head: { sha: SHA, ref: 'x' }, merged: 'yes' } })), /pull_request\.merged must be a boolean, not string/);
    refused(() => parseGithubEvent('pull_request', pr({ action: 'DROP TABLE' })), /action must be an action name/);
  });
});

describe('GitHub settings', () => {
  const base = { SLUICE_GITHUB_WEBHOOK_SECRET: 's'.repeat(20), SLUICE_GITHUB_REPOSITORY: 'acme/shop' };
  it('are off without a webhook secret, and default the rest', () => {
    assert.equal(githubSettingsFrom({}), undefined);
    assert.deepEqual(githubSettingsFrom(base), {
      repository: 'acme/shop',
      webhookSecret: 's'.repeat(20),
      cloneUrl: 'https://github.com/acme/shop.git',
      appPath: '.',
      mainBranch: 'main',
      apiUrl: 'https://api.github.com',
    });
    assert.equal(githubSettingsFrom({ ...base, SLUICE_GITHUB_API_URL: 'https://ghe.example/api/v3/' })?.apiUrl, 'https://ghe.example/api/v3');
  });
  it('name the variable that is wrong', () => {
    const bad = (env: Record<string, string>, re: RegExp) => assert.throws(() => githubSettingsFrom({ ...base, ...env }), (e: unknown) => isSluiceError(e) && e.code === 'CONFIG_INVALID' && re.test(e.message));
    bad({ SLUICE_GITHUB_WEBHOOK_SECRET: 'short' }, /SLUICE_GITHUB_WEBHOOK_SECRET: must be 16 to 256/);
    bad({ SLUICE_GITHUB_REPOSITORY: 'shop' }, /SLUICE_GITHUB_REPOSITORY: must be the repository as owner\/name/);
    bad({ SLUICE_GITHUB_APP_PATH: '../x' }, /SLUICE_GITHUB_APP_PATH/);
    bad({ SLUICE_GITHUB_API_URL: 'ftp://x' }, /SLUICE_GITHUB_API_URL: must be an http\(s\) URL/);
    bad({ SLUICE_GITHUB_CLONE_URL: '--upload-pack=evil' }, /SLUICE_GITHUB_CLONE_URL/);
  });
});

describe('GitHub calls in the outbox', () => {
  it('cuts descriptions to 140 characters and keys each call apart from journey events and flag ramps', () => {
    assert.equal(describeText('x'.repeat(200)).length, 140);
    assert.equal(describeText(' a\n b '), 'a b');
    const ids = ['d1/pending', 'd1/status-success', 'd2/pending'].map(callEventId);
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.ok(id < -(2 ** 50) && id >= -(2 ** 51) && Number.isSafeInteger(id), String(id));
    assert.equal(callEventId('d1/pending'), ids[0], 'the same key, the same id: a retried webhook files nothing new');
    const e = githubEntry('https://api.github.com', { kind: 'github-status', stage: 'pr-3', release: 'v', at: 'now', repository: 'acme/shop', sha: SHA, state: 'pending', context: 'sluice/pr-3', description: 'y'.repeat(300) }, 'k');
    assert.equal(e.target.url, `https://api.github.com/repos/acme/shop/statuses/${SHA}`);
    assert.equal(e.target.kind, 'github');
    assert.equal(JSON.stringify(e.body).includes(`"description":"${'y'.repeat(139)}…"`), true);
  });
});
