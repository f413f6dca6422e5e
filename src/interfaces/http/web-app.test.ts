import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from '../../kernel/errors.js';
import { webPathOf } from './web-app.js';

const refused = (url: string) => {
  try {
    webPathOf(url);
  } catch (e) {
    return isSluiceError(e) && e.code === 'BAD_REQUEST';
  }
  return false;
};

describe('web app paths', () => {
  it('decodes a path and drops its query', () => {
    assert.equal(webPathOf('/'), '/');
    assert.equal(webPathOf('/releases/1.0.0?tab=analysis'), '/releases/1.0.0');
    assert.equal(webPathOf('/assets/index-Ab12.js'), '/assets/index-Ab12.js');
    assert.equal(webPathOf('/a%20b'), '/a b');
  });

  it('refuses every spelling of leaving the folder, and bad encodings', () => {
    for (const url of ['/../etc/passwd', '/assets/../../x', '/%2e%2e/x', '/%2E%2E%2Fx', '/a/./b', '/a%5c..%5cb', '/a\\b', '/a%00b', '/%ff', `/${'a'.repeat(1100)}`])
      assert.ok(refused(url), url);
  });
});
