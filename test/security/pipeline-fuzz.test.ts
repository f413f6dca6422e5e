// The pipeline parser under fuzzing (issue 9, "What it must show": fast-check fuzzing of the pipeline parser). Valid
// files are mutated (characters deleted and inserted, huge numbers, deep nesting, prototype keys as names, NUL, lone
// surrogates, YAML tags and aliases); every result is a plan or a PIPELINE_INVALID error whose every issue is located
// at file:line:col inside the file, never another exception. A hang fails the suite on its timeout.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isSluiceError } from '../../src/kernel/errors.js';
import { type PipelineIssue, parsePipeline, type Plan } from '../../src/pipeline/pipeline.js';

const example = (name: string) => readFileSync(new URL(`../../../examples/shop/${name}`, import.meta.url), 'utf8');
const CANARY = `app: shop
artifact: { output: dist }
metrics: { prometheus: { url: http://127.0.0.1:9090, scrapeInterval: 5s } }
notify:
  - webhook: https://ops.example.com/hook
    stages: [prod, commit]
    on: [step-failed, rolled-back]
analyses:
  errors:
    interval: 1s
    count: 5
    thresholds: [{ name: e, metric: error-rate, max: 0.05 }]
    compare: [{ name: l, metric: latency-mean, direction: increase }]
  prom:
    interval: 10s
    count: 3
    thresholds: [{ name: p, metric: { prometheus: 'sum(rate(x{stage="{{stage}}"}[{{window}}]))' }, max: 1 }]
defaults:
  local: { start: node server.js, instances: 2 }
  env: { A: "1" }
stages:
  staging: { verify: { smoke: node smoke.js } }
  prod:
    after: [staging]
    extends: staging
    strategy:
      canary:
        steps: [{ setWeight: 10 }, { analysis: errors }, { pause: { duration: 1m } }, { setWeight: 50 }, { pause: {} }]
        analysis: prom
        sticky: { header: x-user-id }
`;
// YAML 1.1 brings more tags (!!binary, timestamps, merge keys, sets): the last seed declares it (where `on` is true).
const SEEDS = [example('sluice.yaml'), example('sluice.progressive.yaml'), CANARY, `%YAML 1.1\n---\n${CANARY.replace(/ {4}on: .*\n/, '')}`];
const PROTO = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'tostring'];
const PIECES = [
  ...PROTO,
  ...PROTO.map((k) => `\n  ${k}: {}\n`),
  ...PROTO.map((k) => `\n  ${k}:\n    after: ${k}\n    extends: ${k}\n`),
  '\0',
  'a\0b',
  '\ud800',
  '\u2028',
  '\ufeff',
  '\r',
  '\t',
  '99999999999999999999999999999',
  '1e309',
  '-1e309',
  '0x7fffffffffffffff',
  '.nan',
  '-.inf',
  '1.5',
  '-1',
  '0',
  '['.repeat(200),
  '{'.repeat(200),
  `${'['.repeat(60)}${']'.repeat(60)}`,
  '&a ',
  '*a',
  '<<: *a\n',
  '!!binary ',
  '!!binary aGVsbG8=: x\n',
  '2001-12-14: ',
  '!!set ',
  '!!omap ',
  '!!js/function ',
  '!<tag:yaml.org,2002:str> ',
  '? ',
  ': ',
  '- ',
  '\n',
  '\n  ',
  '\n    - ',
  '"',
  "'",
  '#',
  '|\n',
  '>-\n',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '~',
  'null',
  'after: ',
  'extends: ',
  'after: [',
  'steps: ',
  'analysis: ',
  'setWeight: ',
  'instances: ',
  'bake: ',
  '1m30',
  '30d',
  '999999d',
  'commit',
  'é',
  '😀',
];

type Mutation = { kind: 'delete'; at: number; len: number } | { kind: 'insert'; at: number; piece: string } | { kind: 'copy'; at: number; from: number; len: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), piece: fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6, unit: 'binary' })) }),
  fc.record({ kind: fc.constant('copy' as const), at: fc.nat(), from: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
);

function mutate(text: string, ms: readonly Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = t.length ? m.at % (t.length + 1) : 0;
    if (m.kind === 'delete') t = t.slice(0, at) + t.slice(at + m.len);
    else if (m.kind === 'insert') t = t.slice(0, at) + m.piece + t.slice(at);
    else {
      const from = t.length ? m.from % t.length : 0;
      t = t.slice(0, at) + t.slice(from, from + m.len) + t.slice(at);
    }
  }
  return t;
}

/** Parses `text`; a plan must hold together, and an error must be PIPELINE_INVALID located inside the file. */
function planOrClearError(text: string): Plan | PipelineIssue[] {
  let plan: Plan;
  try {
    plan = parsePipeline(text, 'f.yaml');
  } catch (e) {
    assert.ok(isSluiceError(e), `not a SluiceError for ${JSON.stringify(text.slice(0, 300))}: ${e instanceof Error ? e.stack : String(e)}`);
    assert.equal(e.code, 'PIPELINE_INVALID', e.message);
    const issues = (e.details as { issues?: PipelineIssue[] } | undefined)?.issues ?? [];
    assert.ok(issues.length > 0, `no located issue: ${e.message}`);
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const i of issues) {
      assert.equal(i.file, 'f.yaml');
      assert.ok(Number.isInteger(i.line) && i.line >= 1 && i.line <= lines + 1, `line ${i.line} of ${lines}: ${e.message}`);
      assert.ok(Number.isInteger(i.col) && i.col >= 1, `col ${i.col}: ${e.message}`);
      assert.ok(i.message.length > 0 && i.message.length < 2000, `message: ${i.message.slice(0, 200)}`);
      assert.ok(e.message.includes(`f.yaml:${i.line}:${i.col}: `), `the message names f.yaml:${i.line}:${i.col}: ${e.message.slice(0, 300)}`);
    }
    return issues;
  }
  // A plan holds together: stages by name once each, every `after` names an earlier stage, and nothing was inherited
  // from Object.prototype.
  const seen = new Set<string>();
  for (const s of plan.stages) {
    assert.ok(!seen.has(s.name), `stage ${s.name} twice`);
    for (const p of s.after) assert.ok(seen.has(p), `${s.name} after ${p}, which does not come before it`);
    seen.add(s.name);
    assert.equal(typeof s.env, 'object');
    for (const v of Object.values(s.env)) assert.equal(typeof v, 'string');
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  return plan;
}

