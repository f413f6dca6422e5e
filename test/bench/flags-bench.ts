// npm run bench:flags: feature-flag evaluation and change application, Sluice side by side with its peers, in one run.
//   evaluation: evaluations/s for the same three rules (a static flag, a 50-id list, a 10% fractional split) in
//               Sluice (compileFlagSet + evaluate), @openfeature/flagd-core 4.0.1 (FlagdCore.resolveBooleanEvaluation)
//               and unleash-client's local evaluation (bootstrapped, in-memory, no server: isEnabled). Every call
//               gets another targeting key, and results feed a checksum so the JIT cannot drop the work.
//               Median of BENCH_RUNS (5) rounds of BENCH_SECONDS (2) s per library and rule, rounds interleaved.
//   apply:      the time to take a 1,000-flag change: Sluice parses and compiles the set; flagd-core's
//               setConfigurations takes the same JSON (it parses, compiles and hashes every flag to find changes).
// Prints a table and writes bench-results/flags.json (figures, ratios, each target met or not).
//   stream:     change-to-delivery latency of the data plane's flag stream to 1,000 SSE subscribers on loopback
//               (BENCH_SUBSCRIBERS, BENCH_CHANGES); see flags-stream.ts. Unleash SDKs poll every 15 s, flagd's HTTP sync every 5 s.
// BENCH_SECTIONS=evaluation,apply,stream runs only those named.
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { FlagdCore } from '@openfeature/flagd-core';
import { InMemStorageProvider, Unleash } from 'unleash-client';
import { compileFlagSet } from '../../src/flags/flag-compiler.js';
import type { CompiledFlagSet, FlagdDocument } from '../../src/flags/flag-model.js';
import { measureStreamLatency } from './flags-stream.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const USERS = 4096;

type Rule = 'static' | 'list' | 'fractional';
const RULES: Rule[] = ['static', 'list', 'fractional'];
const FLAG: Record<Rule, string> = { static: 'static-flag', list: 'list-flag', fractional: 'fractional-flag' };
const LIST = Array.from({ length: 50 }, (_, i) => `user-${i * 37}`);

/** The same three rules in flagd's JSON. */
function flagdDocument(): FlagdDocument {
  return {
    flags: {
      [FLAG.static]: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      [FLAG.list]: {
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        targeting: { if: [{ in: [{ var: 'targetingKey' }, LIST] }, 'on', 'off'] },
      },
      [FLAG.fractional]: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 10], ['off', 90]] } },
    },
  };
}

/** The same three rules as Unleash features. */
function unleashFeatures() {
  const base = { enabled: true, type: 'release', project: 'default', stale: false, impressionData: false, variants: [] };
  return [
    { ...base, name: FLAG.static, strategies: [{ name: 'default', parameters: {}, constraints: [] }] },
    {
      ...base,
      name: FLAG.list,
      strategies: [{ name: 'default', parameters: {}, constraints: [{ contextName: 'userId', operator: 'IN', values: LIST, inverted: false }] }],
    },
    {
      ...base,
      name: FLAG.fractional,
      strategies: [{ name: 'flexibleRollout', parameters: { rollout: '10', stickiness: 'userId', groupId: FLAG.fractional }, constraints: [] }],
    },
  ];
}

/** One library's way to answer "is this flag on for this user?". */
type Evaluator = (flag: string, user: number) => boolean;

async function evaluators(): Promise<{ evaluators: Record<string, Evaluator>; close: () => void }> {
  const doc = flagdDocument();
  const compiled = compileFlagSet(doc);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
  const set: CompiledFlagSet = compiled.set;
  const sluiceContexts = Array.from({ length: USERS }, (_, i) => ({ targetingKey: `user-${i}` }));
  const flagd = new FlagdCore();
  flagd.setConfigurations(JSON.stringify(doc));
  const flagdContexts = Array.from({ length: USERS }, (_, i) => ({ targetingKey: `user-${i}` }));
  const unleash = new Unleash({
    appName: 'sluice-bench',
    // Nothing listens there: the client starts from its bootstrap and evaluates locally, as with a server away.
    url: 'http://127.0.0.1:9/api/',
    refreshInterval: 0,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: unleashFeatures() as never },
    skipInstanceCountWarning: true,
  });
  unleash.on('error', () => {});
  unleash.on('warn', () => {});
  await new Promise<void>((resolve) => unleash.once('ready', () => resolve()));
  const unleashContexts = Array.from({ length: USERS }, (_, i) => ({ userId: `user-${i}` }));
  return {
    evaluators: {
      sluice: (flag, user) => set.evaluate(flag, 'boolean', false, sluiceContexts[user]!).value,
      'flagd-core': (flag, user) => flagd.resolveBooleanEvaluation(flag, false, flagdContexts[user]!).value,
      'unleash-client': (flag, user) => unleash.isEnabled(flag, unleashContexts[user]!),
    },
    close: () => unleash.destroy(),
  };
}

