// Builds the artifact: copies the service into dist/.
import { cpSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist', { recursive: true });
writeFileSync('dist/package.json', `${JSON.stringify({ name: 'payments', private: true, type: 'module' }, null, 2)}\n`);
console.log('built dist/');
