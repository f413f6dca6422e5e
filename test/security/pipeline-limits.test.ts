// Limits on the pipeline file (issue 9, "Limits on every input": pipeline files). Each case is what a careless user or
// an attacker could write in sluice.yaml; each is refused with file:line:col and a message saying what and which
// limit, or, for what is legitimate however large, validated in time proportional to the file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pipelineFileOnDisk } from '../../src/adapters/pipeline-file/pipeline-file.js';
import { isSluiceError } from '../../src/kernel/errors.js';
import { loadConfig } from '../../src/main/config.js';
import { DEFAULT_PIPELINE_LIMITS, type ParseOptions, type PipelineIssue, parsePipeline, type Plan } from '../../src/pipeline/pipeline.js';
import { cli } from '../helpers/sluice-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-pipeline-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const head = `app: shop
artifact:
  output: dist
defaults:
  local:
    start: node server.js
stages:
`;

/** The error a file gets: its message and its located issues. */
function refusal(text: string, options?: ParseOptions): { message: string; issues: PipelineIssue[] } {
  try {
    parsePipeline(text, 'p.yaml', options);
  } catch (e) {
    assert.ok(isSluiceError(e), `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, 'PIPELINE_INVALID');
    return { message: e.message, issues: (e.details as { issues: PipelineIssue[] }).issues };
  }
  assert.fail('expected the file to be refused');
}

/** Stage s0, then s1 after s0, …: a chain of n `after` links, written last stage first so the order has work to do. */
const afterChain = (n: number) => head + Array.from({ length: n }, (_, k) => n - 1 - k).map((i) => `  s${i}:${i ? ` { after: s${i - 1} }` : ' {}'}\n`).join('');
/** Stage e<i> extends e<i-1>, each adding one env variable (the plan then holds n²/2 of them) or changing one value. */
const extendsChain = (n: number, own: (i: number) => string = (i) => `env: { V${i}: "${i}" }`) =>
  head + Array.from({ length: n }, (_, i) => `  e${i}:\n    ${own(i)}\n${i ? `    extends: e${i - 1}\n` : ''}`).join('');
const bakeChain = (n: number) => extendsChain(n, (i) => `bake: ${i}`);