let sink = 0;

/** Evaluations per second of one library on one rule, for SECONDS. */
function rate(evaluate: Evaluator, flag: string): number {
  const batch = 4096;
  let n = 0;
  let on = 0;
  const start = performance.now();
  const until = start + SECONDS * 1000;
  let now = start;
  while (now < until) {
    for (let i = 0; i < batch; i++) if (evaluate(flag, (n + i) & (USERS - 1))) on++;
    n += batch;
    now = performance.now();
  }
  sink += on;
  return n / ((now - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The targets and the figures measured for the peers on 2026-11-21 (for the record, not compared). */
const TARGETS = { vsFlagd: { static: 1, list: 1.5, fractional: 1.5 }, vsUnleash: 10, applyMs: 10 };
const REFERENCE = {
  date: '2026-11-21',
  flagdCore: { static: 10.1e6, list: 3.1e6, fractional: 2.0e6, applyMs: 75 },
  unleashClient: { static: 0.77e6, list: 0.35e6, fractional: 0.5e6 },
};

async function evaluationSection() {
  const { evaluators: libs, close } = await evaluators();
  // Warm every path before measuring, so no library pays for the JIT inside a measured round.
  for (const lib of Object.values(libs)) for (const rule of RULES) for (let i = 0; i < 200_000; i++) lib(FLAG[rule], i & (USERS - 1));
  const samples: Record<string, Record<Rule, number[]>> = {};
  for (const name of Object.keys(libs)) samples[name] = { static: [], list: [], fractional: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const rule of RULES) for (const [name, lib] of Object.entries(libs)) samples[name]![rule].push(rate(lib, FLAG[rule]));
  }
  close();
  const perSecond: Record<string, Record<Rule, number>> = {};
  for (const [name, s] of Object.entries(samples)) {
    perSecond[name] = { static: median(s.static), list: median(s.list), fractional: median(s.fractional) };
  }
  const ratios: Record<string, Record<Rule, number>> = {
    vsFlagdCore: { static: 0, list: 0, fractional: 0 },
    vsUnleash: { static: 0, list: 0, fractional: 0 },
  };
  const met: Record<string, boolean> = {};
  for (const rule of RULES) {
    ratios.vsFlagdCore![rule] = perSecond.sluice![rule] / perSecond['flagd-core']![rule];
    ratios.vsUnleash![rule] = perSecond.sluice![rule] / perSecond['unleash-client']![rule];
    met[`${rule} >= ${TARGETS.vsFlagd[rule]}x flagd-core`] = ratios.vsFlagdCore![rule] >= TARGETS.vsFlagd[rule];
    met[`${rule} >= ${TARGETS.vsUnleash}x unleash-client`] = ratios.vsUnleash![rule] >= TARGETS.vsUnleash;
  }
  console.log(`\nevaluations/s (median of ${RUNS} x ${SECONDS} s, ${USERS} targeting keys in turn)`);
  console.log(['library'.padEnd(16), ...RULES.map((r) => r.padStart(14))].join(''));
  const fmt = (x: number) => `${(x / 1e6).toFixed(2)}M`.padStart(14);
  for (const [name, r] of Object.entries(perSecond)) console.log([name.padEnd(16), ...RULES.map((rule) => fmt(r[rule]))].join(''));
  console.log(['Sluice/flagd'.padEnd(16), ...RULES.map((rule) => `${ratios.vsFlagdCore![rule]!.toFixed(2)}x`.padStart(14))].join(''));
  console.log(['Sluice/unleash'.padEnd(16), ...RULES.map((rule) => `${ratios.vsUnleash![rule]!.toFixed(1)}x`.padStart(14))].join(''));
  return { perSecond, ratios, met, checksum: sink };
}

/** A 1,000-flag set mixing the three rules, with a revision number so each apply is a real change. */
function largeDocument(revision: number): string {
  const flags: Record<string, unknown> = {};
  for (let i = 0; i < 1000; i++) {
    const kind = i % 3;
    flags[`flag-${i}`] = {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      metadata: { revision },
      ...(kind === 1 ? { targeting: { if: [{ in: [{ var: 'targetingKey' }, LIST] }, 'on', 'off'] } } : {}),
      ...(kind === 2 ? { targeting: { fractional: [['on', (i + revision) % 100], ['off', 100 - ((i + revision) % 100)]] } } : {}),
    };
  }
  return JSON.stringify({ flags, $evaluators: { testers: { in: [{ var: 'targetingKey' }, LIST] } } });
}

async function applySection() {
  // A process applies many changes over its life: the figure is the median once the code is warm (the first WARM
  // changes are left out), and the first change of a fresh process is reported beside it.
  const WARM = 5;
  const reps = Math.max(15, RUNS * 4);
  const docs = Array.from({ length: reps + WARM }, (_, i) => largeDocument(i));
  let sluiceFirst = 0;
  let flagdFirst = 0;
  // Each library in a loop of its own, so neither pays for the other's garbage.
  const sluice: number[] = [];
  let current: CompiledFlagSet | undefined;
  for (let i = 0; i < docs.length; i++) {
    const t = performance.now();
    const r = compileFlagSet(JSON.parse(docs[i]!));
    const ms = performance.now() - t;
    if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
    current = r.set;
    if (i === 0) sluiceFirst = ms;
    if (i >= WARM) sluice.push(ms);
  }
  sink += current!.keys().length;
  const flagd: number[] = [];
  const core = new FlagdCore();
  for (let i = 0; i < docs.length; i++) {
    const t = performance.now();
    core.setConfigurations(docs[i]!);
    const ms = performance.now() - t;
    if (i === 0) flagdFirst = ms;
    if (i >= WARM) flagd.push(ms);
  }
  const result = {
    flags: 1000,
    bytes: docs[0]!.length,
    sluiceMs: median(sluice),
    flagdCoreMs: median(flagd),
    firstInFreshProcess: { sluiceMs: sluiceFirst, flagdCoreMs: flagdFirst },
  };
  console.log(`\napply a 1,000-flag change (${result.bytes} bytes of JSON, median of ${sluice.length}): ` +
    `Sluice ${result.sluiceMs.toFixed(1)} ms (parse + validate + compile), flagd-core ${result.flagdCoreMs.toFixed(1)} ms (setConfigurations); ` +
    `first change in a fresh process: Sluice ${sluiceFirst.toFixed(1)} ms, flagd-core ${flagdFirst.toFixed(1)} ms`);
  return { ...result, ratio: result.flagdCoreMs / result.sluiceMs, met: { [`apply <= ${TARGETS.applyMs} ms`]: result.sluiceMs <= TARGETS.applyMs } };
}

async function streamSection() {
  const subscribers = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
  const r = await measureStreamLatency({ subscribers, changes: Number(process.env.BENCH_CHANGES ?? 50) });
  console.log(`\nstream: ${r.changes} changes to ${subscribers} subscribers: p50 ${r.p50} ms, p95 ${r.p95} ms, p99 ${r.p99} ms, max ${r.max} ms, ` +
    `${r.missed} of ${r.deliveries} deliveries missed (peers poll: Unleash every 15 s, flagd's HTTP sync every 5 s)`);
  return { ...r, peersPollMs: { unleash: 15_000, flagdHttpSync: 5_000 }, met: { 'p99 <= 100 ms, none missed': r.p99 <= 100 && r.missed === 0 } };
}

/** The sections of this bench, run in order; each returns what goes under its name in flags.json. */
export const SECTIONS: Array<{ name: string; run: () => Promise<unknown> }> = [
  { name: 'evaluation', run: evaluationSection },
  { name: 'apply', run: applySection },
  { name: 'stream', run: streamSection },
];

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  runs: RUNS,
  seconds: SECONDS,
  targets: TARGETS,
  reference: REFERENCE,
};
// BENCH_SECTIONS=apply,evaluation runs only those.
const only = process.env.BENCH_SECTIONS?.split(',');
for (const section of SECTIONS) if (!only || only.includes(section.name)) results[section.name] = await section.run();
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/flags.json', `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten to bench-results/flags.json');
