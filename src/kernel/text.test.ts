import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { badText, badTextMessage } from './text.js';

describe('text no stored field may hold', () => {
  it('finds a NUL or an unpaired surrogate in values and keys at any depth, and names where', () => {
    assert.deepEqual(badText({ a: [{ b: 'x\u0000' }] }, 'body'), { where: 'body field a[0].b', problem: 'a NUL character at offset 1' });
    assert.deepEqual(badText({ a: 'ok', c: '\ud800x' }, 'body'), { where: 'body field c', problem: 'an unpaired UTF-16 surrogate (\\ud800) at offset 0' });
    assert.deepEqual(badText(['\udc00'], 'body'), { where: 'body field [0]', problem: 'an unpaired UTF-16 surrogate (\\udc00) at offset 0' });
    assert.deepEqual(badText({ x: { ['k\u0000']: 1 } }, 'body'), { where: 'body field x', problem: 'a field name with a NUL character at offset 1: "k\\u0000"' });
    assert.deepEqual(badText('a\ud83d', 'header authorization'), { where: 'header authorization', problem: 'an unpaired UTF-16 surrogate (\\ud83d) at offset 1' });
    assert.equal(badTextMessage(badText({ v: '\u0000' }, 'query')!), 'query field v has a NUL character at offset 0: text with NUL characters or invalid UTF-16 is refused');
  });

  it('leaves alone what is valid: pairs (emoji), other control characters, numbers, null', () => {
    assert.equal(badText({ a: '💥 ok \t\n\u0001', b: [1, null, true, { c: 'é' }] }, 'body'), undefined);
    assert.equal(badText(undefined, 'body'), undefined);
  });

  it('walks a value nested 100 000 deep without overflowing the stack', () => {
    let v: unknown = 'end\u0000';
    for (let i = 0; i < 100_000; i++) v = [v];
    assert.equal(badText(v, 'body')!.problem, 'a NUL character at offset 3');
  });
});
