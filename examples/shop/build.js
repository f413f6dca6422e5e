// Builds the artifact: copies the app into dist/. Sluice packs dist/ once and every stage runs that same digest.
// The PostgreSQL driver (pg, for the orders a stage with a database keeps) is copied in from the Sluice checkout's
// node_modules with everything it depends on, so the artifact runs on its own.
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist', { recursive: true });
writeFileSync('dist/package.json', `${JSON.stringify({ name: 'shop', private: true, type: 'module' }, null, 2)}\n`);

const copied = new Set();
/** The folder of package `name` as Node would find it from `dir`: the nearest node_modules/<name> up the tree. */
function packageDir(name, dir) {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', name, 'package.json'))) return join(d, 'node_modules', name);
    if (dirname(d) === d) return undefined;
  }
}
function copyPackage(name, from) {
  const dir = packageDir(name, from);
  if (!dir || copied.has(name)) return; // absent: an optional dependency, or no Sluice checkout around
  copied.add(name);
  cpSync(dir, join('dist/node_modules', name), { recursive: true, dereference: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) copyPackage(dep, dir);
}
copyPackage('pg', process.cwd());
console.log(`built dist/${copied.size ? ` with ${[...copied].join(', ')}` : ''}`);
