import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

// The core is pure: it may import other core modules and the pure libraries below, nothing else.
const ALLOWED_PACKAGES = new Set(['zod', 'yaml']);

it('src/core imports no I/O, no clock and no process state', () => {
  const dir = fileURLToPath(new URL('../../../src/core/', import.meta.url));
  const offenders: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))) {
    const text = readFileSync(dir + f, 'utf8');
    for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      if (spec.startsWith('./')) continue;
      if (!ALLOWED_PACKAGES.has(spec)) offenders.push(`${f} imports ${spec}`);
    }
    if (/\bprocess\.(env|argv|cwd)|Date\.now\(|new Date\(\)|setTimeout\(|Math\.random\(/.test(text))
      offenders.push(`${f} reads process state, the clock or randomness`);
  }
  assert.deepEqual(offenders, []);
});