describe('pipeline files: size', () => {
  it('a file over the size limit is refused, naming the file, its size and the limit; nothing of it is parsed', () => {
    const big = `${head}  prod: {}\n# ${'x'.repeat(DEFAULT_PIPELINE_LIMITS.maxBytes)}\n`;
    const r = refusal(big);
    assert.match(r.message, /^p\.yaml is invalid:\np\.yaml:1:1: the file is 1 MiB \(\d+ bytes\), over the limit of 1 MiB \(1048576 bytes\) for a pipeline file \(the server's pipelineLimits\.maxBytes\)$/);
    // Bytes, not characters: 400 two-byte characters are 800 bytes.
    assert.match(refusal(`${head}  prod: {}\n# ${'é'.repeat(400)}\n`, { limits: { maxBytes: 700 } }).message, /the file is \d+ bytes, over the limit of 700 bytes/);
    assert.equal(parsePipeline(`${head}  prod: {}\n`, 'p.yaml', { limits: { maxBytes: 200 } }).stages.length, 1);
  });

  it('the file on disk is refused by its size before it is read, and the limit is a server setting', () => {
    const path = join(dir, 'sluice.yaml');
    writeFileSync(path, `${head}  prod: {}\n# ${'x'.repeat(4000)}\n`);
    const small = pipelineFileOnDisk(path, 'sluice.yaml', { maxBytes: 2048 });
    assert.throws(() => small.read(), /sluice\.yaml:1:1: the file is 4 KiB \(4102 bytes\), over the limit of 2 KiB \(2048 bytes\)/);
    assert.match(pipelineFileOnDisk(path, 'sluice.yaml').read(), /^app: shop/);
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ pipelineLimits: { maxBytes: 2048, maxDepth: 10 } }));
    const c = loadConfig({ env: {}, argv: { config }, cwd: dir });
    assert.deepEqual(c.pipelineLimits, { maxBytes: 2048, maxDepth: 10, maxAliases: DEFAULT_PIPELINE_LIMITS.maxAliases });
    assert.equal(loadConfig({ env: { SLUICE_MAX_PIPELINE_BYTES: '4096' }, argv: { config }, cwd: dir }).pipelineLimits.maxBytes, 4096);
    assert.throws(() => loadConfig({ env: { SLUICE_MAX_PIPELINE_BYTES: 'lots' }, argv: {}, cwd: dir }), /SLUICE_MAX_PIPELINE_BYTES must be a whole number of bytes/);
    writeFileSync(config, JSON.stringify({ pipelineLimits: { maxBytes: 'big' } }));
    assert.throws(() => loadConfig({ env: {}, argv: { config }, cwd: dir }), /pipelineLimits\.maxBytes/);
  });

  it('sluice validate says so too, with the file as the user named it', async () => {
    const app = join(dir, 'app');
    rmSync(app, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(app);
    writeFileSync(join(app, 'sluice.yaml'), `${head}  prod: {}\n# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    const r = await cli(['validate', '--dir', app]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sluice\.yaml:1:1: the file is 2 MiB \(\d+ bytes\), over the limit of 1 MiB \(1048576 bytes\)/);
  });
});

describe('pipeline files: aliases and nesting', () => {
  it('aliases that expand past the limit (a "billion laughs") are refused at the first alias', () => {
    const laughs = `${head}  prod:\n    config:\n      a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 9 }, (_, i) => `      l${i}: &l${i} [${Array.from({ length: 10 }, () => (i ? `*l${i - 1}` : '*a')).join(', ')}]\n`).join('')}`;
    const r = refusal(laughs);
    assert.equal(r.issues.length, 1);
    assert.equal(r.issues[0]!.line, 11);
    assert.match(r.message, /p\.yaml:11:\d+: aliases expand too much: more than 100 copies \(the server's pipelineLimits\.maxAliases\)/);
    // A few aliases are fine, and the limit is a setting.
    const few = `${head}  base: &b\n    env: { A: "1" }\n  prod: *b\n`;
    assert.equal(parsePipeline(few).stages.length, 2);
    assert.match(refusal(few, { limits: { maxAliases: 0 } }).message, /aliases expand too much: more than 0 copies/);
  });

  it('flow collections nested past the limit are refused at the bracket too deep, before YAML builds them', () => {
    const n = 200_000;
    const r = refusal(`${head}  prod:\n    config:\n      deep: ${'['.repeat(n)}${']'.repeat(n)}\n`);
    // `      deep: ` puts the first bracket at column 13: the 65th is at 77.
    assert.deepEqual([r.issues[0]!.line, r.issues[0]!.col], [10, 13 + 64]);
    assert.match(r.message, /p\.yaml:10:\d+: nested deeper than 64 levels \(the server's pipelineLimits\.maxDepth\)/);
    // Brackets in quotes and in plain text are not nesting.
    const quoted = `${head}  prod:\n    env: { A: "${'['.repeat(100)}", B: '${'{'.repeat(100)}' }\n    local:\n      start: echo ${'['.repeat(100)} # ${'{'.repeat(100)}\n`;
    assert.equal(parsePipeline(quoted).stages[0]!.env.A, '['.repeat(100));
  });

  it('mappings and lists nested past the limit are refused at the node too deep', () => {
    let deep = `${head}  prod:\n    config:\n`;
    for (let i = 0; i < 80; i++) deep += `${' '.repeat(6 + 2 * i)}k${i}:\n`;
    const r = refusal(deep);
    assert.match(r.message, /p\.yaml:\d+:\d+: nested deeper than 64 levels/);
    // The top mapping is level 1, stages 2, prod 3, config 4 (line 10): level 65 is on line 71.
    assert.equal(r.issues[0]!.line, 10 + 65 - 4);
    assert.match(refusal(`${head}  prod:\n    config: { a: { b: { c: 1 } } }\n`, { limits: { maxDepth: 5 } }).message, /nested deeper than 5 levels/);
  });

  it('a __proto__ key is refused where it stands; stages and analyses called constructor are names like any other', () => {
    assert.match(refusal(`${head}  prod:\n    config:\n      __proto__: { polluted: true }\n`).message, /p\.yaml:10:7: the key "__proto__" is not allowed/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const plan = parsePipeline(`${head}  constructor: {}\n  prod: { after: constructor, extends: constructor }\n`);
    assert.deepEqual(plan.stages.map((s) => s.name), ['constructor', 'prod']);
    // An unknown name is unknown, even when Object.prototype has it.
    assert.match(refusal(`${head}  prod: { after: constructor }\n`).message, /p\.yaml:8:18: stages\.prod\.after: unknown stage "constructor"/);
    assert.match(refusal(`${head}  prod: { extends: constructor }\n`).message, /unknown stage "constructor"/);
    const withAnalysis = (name: string, ref: string) =>
      `${head.replace('stages:\n', '')}analyses:\n  ${name}: { interval: 1s, count: 1, thresholds: [{ name: e, metric: error-rate, max: 0.1 }] }\n` +
      `stages:\n  prod:\n    strategy: { canary: { steps: [{ setWeight: 10 }, { analysis: ${ref} }] } }\n`;
    const steps = parsePipeline(withAnalysis('constructor', 'constructor')).stages[0]!.canary!.steps;
    assert.equal(steps[1]!.kind === 'analysis' && steps[1]!.analysis.name, 'constructor');
    assert.match(refusal(withAnalysis('errors', 'constructor')).message, /p\.yaml:\d+:\d+: stages\.prod\.strategy\.canary\.steps\.1\.analysis: unknown analysis "constructor"/);
    assert.match(refusal(withAnalysis('errors', 'hasOwnProperty')).message, /unknown analysis "hasOwnProperty"/);
  });
});

