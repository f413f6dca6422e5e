#!/usr/bin/env node
// The dashboard's production build, measured: the JavaScript the board view loads (the entry script index.html names
// and every chunk it preloads), raw and gzipped, against the 300 kB gzip budget. Prints and writes
// bench-results/web-size.json. Run `npm run size:web` (it builds first).
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_GZIP = 300 * 1024;
const dir = 'dist/web';
const html = readFileSync(join(dir, 'index.html'), 'utf8');
const board = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="\/?([^"]+\.js)"/g)].map((m) => m[1]);
if (board.length === 0) {
  console.error('no script in dist/web/index.html; run npm run build:web');
  process.exit(1);
}
const measure = (f) => {
  const buf = readFileSync(join(dir, f));
  return { file: f, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
};
const boardFiles = board.map(measure);
const all = readdirSync(join(dir, 'assets'))
  .filter((f) => statSync(join(dir, 'assets', f)).isFile())
  .map((f) => measure(join('assets', f)));
const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
const result = {
  boardView: { files: boardFiles, bytes: sum(boardFiles, 'bytes'), gzip: sum(boardFiles, 'gzip') },
  allJs: { bytes: sum(all.filter((f) => f.file.endsWith('.js')), 'bytes'), gzip: sum(all.filter((f) => f.file.endsWith('.js')), 'gzip') },
  allCss: { bytes: sum(all.filter((f) => f.file.endsWith('.css')), 'bytes'), gzip: sum(all.filter((f) => f.file.endsWith('.css')), 'gzip') },
  budgetGzip: BUDGET_GZIP,
  withinBudget: sum(boardFiles, 'gzip') < BUDGET_GZIP,
};
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
console.log(`board view JS: ${kb(result.boardView.bytes)} raw, ${kb(result.boardView.gzip)} gzipped (budget ${kb(BUDGET_GZIP)})`);
for (const f of boardFiles) console.log(`  ${f.file}: ${kb(f.bytes)} raw, ${kb(f.gzip)} gzip`);
console.log(`all JS: ${kb(result.allJs.gzip)} gzipped; CSS: ${kb(result.allCss.gzip)} gzipped`);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/web-size.json', `${JSON.stringify(result, null, 2)}\n`);
if (!result.withinBudget) {
  console.error('over budget');
  process.exit(1);
}
