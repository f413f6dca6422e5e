import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isSluiceError } from '../kernel/errors.js';
import { type PipelineIssue, parsePipeline } from './pipeline.js';

const EXAMPLE = readFileSync(new URL('../../../examples/shop/sluice.yaml', import.meta.url), 'utf8');

function issuesOf(text: string): PipelineIssue[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (e) {
    assert.ok(isSluiceError(e), `expected a SluiceError, got ${e}`);
    assert.equal(e.code, 'PIPELINE_INVALID');
    return (e.details as { issues: PipelineIssue[] }).issues;
  }
  assert.fail('expected the file to be rejected');
}

const base = (stages: string) => `app: shop
artifact:
  output: dist
defaults:
  local:
    start: node server.js
stages:
${stages}`;

describe('parsePipeline', () => {
  it('resolves the example: order, layering, defaults', () => {
    const plan = parsePipeline(EXAMPLE);
    assert.equal(plan.app, 'shop');
    assert.deepEqual(
      plan.stages.map((s) => s.name),
      ['integ', 'staging', 'prod'],
    );
    const prod = plan.stages[2]!;
    assert.equal(prod.env.GREETING, 'Hello');
    assert.equal(plan.stages[0]!.env.GREETING, 'Welcome');
    assert.equal(prod.local?.instances, 2);
    assert.equal(prod.local?.healthTimeoutMs, 20_000);
    assert.equal(prod.bakeMs, 3000);
    assert.deepEqual(prod.after, ['staging']);
    assert.equal(plan.commit.budgetMs, 300_000);
    assert.deepEqual(
      plan.commit.steps.map((s) => s.name),
      ['syntax', 'unit'],
    );
    assert.deepEqual(
      plan.stages[1]!.verify.map((v) => v.name),
      ['integration', 'acceptance'],
    );
  });

  it('accepts the pipeline shown in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(yaml, 'README has a yaml example');
    const plan = parsePipeline(yaml, 'README.md');
    const prod = plan.stages.find((s) => s.name === 'prod')!;
    assert.deepEqual(
      prod.verify.map((v) => v.name),
      ['acceptance'],
    );
    assert.equal(prod.approval, true);
    assert.equal(prod.autoPromote, false);
    assert.equal(prod.bakeMs, 600_000);
  });

  it('accepts the canary example shown in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('canary:'));
    assert.ok(block, 'README has a canary example');
    const plan = parsePipeline(`app: shop\nartifact: { output: dist }\ndefaults:\n  local: { start: node server.js }\n${block}`, 'README.md');
    const canary = plan.stages[0]!.canary!;
    assert.deepEqual(
      canary.steps.map((s) => s.kind),
      ['setWeight', 'analysis', 'pause', 'setWeight', 'pause'],
    );
    assert.equal(canary.background?.thresholds[0]?.max, 0.05);
    assert.deepEqual(canary.sticky, { header: 'x-user-id' });
  });

  it('refuses a canary on a command target and an unknown analysis, with positions', () => {
    const issues = issuesOf(`app: shop
artifact: { output: d }
stages:
  prod:
    target: command
    command: { deploy: x }
    strategy:
      canary:
        steps:
          - analysis: erors
`);
    assert.ok(issues.some((i) => /unknown analysis "erors"/.test(i.message) && i.line === 10), JSON.stringify(issues));
    assert.ok(issues.some((i) => /canary needs target "local"/.test(i.message)));
  });

  it('orders a DAG topologically and keeps fan-in parents', () => {
    const plan = parsePipeline(
      base(`  c:
    after: [a, b]
  b:
    after: a
  a: {}
`),
    );
    assert.deepEqual(
      plan.stages.map((s) => s.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(plan.stages[2]!.after, ['a', 'b']);
  });

  it('layers extends over defaults and deep-merges env and target settings', () => {
    const plan = parsePipeline(
      base(`  a:
    env: { X: "1", Y: "2" }
    local: { instances: 3 }
    approval: true
  b:
    extends: a
    env: { Y: "3" }
`),
    );
    const b = plan.stages.find((s) => s.name === 'b')!;
    assert.deepEqual(b.env, { X: '1', Y: '3' });
    assert.equal(b.local?.instances, 3);
    assert.equal(b.local?.start, 'node server.js');
    assert.equal(b.approval, true);
    assert.deepEqual(b.after, []);
  });

  it('reports an unknown key with its line, column and a suggestion', () => {
    const [i, ...rest] = issuesOf(base(`  a:\n    aftr: b\n`));
    assert.equal(rest.length, 0);
    assert.equal(i!.line, 9);
    assert.equal(i!.col, 5);
    assert.equal(i!.path, 'stages.a.aftr');
    assert.match(i!.message, /unknown key "aftr" \(did you mean "after"\?\)/);
  });

  it('reports an unknown parent stage with a suggestion', () => {
    const [i] = issuesOf(base(`  staging: {}\n  prod:\n    after: stagign\n`));
    assert.equal(i!.line, 10);
    assert.equal(i!.col, 12);
    assert.match(i!.message, /unknown stage "stagign" \(did you mean "staging"\?\)/);
  });

  it('keeps notify targets to the stages and kinds they list, and locates what is wrong in them', () => {
    const withNotify = (notify: string) => base(`  staging: {}\n  prod:\n    after: staging\n`).replace('stages:\n', `notify:\n${notify}stages:\n`);
    const plan = parsePipeline(withNotify('  - slack: https://hooks.example.com/T/B/x\n    stages: [prod, commit]\n    on: [rolled-back, needs-approval]\n  - webhook: https://ops.example.com/\n'));
    assert.deepEqual(plan.notify, [
      { kind: 'slack', url: 'https://hooks.example.com/T/B/x', stages: ['prod', 'commit'], on: ['rolled-back', 'needs-approval'] },
      { kind: 'webhook', url: 'https://ops.example.com/' },
    ]);
    const [stage] = issuesOf(withNotify('  - slack: https://hooks.example.com/x\n    stages: [prod, stagin]\n'));
    assert.deepEqual([stage!.line, stage!.col, stage!.path], [9, 20, 'notify.0.stages.1']);
    assert.match(stage!.message, /unknown stage "stagin" \(did you mean "staging"\?\); known: staging, prod, commit/);
    const [kind] = issuesOf(withNotify('  - webhook: https://ops.example.com/\n    on: [rolled-back, exploded]\n'));
    assert.deepEqual([kind!.line, kind!.col, kind!.path], [9, 23, 'notify.0.on.1']);
    assert.match(kind!.message, /unknown kind "exploded"; known: step-failed, /);
    const [both] = issuesOf(withNotify('  - webhook: https://ops.example.com/\n    slack: https://hooks.example.com/x\n'));
    assert.deepEqual([both!.line, both!.path, both!.message], [8, 'notify.0', 'give one address: webhook: or slack:']);
  });

  it('gives each stage the URL of the dependency\'s matching stage, which a stage\'s own env may replace', () => {
    const plan = parsePipeline(`app: shop
artifact: { output: dist }
defaults: { local: { start: node server.js } }
services:
  payments: { app: payments }
  fraud-check:
    app: fraud
    env: FRAUD_API
    url: https://{stage}-{app}.example.com/v2
    stages: { prod-eu: prod }
stages:
  staging: {}
  prod-eu: { after: staging }
  prod-us: { after: staging, env: { PAYMENTS_URL: http://payments.internal } }
`);
    const env = (s: string) => plan.stages.find((x) => x.name === s)!.env;
    assert.equal(env('staging').PAYMENTS_URL, 'http://staging.payments.localhost:7080');
    assert.equal(env('staging').FRAUD_API, 'https://staging-fraud.example.com/v2');
    assert.equal(env('prod-eu').FRAUD_API, 'https://prod-fraud.example.com/v2');
    assert.equal(env('prod-eu').PAYMENTS_URL, 'http://prod-eu.payments.localhost:7080');
    assert.equal(env('prod-us').PAYMENTS_URL, 'http://payments.internal');
    assert.deepEqual(plan.services?.map((s) => [s.name, s.env]), [['payments', 'PAYMENTS_URL'], ['fraud-check', 'FRAUD_API']]);
  });

  it('locates what is wrong in services: an unknown stage, a URL that is none, a shared variable, a secret of the same name', () => {
    const issues = issuesOf(`app: shop
artifact: { output: dist }
defaults: { local: { start: node server.js } }
services:
  payments:
    app: payments
    stages: { stagin: staging }
  ledger: { app: ledger, env: PAYMENTS_URL }
  fraud: { app: fraud, url: "ftp://{stage}.fraud" }
stages:
  staging: {}
`);
    const text = issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    assert.ok(text.some((t) => t.startsWith('7:') && t.includes('stagin') && t.includes('did you mean')), text.join('\n'));
    assert.ok(text.some((t) => t.startsWith('8:') && t.includes('both set PAYMENTS_URL')), text.join('\n'));
    assert.ok(text.some((t) => t.startsWith('9:') && t.includes('not an http(s) URL')), text.join('\n'));
    const secret = issuesOf(base('  staging: { secrets: [FRAUD_URL] }').replace('stages:', 'services: { fraud: { app: fraud } }\nstages:'));
    assert.match(`${secret[0]?.line}:${secret[0]?.col} ${secret[0]?.message}`, /^9:24 FRAUD_URL is the variable service fraud sets/);
    assert.ok(issuesOf(base('  staging: {}').replace('stages:', 'services: { payments: { app: Payments } }\nstages:')).length > 0);
  });

  it('reports cycles', () => {
    const [i] = issuesOf(base(`  a:\n    after: c\n  b:\n    after: a\n  c:\n    after: b\n`));
    assert.match(i!.message, /cycle: a → c → b → a/);
  });

  it('reports wrong types at the value', () => {
    const [i] = issuesOf(base(`  a:\n    local:\n      instances: many\n`));
    assert.equal(i!.path, 'stages.a.local.instances');
    assert.equal(i!.line, 10);
    assert.match(i!.message, /expected number, got string "many"/);
  });

  it('reports bad durations and names', () => {
    const issues = issuesOf(base(`  Bad_Name:\n    bake: soon\n`));
    assert.ok(
      issues.some((i) => /DNS-safe/.test(i.message) && i.line === 8),
      JSON.stringify(issues),
    );
    const [d] = issuesOf(base(`  a:\n    bake: soon\n`));
    assert.match(d!.message, /duration/);
    assert.equal(d!.line, 9);
  });

  it('reports YAML syntax errors with a position', () => {
    const [i] = issuesOf('app: shop\nstages:\n  a: [unclosed\n');
    assert.ok(i!.line >= 3, JSON.stringify(i));
  });

  it('reports duplicate keys', () => {
    const [i] = issuesOf('app: shop\napp: other\n');
    assert.equal(i!.line, 2);
    assert.match(i!.message, /[Uu]nique|duplicate/);
  });

  it('reports a missing required key at its parent', () => {
    const [i] = issuesOf('app: shop\nartifact: {}\nstages:\n  a:\n    local: { start: x }\n');
    assert.equal(i!.path, 'artifact.output');
    assert.equal(i!.line, 2);
    assert.match(i!.message, /required/);
  });

  it('needs target settings after layering', () => {
    const [i] = issuesOf('app: shop\nartifact: { output: d }\nstages:\n  a: {}\n  b:\n    target: command\n');
    assert.match(i!.message, /local\.start/);
    const issues = issuesOf('app: shop\nartifact: { output: d }\nstages:\n  b:\n    target: command\n');
    assert.match(issues[0]!.message, /command\.deploy/);
  });

  it('rejects the reserved stage name commit, an empty file and an empty stage map', () => {
    assert.match(issuesOf(base('  commit: {}\n'))[0]!.message, /reserved/);
    assert.match(issuesOf('')[0]!.message, /empty/);
    assert.match(issuesOf('app: a\nartifact: { output: d }\nstages: {}\n')[0]!.message, /at least one stage/);
  });

  it('checks durations with the parser\'s own grammar, at their place; a bare number is seconds', () => {
    const issues = issuesOf(base(`  web:\n    bake: 1m30\n`));
    assert.deepEqual(issues.map((i) => [i.line, i.col, i.path]), [[9, 11, 'stages.web.bake']]);
    assert.match(issues[0]!.message, /not a duration: use e\.g\. .*bare number of seconds/);
    assert.equal(parsePipeline(base(`  web:\n    bake: 90\n`)).stages[0]!.bakeMs, 90_000);
    assert.match(issuesOf(base(`  web:\n    bake: 40d\n`))[0]!.message, /longer than 30 days/);
  });

  describe('Prometheus windows and the scrape interval', () => {
    const RATE = (range: string) => `sum(rate(sluice_router_requests_total{stage="{{stage}}",version="{{version}}"}[${range}]))`;
    // Line 5 is metrics.prometheus; line 8 the analysis' interval; line 12 its metric.
    const withProm = (prom: string, opts: { interval?: string; range?: string; inline?: boolean } = {}) => `app: shop
artifact: { output: dist }
defaults: { local: { start: node server.js } }
metrics:
  prometheus: { url: http://127.0.0.1:9090${prom} }
analyses:
  rps:
    interval: ${opts.interval ?? '1s'}
    count: 5
    thresholds:
      - name: rps
        metric: { prometheus: '${RATE(opts.range ?? '{{window}}')}' }
        min: 1
stages:
  prod:
    strategy: { canary: { steps: [{ setWeight: 10 }, { analysis: rps }] } }
`;

    /** The 1-based column where `needle` starts on `line` of `text`. */
    const colOf = (text: string, line: number, needle: string) => text.split('\n')[line - 1]!.indexOf(needle) + 1;

    it('records the scrape interval in the plan, 15s unless the file says', () => {
      assert.equal(parsePipeline(withProm('')).prometheusScrapeIntervalMs, 15_000);
      const plan = parsePipeline(withProm(', scrapeInterval: 1s'));
      assert.equal(plan.prometheusUrl, 'http://127.0.0.1:9090');
      assert.equal(plan.prometheusScrapeIntervalMs, 1000);
      assert.equal(parsePipeline(base('  a: {}\n')).prometheusScrapeIntervalMs, undefined, 'no Prometheus, no scrape interval');
    });

    it('refuses a scrape interval that makes no sense, at its place', () => {
      for (const [value, message] of [
        ['0s', /at least 1s/],
        ['500ms', /at least 1s \(if Prometheus scrapes faster, say 1s/],
        ['10m', /at most 5m: a series scraped less often goes stale/],
        ['often', /not a duration/],
      ] as const) {
        const text = withProm(`, scrapeInterval: ${value}`);
        const issues = issuesOf(text);
        assert.deepEqual(issues.map((i) => [i.line, i.col, i.path]), [[5, colOf(text, 5, value), 'metrics.prometheus.scrapeInterval']], value);
        assert.match(issues[0]!.message, message);
      }
    });

    it('refuses an analysis interval under a second, at its place', () => {
      for (const value of ['0s', '0', '500ms']) {
        const text = withProm('', { interval: value });
        const issues = issuesOf(text);
        assert.deepEqual(issues.map((i) => [i.line, i.col, i.path]), [[8, colOf(text, 8, value), 'analyses.rps.interval']], value);
        assert.match(issues[0]!.message, /at least 1s: the router counts per second/);
      }
      assert.equal(parsePipeline(withProm('', { interval: '1s' })).stages[0]!.canary!.steps.length, 2);
    });

    it('refuses a literal rate() range shorter than four scrapes, and says what to write instead', () => {
      const text = withProm(', scrapeInterval: 1s', { range: '1s' });
      const [i, ...rest] = issuesOf(text);
      assert.deepEqual(rest, []);
      assert.deepEqual([i!.line, i!.col, i!.path], [12, colOf(text, 12, "'sum(rate("), 'analyses.rps.thresholds.0.metric.prometheus']);
      assert.equal(
        i!.message,
        'rate() over [1s] is shorter than 4 scrape intervals of 1s (metrics.prometheus.scrapeInterval), and has no value whenever it holds fewer than two samples: ' +
          'write [{{window}}], which Sluice widens to at least 4s, or a range of 4s or more',
      );
      const byDefault = issuesOf(withProm('', { range: '30s' }));
      assert.match(byDefault[0]!.message, /rate\(\) over \[30s\] is shorter than 4 scrape intervals of 15s \(Prometheus' default scrape interval; set metrics\.prometheus\.scrapeInterval/);
      assert.match(byDefault[0]!.message, /at least 1m/);
      // Four scrapes or more, and {{window}} (widened when the plan runs), are fine.
      parsePipeline(withProm(', scrapeInterval: 1s', { range: '4s' }));
      parsePipeline(withProm('', { range: '1m' }));
      parsePipeline(withProm(', scrapeInterval: 1s', { range: '{{window}}' }));
    });

    it('checks an analysis written in place at its own place', () => {
      const text = withProm(', scrapeInterval: 2s', { range: '{{window}}' }).replace(
        '{ analysis: rps }',
        `{ analysis: { thresholds: [{ name: r, metric: { prometheus: 'rate(x[5s])' }, min: 1 }] } }`,
      );
      const issues = issuesOf(text);
      assert.deepEqual(issues.map((i) => [i.line, i.path]), [[16, 'stages.prod.strategy.canary.steps.1.analysis.thresholds.0.metric.prometheus']]);
      assert.match(issues[0]!.message, /rate\(\) over \[5s\] is shorter than 4 scrape intervals of 2s/);
    });
  });

  it('names a misspelt strategy, step or option and suggests the right one, with no noise from the rules around it', () => {
    const strategy = (body: string) => base(`  web:\n    strategy:\n${body}`);
    const canari = issuesOf(strategy('      canari: { steps: [{ setWeight: 10 }] }\n'));
    assert.deepEqual(canari.map((i) => i.message), ['unknown key "canari" (did you mean "canary"?); allowed: allAtOnce, blueGreen, canary']);
    assert.equal(canari[0]!.line, 10);
    const weigth = issuesOf(strategy('      canary: { steps: [{ setWeigth: 10 }] }\n'));
    assert.deepEqual(weigth.map((i) => [i.path, i.message]), [['stages.web.strategy.canary.steps.0.setWeigth', 'unknown key "setWeigth" (did you mean "setWeight"?); allowed: setWeight, pause, analysis']]);
    const swich = issuesOf(strategy('      blueGreen: { autoSwich: false }\n'));
    assert.deepEqual(swich.map((i) => i.message), ['unknown key "autoSwich" (did you mean "autoSwitch"?); allowed: autoSwitch']);
    const guard = issuesOf(strategy('      canary: { steps: [{ setWeight: 10 }], guard: { errorRatio: 0.2 } }\n'));
    assert.match(guard[0]!.message, /unknown key "errorRatio" \(did you mean "errorRate"\?\)/);
    assert.match(issuesOf(strategy('      canary: { steps: [{ setWeight: 10, pause: {} }] }\n'))[0]!.message, /a step is one of setWeight/);
  });

  it('an unknown analysis lists the analyses that exist, or says none is declared', () => {
    const withAnalyses = `analyses:\n  errors: { thresholds: [] }\n  latency: { thresholds: [] }\n${base('  web:\n    strategy: { canary: { steps: [{ analysis: erors }] } }\n')}`;
    assert.equal(issuesOf(withAnalyses)[0]!.message, 'unknown analysis "erors" (did you mean "errors"?); known: errors, latency');
    assert.match(issuesOf(base('  web:\n    strategy: { canary: { steps: [{ analysis: errors }] } }\n'))[0]!.message, /unknown analysis "errors"; none is declared \(name them under analyses:/);
  });

  it('gives every canary the data plane\'s guard unless it says otherwise', () => {
    const plan = (guard: string) => parsePipeline(base(`  web:\n    strategy: { canary: { steps: [{ setWeight: 10 }]${guard} } }\n`)).stages[0]!.canary!.guard;
    assert.deepEqual(plan(''), { errorRate: 0.5, requests: 20, minRequests: 5 });
    assert.deepEqual(plan(', guard: { errorRate: 0.2 }'), { errorRate: 0.2, requests: 20, minRequests: 5 });
    assert.equal(plan(', guard: false'), undefined);
  });

  it('fuzz: any mutation of the example is accepted or rejected with located issues, never a crash', () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pieces = [
      ':',
      '-',
      ' ',
      '\n',
      '[',
      ']',
      '{',
      '}',
      '"',
      "'",
      '#',
      '&a',
      '*a',
      '!!int',
      '\t',
      'x',
      '0',
      'after',
      'stages',
    ];
    const lines = EXAMPLE.split('\n');
    let rejected = 0;
    for (let n = 0; n < 1500; n++) {
      const text = [...EXAMPLE];
      const edits = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < edits; k++) {
        const pos = Math.floor(rand() * text.length);
        const op = rand();
        if (op < 0.4) text.splice(pos, 1);
        else if (op < 0.8) text.splice(pos, 0, pieces[Math.floor(rand() * pieces.length)]!);
        else text.splice(pos, 1, pieces[Math.floor(rand() * pieces.length)]!);
      }
      const mutated = text.join('');
      try {
        parsePipeline(mutated, 'f.yaml');
      } catch (e) {
        assert.ok(isSluiceError(e) && e.code === 'PIPELINE_INVALID', `mutation ${n} threw ${e}\n${mutated}`);
        const issues = (e.details as { issues: PipelineIssue[] }).issues;
        assert.ok(issues.length > 0);
        for (const i of issues) {
          assert.ok(i.line >= 1 && i.line <= lines.length + 8, `line ${i.line} out of range`);
          assert.ok(i.col >= 1);
          assert.ok(i.message.length > 0);
        }
        rejected++;
      }
    }
    assert.ok(rejected > 300, `only ${rejected} mutations were rejected; the fuzzer is not reaching the validator`);
  });

  it('reads a stage\'s protection and approval before deploy, with defaults', () => {
    const plan = parsePipeline(base(`  prod:
    approval: { before: deploy, after: verify }
    protection:
      promote: [deployer]
      approve: [approver, approver]
      approvals: 2
      separateApprover: true
      windows:
        - { days: [mon, fri], from: "09:00", to: "17:00", timeZone: Europe/Berlin }
        - { days: [sat], from: "22:00", to: "06:00" }
      freezes:
        - { from: 2026-12-20T00:00:00+01:00, to: 2027-01-04T00:00:00Z, reason: year-end }
  dev: {}
`));
    const prod = plan.stages.find((s) => s.name === 'prod')!;
    assert.equal(prod.approval, true);
    assert.equal(prod.approvalBeforeDeploy, true);
    assert.deepEqual(prod.protection, {
      promote: ['deployer'],
      approve: ['approver'],
      approvals: 2,
      separateApprover: true,
      windows: [
        { days: ['mon', 'fri'], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' },
        { days: ['sat'], from: '22:00', to: '06:00', timeZone: 'UTC' },
      ],
      freezes: [{ from: Date.parse('2026-12-19T23:00:00Z'), to: Date.parse('2027-01-04T00:00:00Z'), reason: 'year-end' }],
    });
    const dev = plan.stages.find((s) => s.name === 'dev')!;
    assert.equal(dev.protection, undefined);
    assert.equal(dev.approvalBeforeDeploy, undefined);
    const only = parsePipeline(base('  prod:\n    protection: { approvals: 3 }\n')).stages[0]!;
    assert.deepEqual(only.protection, { approvals: 3, separateApprover: false, windows: [], freezes: [] });
  });

  it('refuses bad protection rules at their line, with a "did you mean"', () => {
    const at = (stages: string) => issuesOf(base(stages)).map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    assert.deepEqual(at('  prod:\n    protection:\n      aprovals: 2\n'), [
      '10:7 stages.prod.protection.aprovals: unknown key "aprovals" (did you mean "approvals"?); allowed: promote, approve, approvals, separateApprover, windows, freezes',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      approve: [aprover]\n'), [
      '10:17 stages.prod.protection.approve.0: unknown role "aprover" (did you mean "approver"?); known: deployer, approver, admin',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      promote: [viewer]\n'), [
      '10:17 stages.prod.protection.promote.0: unknown role "viewer"; known: deployer, approver, admin',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      windows:\n        - { days: [mon, thur], from: "9:00", to: "17:00", timeZone: Europe/Berln }\n'), [
      '11:25 stages.prod.protection.windows.0.days.1: unknown day "thur" (did you mean "thu"?); known: mon, tue, wed, thu, fri, sat, sun',
      '11:38 stages.prod.protection.windows.0.from: a time of day as HH:MM, from 00:00 to 24:00',
      '11:69 stages.prod.protection.windows.0.timeZone: an IANA time zone such as Europe/Berlin or UTC',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      windows:\n        - { days: [mon], from: "09:00", to: "09:00" }\n'), [
      '11:11 stages.prod.protection.windows.0: from and to are the same time; for a whole day write from: "00:00", to: "24:00"',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      freezes:\n        - { from: 2027-01-04T00:00:00Z, to: 2026-12-20, reason: x }\n'), [
      '11:45 stages.prod.protection.freezes.0.to: an instant with its offset, e.g. 2026-12-24T00:00:00Z or 2026-12-24T00:00:00+01:00',
    ]);
    assert.deepEqual(at('  prod:\n    protection:\n      freezes:\n        - { from: 2027-01-04T00:00:00Z, to: 2026-12-20T00:00:00Z, reason: x }\n'), [
      '11:11 stages.prod.protection.freezes.0: from must come before to',
    ]);
    assert.deepEqual(at('  prod:\n    approval: { before: verify }\n'), ['9:25 stages.prod.approval.before: the approval before is before: deploy']);
    assert.deepEqual(at('  prod:\n    approval: {}\n'), ['9:15 stages.prod.approval: say when: before: deploy, after: verify, or both']);
    assert.deepEqual(at('  prod:\n    protection: { approvals: 0 }\n'), ['9:30 stages.prod.protection.approvals: Too small: expected number to be >=1']);
  });
});