describe('pipeline files: long chains are validated in time proportional to the file', () => {
  const work = (text: string): { plan: Plan; steps: number } => {
    const counter = { steps: 0 };
    const plan = parsePipeline(text, 'p.yaml', { work: counter });
    return { plan, steps: counter.steps };
  };

  it('a 10,000-stage after chain validates (it overflowed the stack), in order', () => {
    const text = afterChain(10_000);
    assert.ok(Buffer.byteLength(text) <= DEFAULT_PIPELINE_LIMITS.maxBytes, 'within the default size limit');
    const { plan } = work(text);
    assert.equal(plan.stages.length, 10_000);
    assert.deepEqual(plan.stages.slice(0, 3).map((s) => s.name), ['s0', 's1', 's2']);
    assert.equal(plan.stages.at(-1)!.name, 's9999');
  });

  it('a 1,000-stage extends chain validates (it took 17 s), each stage layered on the one it extends', () => {
    const { plan } = work(extendsChain(1000));
    const last = plan.stages.find((s) => s.name === 'e999')!;
    assert.equal(Object.keys(last.env).length, 1000);
    assert.equal(last.env.V0, '0');
    assert.equal(last.env.V999, '999');
    assert.equal(last.local?.start, 'node server.js');
    assert.equal(Object.keys(plan.stages.find((s) => s.name === 'e0')!.env).length, 1);
  });

  it('the work on the stage graph grows as the stages do: four times the stages, four times the steps', () => {
    for (const [what, make] of [['after', afterChain], ['extends', bakeChain]] as const) {
      const n = work(make(500)).steps;
      const n4 = work(make(2000)).steps;
      assert.ok(n > 500, `${what}: the work is counted (${n})`);
      // Linear: four times the stages is four times the steps, give or take a constant (a quadratic walk is 16 times).
      assert.ok(Math.abs(n4 - 4 * n) <= 10, `${what}: ${n} steps for 500 stages, ${n4} for 2000`);
    }
    // A wide fan-in (every stage after all the earlier ones is n²/2 links) counts each link once.
    const fan = (n: number) => head + Array.from({ length: n }, (_, i) => `  f${i}: { after: [${Array.from({ length: i }, (_, j) => `f${j}`).join(', ')}] }\n`).join('');
    const links = (n: number) => (n * (n - 1)) / 2;
    const w = work(fan(60)).steps;
    assert.ok(w <= 4 * (links(60) + 60), `fan-in: ${w} steps for ${links(60)} links`);
  });

  it('cycles in long chains are found, and named at file:line:col with the cycle shortened', () => {
    const n = 10_000;
    const text = afterChain(n).replace('  s0: {}\n', `  s0: { after: s${n - 1} }\n`);
    const r = refusal(text);
    assert.equal(r.issues.length, 1);
    assert.match(r.message, /^p\.yaml is invalid:\np\.yaml:\d+:\d+: stages\.s\d+\.after: stages form a cycle: (s\d+ → ){6}… \(9992 more\) → s\d+ → s\d+ → s\d+$/);
    const ext = extendsChain(1000).replace('  e0:\n    env: { V0: "0" }\n', '  e0:\n    env: { V0: "0" }\n    extends: e999\n');
    assert.match(refusal(ext).message, /p\.yaml:10:14: stages\.e0\.extends: extends forms a cycle: e0 → e999 → e998/);
  });

  it('a file full of mistakes lists the first 100, located, and counts the rest; "known" names are cut short', () => {
    const text = head + Array.from({ length: 5000 }, (_, i) => `  s${i}: { after: nope${i} }\n`).join('');
    const r = refusal(text);
    assert.equal(r.issues.length, 100);
    assert.deepEqual([r.issues[0]!.line, r.issues[0]!.col], [8, 16]);
    assert.match(r.message, /\n… and 4900 more$/);
    assert.match(r.issues[0]!.message, /^unknown stage "nope0"; known: s0, s1, .*, s19 and 4980 more$/);
  });
});
