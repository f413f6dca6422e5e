// The direction of imports, as a lint rule (see docs/adr/0009-layout-by-context.md).
//
// Every file under src/ belongs to one layer:
//   kernel          src/kernel/**                 imports nothing else of Sluice
//   platform        src/platform/**               low-level I/O helpers for adapters and main: kernel only
//   context <C>     src/<C>/**                    kernel, its own files, and the contexts it is allowed to use;
//                                                 never platform, adapters, interfaces or main, and no I/O module
//   adapter <A>     src/adapters/<A>/**           kernel, platform, its own files, and the ports of any context
//                                                 (src/<C>/ports/**); never another adapter
//   interfaces      src/interfaces/**             kernel and contexts; never adapters, platform or main
//                   src/web/**                    the web interface (the dashboard) is an interface too
//   main            src/main/**                   anything: the composition roots wire adapters to ports
// Test files (*.test.ts) wire what they test, as main/ does: the rule leaves them alone. Contract suites
// (*.contract.ts) are part of their port and follow its layer.
import { dirname, relative, resolve, sep } from 'node:path';

/** Node modules and packages that do I/O; a context reaches them only through its ports. */
const IO_MODULES = [
  'fs', 'fs/promises', 'child_process', 'net', 'http', 'https', 'http2', 'dgram', 'dns', 'tls', 'cluster', 'worker_threads',
  'pg', '@electric-sql/pglite', 'fastify', 'tar', 'undici',
];

function layerOf(file, root, contexts) {
  const rel = relative(resolve(root, 'src'), file).split(sep);
  if (rel[0] === '..' || rel.length < 2) return undefined;
  const [top, second] = rel;
  if (top === 'kernel' || top === 'platform' || top === 'interfaces' || top === 'main') return { kind: top };
  if (top === 'web') return { kind: 'interfaces' };
  if (top === 'adapters') return { kind: 'adapter', name: second };
  if (contexts[top]) return { kind: 'context', name: top, port: second === 'ports' };
  return { kind: 'unknown', name: top };
}

function why(from, to, contexts) {
  const ctx = (l) => (l.kind === 'context' ? `context "${l.name}"` : l.kind === 'adapter' ? `adapter "${l.name}"` : l.kind);
  switch (from.kind) {
    case 'kernel':
      return to.kind === 'kernel' ? null : 'the kernel imports nothing else of Sluice';
    case 'platform':
      return to.kind === 'kernel' || to.kind === 'platform' ? null : 'platform helpers may import only the kernel';
    case 'context':
      if (to.kind === 'kernel') return null;
      if (to.kind === 'context' && (to.name === from.name || contexts[from.name].includes(to.name))) return null;
      if (to.kind === 'context')
        return `context "${from.name}" may use ${contexts[from.name].length ? contexts[from.name].map((c) => `"${c}"`).join(', ') : 'no other context'}, not "${to.name}"`;
      return `a context reaches ${ctx(to)} only through a port that main/ wires`;
    case 'adapter':
      if (to.kind === 'kernel' || to.kind === 'platform') return null;
      if (to.kind === 'adapter' && to.name === from.name) return null;
      if (to.kind === 'context' && to.port) return null;
      if (to.kind === 'adapter') return `an adapter imports no other adapter ("${to.name}"); share through a port`;
      return `an adapter sees only ports (src/<context>/ports/), not ${ctx(to)}`;
    case 'interfaces':
      return to.kind === 'kernel' || to.kind === 'context' || to.kind === 'interfaces' ? null : `interfaces reach ${ctx(to)} only through main/, which wires it`;
    case 'main':
      return null;
    default:
      return `src/${from.name} is not a known layer; add it to the contexts in eslint.config.js`;
  }
}

export const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports point one way: interfaces -> contexts -> kernel; adapters see only ports; only main/ wires.' },
    schema: [{ type: 'object', properties: { root: { type: 'string' }, contexts: { type: 'object' } }, additionalProperties: false }],
  },
  create(context) {
    const { root, contexts } = context.options[0];
    const file = context.filename;
    const from = layerOf(file, root, contexts);
    if (!from) return {};
    if (/\.test\.ts$/.test(file)) return {};
    const isContract = /\.contract\.ts$/.test(file);
    const check = (node, spec) => {
      if (typeof spec !== 'string') return;
      if (!spec.startsWith('.')) {
        const bare = spec.replace(/^node:/, '');
        if (from.kind === 'context' && !isContract && IO_MODULES.includes(bare))
          context.report({ node, message: `context "${from.name}" does no I/O itself ("${spec}"): declare a port in src/${from.name}/ports/ and implement it in an adapter` });
        return;
      }
      const target = resolve(dirname(file), spec);
      const to = layerOf(target, root, contexts) ?? { kind: 'outside' };
      if (to.kind === 'outside') {
        context.report({ node, message: `"${spec}" is outside src/` });
        return;
      }
      const problem = why(from, to, contexts);
      if (problem) context.report({ node, message: `wrong import "${spec}": ${problem}` });
    };
    return {
      ImportDeclaration: (n) => check(n.source, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n.source, n.source.value),
      ExportAllDeclaration: (n) => check(n.source, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n.source, n.source.value),
    };
  },
};