describe('pipeline parser under fuzzing', { timeout: 240_000 }, () => {
  // Nothing a file says may make the parser write to the process' stderr (the yaml package warns there).
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  before(() => process.on('warning', onWarning));
  after(() => {
    process.off('warning', onWarning);
    assert.deepEqual(warnings, []);
  });

  it('the seeds are valid files', () => {
    for (const s of SEEDS) assert.ok(!Array.isArray(planOrClearError(s)));
  });

  it('mutated files give a plan or a clear error at file:line:col, never a crash', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS.keys()), fc.array(mutation, { minLength: 1, maxLength: 5 }), (seed, ms) => {
        planOrClearError(mutate(SEEDS[seed]!, ms));
      }),
      { numRuns: 1500 },
    );
  });

  it('prototype keys as stage, analysis, step and variable names are names like any other, or refused clearly', () => {
    const name = fc.constantFrom(...PROTO, 'prod', 'staging', 'commit', 'x');
    fc.assert(
      fc.property(name, name, name, name, name, (stage, parent, analysis, step, variable) => {
        const text = `app: shop
artifact: { output: dist }
analyses:
  ${analysis}: { interval: 1s, count: 1, thresholds: [{ name: e, metric: error-rate, max: 0.1 }] }
defaults: { local: { start: node server.js } }
stages:
  ${parent}: {}
  ${stage}:
    after: ${parent}
    extends: ${parent}
    env: { ${variable}: "v" }
    verify: { ${step}: node t.js }
    strategy: { canary: { steps: [{ setWeight: 10 }, { analysis: ${analysis} }] } }
`;
        const r = planOrClearError(text);
        if (!Array.isArray(r)) {
          const st = r.stages.find((s) => s.name === stage)!;
          assert.equal(Object.hasOwn(st.env, variable) && st.env[variable], 'v');
          assert.ok(Object.hasOwn(Object.fromEntries(st.verify.map((v) => [v.name, v])), step));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('deep nesting, long chains and huge numbers give a plan or a clear error', () => {
    const deep = fc.record({ depth: fc.integer({ min: 1, max: 20_000 }), flow: fc.boolean(), open: fc.constantFrom('[', '{ a: ') });
    fc.assert(
      fc.property(deep, ({ depth, flow, open }) => {
        const close = open === '[' ? ']' : ' }';
        const value = flow ? `${open.repeat(depth)}1${close.repeat(depth)}` : Array.from({ length: Math.min(depth, 300) }, (_, i) => `\n${' '.repeat(6 + i)}k${i}:`).join('') + ' 1';
        planOrClearError(`app: shop\nartifact: { output: dist }\ndefaults: { local: { start: s } }\nstages:\n  prod:\n    config:\n      deep: ${value}\n`);
      }),
      { numRuns: 60 },
    );
    const number = fc.oneof(fc.double(), fc.bigInt().map(String), fc.constantFrom('1e309', '-0', '.inf', '0o777', '0b1', '123456789012345678901234567890'));
    fc.assert(
      fc.property(number, fc.constantFrom('instances', 'bake', 'setWeight', 'count', 'interval', 'budget'), (n, key) => {
        const v = String(n);
        const stage = key === 'setWeight' ? `strategy: { canary: { steps: [{ setWeight: ${v} }] } }` : key === 'count' || key === 'interval' ? `strategy: { canary: { steps: [{ analysis: { interval: ${key === 'interval' ? v : '1s'}, count: ${key === 'count' ? v : 1} } }] } }` : key === 'instances' ? `local: { instances: ${v} }` : key === 'budget' ? '{}' : `bake: ${v}`;
        planOrClearError(`app: shop\nartifact: { output: dist }\n${key === 'budget' ? `commit: { budget: ${v}, steps: { a: b } }\n` : ''}defaults: { local: { start: s } }\nstages:\n  prod: ${stage.startsWith('{') ? stage : `{ ${stage} }`}\n`);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 3000 }), fc.boolean(), (n, back, ext) => {
        // A chain of n stages, the first pointing back to stage `back` (a cycle when back < n).
        const link = ext ? 'extends' : 'after';
        const text = `app: shop\nartifact: { output: dist }\ndefaults: { local: { start: s } }\nstages:\n${Array.from({ length: n }, (_, i) => `  s${i}: { ${link}: s${i ? i - 1 : back} }\n`).join('')}`;
        const r = planOrClearError(text);
        if (back < n) assert.ok(Array.isArray(r), 'a cycle is refused');
      }),
      { numRuns: 25 },
    );
  });
});
