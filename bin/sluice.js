#!/usr/bin/env node
// The sluice command. The TypeScript sources compile to dist/ (npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/main/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('sluice: not built yet; run `npm run build` in the sluice folder first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2), process.env);
process.exitCode = code;
