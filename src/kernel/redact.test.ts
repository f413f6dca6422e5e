import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { redactText, redactUrl, StreamRedactor } from './redact.js';

it('a URL shows scheme and host only', () => {
  assert.equal(redactUrl('https://user:pw@hooks.example.com/T0/B1/xyz'), 'https://hooks.example.com/…');
});

it('values are replaced by their names', () => {
  assert.equal(redactText('pw=hunter2 again hunter2.', { DB_PASSWORD: 'hunter2' }), 'pw=[secret DB_PASSWORD] again [secret DB_PASSWORD].');
  assert.equal(redactText('abcd', { A: 'abc', B: 'abcd' }), '[secret B]');
  assert.equal(redactText('nothing here', {}), 'nothing here');
  assert.equal(redactText('empty values never match', { E: '' }), 'empty values never match');
});

it('a value cut across chunks is redacted, and text that only looks like its start is written at the end', () => {
  const r = new StreamRedactor({ S: 'hunter2' });
  assert.equal(r.push('pw=hun'), 'pw=');
  assert.equal(r.push('ter'), '');
  assert.equal(r.push('2 ok hu'), '[secret S] ok ');
  assert.equal(r.end(), 'hu');
});

it('however the text is cut, the stream gives what the whole text gives, and no value is left', () => {
  const alphabet = fc.constantFrom('a', 'b', 'x', '\n', 'é');
  const word = fc.array(alphabet, { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 3 }), fc.array(alphabet, { maxLength: 60 }), fc.array(fc.nat(60), { maxLength: 8 }),
      (values, chars, cuts) => {
        const secrets = Object.fromEntries(values.map((v, i) => [`S${i}`, v]));
        const text = chars.join('');
        const whole = redactText(text, secrets);
        const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
        const r = new StreamRedactor(secrets);
        let out = '';
        let from = 0;
        for (const p of [...points, text.length]) {
          out += r.push(text.slice(from, p));
          from = p;
        }
        out += r.end();
        assert.equal(out, whole);
        const bare = whole.replace(/\[secret S\d+\]/g, '\u0000');
        for (const v of values) assert.ok(!bare.includes(v), `${JSON.stringify(v)} left in ${JSON.stringify(whole)}`);
      }),
    { numRuns: 500 },
  );
});
