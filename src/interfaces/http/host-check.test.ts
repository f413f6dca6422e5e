import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowedHostName, hostAllowed, hostOf, isLoopbackAddress, isWildcardAddress } from './host-check.js';

describe('the Host check', () => {
  const allowed = new Set(['sluice.example.com', '10.0.0.5', '[fd00::5]']);

  it('accepts loopback names with or without a port, and the names allowed, in any case', () => {
    for (const h of ['localhost', 'localhost:7070', '127.0.0.1', '127.0.0.1:1', '[::1]', '[::1]:7070', 'LOCALHOST:7070', 'sluice.example.com', 'Sluice.Example.com:443', '10.0.0.5:7070', '[fd00::5]:7070'])
      assert.equal(hostAllowed(h, allowed), true, h);
  });

  it('refuses every other name, a missing or repeated Host, and anything malformed', () => {
    for (const h of [
      'evil.example', 'evil.example:7070', 'localhost.evil.example', 'sluice.example.com.evil', 'x.localhost', 'localhost.', '127.0.0.2', '0.0.0.0:7070',
      '::1', '[::1', 'localhost:', 'localhost:123456', 'localhost:70x', 'user@localhost', 'localhost/x', '', ' ', 'local host', 'sluice.example.com:7070:1',
    ])
      assert.equal(hostAllowed(h, allowed), false, JSON.stringify(h));
    assert.equal(hostAllowed(undefined, allowed), false);
    assert.equal(hostAllowed(['localhost', 'localhost'], allowed), false);
  });

  it('reads the host of a header', () => {
    assert.equal(hostOf('Example.COM:80'), 'example.com');
    assert.equal(hostOf('[::1]:7070'), '[::1]');
    assert.equal(hostOf('a_b'), undefined);
  });

  it('takes allowed names as operators write them, and refuses ports, schemes, paths and wildcards', () => {
    assert.equal(allowedHostName('Sluice.Example.com'), 'sluice.example.com');
    assert.equal(allowedHostName('10.0.0.5'), '10.0.0.5');
    assert.equal(allowedHostName('fd00::5'), '[fd00::5]');
    assert.equal(allowedHostName('[fd00::5]'), '[fd00::5]');
    for (const bad of ['sluice.example.com:7070', 'https://sluice.example.com', 'sluice.example.com/x', '*.example.com', '', '-x', 'a b'])
      assert.equal(allowedHostName(bad), undefined, bad);
  });

  it('tells loopback and wildcard listen addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.equal(isLoopbackAddress(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'sluice.example.com', '128.0.0.1']) assert.equal(isLoopbackAddress(h), false, h);
    for (const h of ['0.0.0.0', '::', '[::]']) assert.equal(isWildcardAddress(h), true, h);
    for (const h of ['127.0.0.1', '10.0.0.5', '::1']) assert.equal(isWildcardAddress(h), false, h);
  });
});
