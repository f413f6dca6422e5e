import { basename, join, relative, resolve } from 'node:path';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isSluiceError, SluiceError } from '../../../kernel/errors.js';
import { checkPipelineSize, DEFAULT_PIPELINE_LIMITS, parsePipeline } from '../../../pipeline/pipeline.js';
import { pipelineJsonSchema } from '../../../pipeline/pipeline-schema.js';
import { type Command, EXIT } from '../command.js';

const EXAMPLE = fileURLToPath(new URL('../../../../../examples/shop/', import.meta.url));
/** What `init` never copies: data directories, tokens, logs, build output, dependencies. */
const NOT_COPIED = /(^|[/\\])(\.sluice[^/\\]*|node_modules|dist|admin-token|[^/\\]*\.log|\.gitignore)([/\\]|$)/;
const GITIGNORE = '# Sluice: data directories (the database, tokens, logs) and build output\n.sluice/\n.sluice-*/\ndist/\nnode_modules/\n';

/** A DNS-safe app name from a folder name: lower case, letters, digits and dashes, at most 63. */
function appNameFrom(folder: string): string {
  const name = folder.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return name || 'app';
}

function filesOf(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel))
    .sort()
    .flatMap((n) => {
      const r = join(rel, n);
      if (NOT_COPIED.test(r)) return [];
      return statSync(join(dir, r)).isDirectory() ? filesOf(dir, r) : [r];
    });
}

/** A path as one shell word. */
const shellWord = (p: string) => (/^[\w./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

/** How to run this CLI from where the user is: `npx sluice` where it resolves, else node with its full path. */
function sluiceCommand(cwd: string): string {
  const bin = fileURLToPath(new URL('../../../../../bin/sluice.js', import.meta.url));
  const repo = resolve(bin, '..', '..');
  const viaNpx = existsSync(join(cwd, 'node_modules', '.bin', 'sluice')) || resolve(cwd) === repo;
  return viaNpx ? 'npx sluice' : `node ${shellWord(bin)}`;
}

export const pipelineCommands: Command[] = [
  {
    name: 'init',
    args: '',
    summary: 'scaffold sluice.yaml, an example app and its tests in --dir (never overwrites a file)',
    min: 0,
    max: 0,
    async run(ctx) {
      const target = ctx.config().appDir;
      const files = [...filesOf(EXAMPLE), '.gitignore'];
      const taken = files.filter((f) => existsSync(join(target, f)));
      if (taken.length)
        throw new SluiceError('INVALID_STATE', `${target} already has ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ` and ${taken.length - 5} more` : ''}; nothing changed (init writes only into an empty folder or one without these files)`);
      const app = appNameFrom(basename(target));
      for (const f of files.slice(0, -1)) cpSync(join(EXAMPLE, f), join(target, f), { recursive: true });
      // The app is named after its folder, and editors find the schema where this Sluice keeps it.
      const schema = fileURLToPath(new URL('../../../../../schema/sluice.schema.json', import.meta.url));
      for (const f of files.filter((x) => /\.ya?ml$/.test(x))) {
        const path = join(target, f);
        writeFileSync(path, readFileSync(path, 'utf8').replace(/^app: .*$/m, `app: ${app}`).replace(/\$schema=\S+/, `$schema=${schema}`));
      }
      const pkg = join(target, 'package.json');
      if (existsSync(pkg)) writeFileSync(pkg, `${JSON.stringify({ ...(JSON.parse(readFileSync(pkg, 'utf8')) as object), name: app }, null, 2)}\n`);
      writeFileSync(join(target, '.gitignore'), GITIGNORE);
      const dir = shellWord(relative(ctx.cwd, target) || '.');
      ctx.out(`${ctx.st.green('✓')} scaffolded app "${app}" in ${target}: sluice.yaml, an example app and its tests, and a .gitignore`);
      ctx.out(`next: ${sluiceCommand(ctx.cwd)} up --dir ${dir} --release 1.0.0`);
      return EXIT.ok;
    },
  },
  {
    name: 'validate',
    args: '',
    summary: 'check sluice.yaml without a server; errors name file:line:col',
    min: 0,
    max: 0,
    async run(ctx) {
      const c = ctx.config();
      const rel = relative(ctx.cwd, c.pipelineFile) || c.pipelineFile;
      let text: string;
      try {
        // A file over the size limit is refused before it is read.
        checkPipelineSize(rel, statSync(c.pipelineFile).size, c.pipelineLimits?.maxBytes ?? DEFAULT_PIPELINE_LIMITS.maxBytes);
        text = readFileSync(c.pipelineFile, 'utf8');
      } catch (e) {
        if (isSluiceError(e)) throw e;
        throw new SluiceError('PIPELINE_INVALID', `${rel}: no such file (run \`sluice init\` to create one)`);
      }
      try {
        const plan = parsePipeline(text, rel, { limits: c.pipelineLimits ?? {} });
        // An artifact that takes in the data directory would pack the database and tokens into every release.
        const output = resolve(c.appDir, plan.artifact.output);
        const inside = relative(output, c.dataDir);
        if (!inside.startsWith('..') && !inside.startsWith('/'))
          ctx.err(ctx.st.yellow(`⚠ artifact.output ${plan.artifact.output} contains the data directory ${relative(ctx.cwd, c.dataDir) || c.dataDir}; it is left out of artifacts, but keeping it elsewhere (--data-dir) is clearer`));
        ctx.print(plan, `${ctx.st.green('✓')} ${rel} is valid: app ${plan.app}, ${plan.commit.steps.length} commit step(s), stages ${plan.stages.map((s) => s.name).join(' → ')}`);
        return EXIT.ok;
      } catch (e) {
        if (isSluiceError(e) && e.code === 'PIPELINE_INVALID' && !ctx.opts.json) {
          ctx.err(ctx.st.red(`✗ ${e.message}`));
          return EXIT.failed;
        }
        throw e;
      }
    },
  },
  {
    name: 'schema',
    args: '',
    summary: 'print the JSON Schema of sluice.yaml',
    min: 0,
    max: 0,
    async run(ctx) {
      ctx.out(JSON.stringify(pipelineJsonSchema(), null, 2));
      return EXIT.ok;
    },
  },
];
