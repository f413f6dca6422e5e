// Builds the artifact: copies the app into dist/. Sluice packs dist/ once and every stage runs that same digest.
import { cpSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist', { recursive: true });
writeFileSync('dist/package.json', `${JSON.stringify({ name: 'shop', private: true, type: 'module' }, null, 2)}\n`);
console.log('built dist/');
