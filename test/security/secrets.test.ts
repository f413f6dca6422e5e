import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { api, BIN, journeyEnd, startUp, type UpProcess } from '../helpers/sluice-process.js';

// Two stages with secrets of their own, an operator variable on `sluice up`, and workloads that write out their whole
// environment and print their secrets (in two writes, so a value is cut across chunks). Then every place Sluice writes
// or shows something is searched for the values.
const BETA_PASSWORD = 'beta-pw-7Jq2xRmZ';
const PROD_PASSWORD = 'prod-pw-Vb91LkTe';
const PROD_API_KEY = 'prod-api-Q8sN3wYd';
const OPERATOR_VALUE = 'operator-cloud-key-H5tP0cXa';
const SECRET_VALUES = [BETA_PASSWORD, PROD_PASSWORD, PROD_API_KEY];

const root = mkdtempSync(join(tmpdir(), 'sluice-secrets-'));
const app = join(root, 'app');
const data = join(app, '.sluice');
const envs = join(root, 'envs');
let up: UpProcess;
let token: string;
let hooks: Server;
const received: string[] = [];

const SERVER = `import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
const name = \`instance-\${process.env.SLUICE_STAGE}-\${process.env.SLUICE_INSTANCE}.env\`;
writeFileSync(process.env.ENV_DIR + '/' + name, JSON.stringify(process.env));
const pw = process.env.DB_PASSWORD ?? '';
process.stdout.write('starting with ' + pw.slice(0, 4));
setTimeout(() => process.stdout.write(pw.slice(4) + ' as the password\\n'), 100);
createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;
// Prints each secret in two writes 150 ms apart: the redacting filter sees the value cut in two.
const DUMP = (file: string) =>
  `node -e "require('fs').writeFileSync(process.env.ENV_DIR + '/${file}', JSON.stringify(process.env)); const v = process.env.DB_PASSWORD; process.stdout.write('pw ' + v.slice(0, 5)); setTimeout(() => console.log(v.slice(5) + ' key ' + (process.env.API_KEY ?? '-')), 150)"`;

function pipeline(hookPort: number): string {
  return `app: vault
artifact:
  output: src
commit:
  steps:
    unit: node -e "require('fs').writeFileSync('${envs}/commit.env', JSON.stringify(process.env))"
defaults:
  env:
    ENV_DIR: ${envs}
  local:
    start: node server.js
    instances: 1
stages:
  beta:
    secrets: [DB_PASSWORD]
    verify:
      dump: ${DUMP('verify-beta.env')}
  prod:
    after: beta
    secrets: [DB_PASSWORD, API_KEY]
    verify:
      dump: ${DUMP('verify-prod.env')}; exit 1
notify:
  - webhook: http://127.0.0.1:${hookPort}/hook
`;
}

/** `sluice secret set`, the value on stdin as a user pipes it in. */
function setSecret(stage: string, name: string, value: string) {
  const r = spawnSync(process.execPath, [BIN, 'secret', 'set', stage, name, '--dir', app, '--data-dir', data, '--url', up.apiUrl], {
    input: `${value}\n`,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    const st = lstatSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

const envOf = (file: string) => JSON.parse(readFileSync(join(envs, file), 'utf8')) as Record<string, string>;

describe('secrets and workload isolation', { timeout: 240_000 }, () => {
  before(async () => {
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', () => r()));
    mkdirSync(join(app, 'src'), { recursive: true });
    mkdirSync(envs);
    writeFileSync(join(app, 'src', 'server.js'), SERVER);
    writeFileSync(join(app, 'src', 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(app, 'sluice.yaml'), pipeline((hooks.address() as AddressInfo).port));
    up = await startUp(app, data, { OPERATOR_CLOUD_KEY: OPERATOR_VALUE, SLUICE_SECRETS_KEY_FILE: '' });
    token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await up?.down();
    hooks?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a declared secret that is not set fails the step, naming the command that sets it', async () => {
    setSecret('beta', 'DB_PASSWORD', 'not-yet-the-real-one');
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '0.9.0' }, token)).status, 201);
    assert.equal(await journeyEnd(up.apiUrl, '0.9.0', 90_000), 'failed');
    const j = await api<{ journey: { failure?: { stage: string; reason: string } } }>(up.apiUrl, 'GET', '/api/v1/releases/0.9.0');
    assert.equal(j.json.journey.failure?.stage, 'prod');
    assert.match(j.json.journey.failure?.reason ?? '', /stage prod needs secrets DB_PASSWORD, API_KEY, not set: run `sluice secret set prod DB_PASSWORD`/);
  });

  it('refuses a secret the stage does not declare, and shows names and times, never values', async () => {
    const r = await api<{ message: string }>(up.apiUrl, 'POST', '/api/v1/stages/beta/secrets/API_KEY', { value: 'x' }, token);
    assert.equal(r.status, 400);
    assert.match(r.json.message, /stage beta declares no secret API_KEY \(it declares DB_PASSWORD\)/);
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/stages/beta/secrets/DB_PASSWORD', { value: 'x' })).status, 401);
  });

  it('each stage gets its own secrets, nothing of Sluice\'s environment, and no value is found anywhere Sluice writes or shows', async () => {
    setSecret('beta', 'DB_PASSWORD', BETA_PASSWORD);
    setSecret('prod', 'DB_PASSWORD', PROD_PASSWORD);
    setSecret('prod', 'API_KEY', PROD_API_KEY);
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.0' }, token)).status, 201);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.0', 90_000), 'failed');
    for (let i = 0; i < 200 && received.length < 2; i++) await sleep(100);
    assert.ok(received.length >= 2, `notifications received: ${received.length}`);

    // The workloads' environments: their own stage's secrets only; nothing of the operator's.
    const beta = [envOf('instance-beta-0.env'), envOf('verify-beta.env')];
    const prod = [envOf('instance-prod-0.env'), envOf('verify-prod.env')];
    for (const e of beta) assert.deepEqual([e.DB_PASSWORD, e.API_KEY], [BETA_PASSWORD, undefined]);
    for (const e of prod) assert.deepEqual([e.DB_PASSWORD, e.API_KEY], [PROD_PASSWORD, PROD_API_KEY]);
    const commit = envOf('commit.env');
    for (const e of [...beta, ...prod, commit]) {
      assert.equal(e.OPERATOR_CLOUD_KEY, undefined);
      assert.ok(!Object.keys(e).some((k) => ['SLUICE_SECRETS_KEY_FILE', 'SLUICE_TOKEN', 'SLUICE_URL'].includes(k)), Object.keys(e).join(' '));
      assert.equal(e.PATH, process.env.PATH);
    }
    assert.deepEqual([commit.DB_PASSWORD, commit.API_KEY, commit.SLUICE_RELEASE_VERSION], [undefined, undefined, '1.0.0']);
    // Each stage's workloads read its flags with a key of their stage's own: the same in its instances and commands,
    // another in the other stage, none in commit steps; and, like the secrets, it is found nowhere below.
    const flagKeys = [beta[0]!, prod[0]!].map((e) => e.SLUICE_FLAGS_KEY!);
    assert.deepEqual([beta[1]!.SLUICE_FLAGS_KEY, prod[1]!.SLUICE_FLAGS_KEY], flagKeys);
    assert.ok(flagKeys.every((k) => /^sfk_[A-Za-z0-9_-]{32}$/.test(k)) && flagKeys[0] !== flagKeys[1], flagKeys.join(' '));
    assert.ok(beta[0]!.SLUICE_FLAGS_URL?.startsWith('http://127.0.0.1:'));
    assert.equal(commit.SLUICE_FLAGS_KEY, undefined);

    // Every API answer: the GET routes, the secrets' own list, the step logs of every stage.
    const answers: [string, string][] = [];
    const get = async (path: string, auth = false) => {
      const res = await fetch(up.apiUrl + path, auth ? { headers: { authorization: `Bearer ${token}` } } : {});
      answers.push([path, await res.text()]);
      return res.status;
    };
    for (const p of ['/api/v1/status', '/api/v1/stages', '/api/v1/releases', '/api/v1/releases/1.0.0', '/api/v1/releases/1.0.0/events', '/api/v1/notifications', '/api/v1/pipeline', '/api/v1/health', '/metrics'])
      assert.equal(await get(p), 200, p);
    for (const stage of ['beta', 'prod']) {
      assert.equal(await get(`/api/v1/releases/1.0.0/stages/${stage}/logs`), 200);
      assert.equal(await get(`/api/v1/stages/${stage}/secrets`, true), 200);
    }
    assert.equal(await get('/api/v1/releases/0.9.0/events'), 200);
    // The event stream from its start, for a moment.
    const ac = new AbortController();
    const sse = await fetch(`${up.apiUrl}/api/v1/events?after=0`, { signal: ac.signal });
    let streamed = '';
    const reader = sse.body!.getReader();
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      const r = await Promise.race([reader.read(), sleep(until - Date.now()).then(() => undefined)]);
      if (!r || r.done) break;
      streamed += Buffer.from(r.value).toString('utf8');
    }
    ac.abort();
    answers.push(['/api/v1/events', streamed]);
    assert.match(streamed, /journey\.created/);

    // The logs were redacted, not empty: the secrets' marks are where their values were.
    const logs = answers.filter(([p]) => p.endsWith('/logs')).map(([, t]) => t).join('\n');
    assert.match(logs, /pw \[secret DB_PASSWORD\] key -/);
    assert.match(logs, /pw \[secret DB_PASSWORD\] key \[secret API_KEY\]/);

    // Every file of the data directory: logs, state files, run files, tokens. The database's own pages (pg/) are
    // left out: they hold the values encrypted, and PGlite's files are not text.
    const files = filesUnder(data).filter((f) => !relative(data, f).startsWith('pg'));
    assert.ok(files.some((f) => f.endsWith('state.json')));
    const instanceLogs = files.filter((f) => /local\/[a-z]+\/logs\//.test(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
    assert.match(instanceLogs, /starting with \[secret DB_PASSWORD\] as the password/);

    const places: [string, string][] = [
      ...answers.map(([p, t]): [string, string] => [`API ${p}`, t]),
      ...received.map((b, i): [string, string] => [`notification ${i}`, b]),
      ...files.map((f): [string, string] => [relative(root, f), readFileSync(f, 'latin1')]),
      ['sluice up output', up.output()],
    ];
    for (const [where, text] of places)
      for (const v of [...SECRET_VALUES, OPERATOR_VALUE, ...flagKeys]) assert.ok(!text.includes(v), `${v} found in ${where}`);
  });

  it('the data directory and its files are for this user only, the secrets key file included', () => {
    assert.equal(statSync(data).mode & 0o777, 0o700);
    assert.equal(statSync(join(data, 'secrets.key')).mode & 0o777, 0o600);
    const loose = filesUnder(data).filter((f) => (statSync(f).mode & 0o077) !== 0);
    assert.deepEqual(loose.map((f) => relative(data, f)), []);
  });

  it('rotation re-encrypts every secret under a new key, and workloads still get the values', async () => {
    const before = readFileSync(join(data, 'secrets.key'), 'utf8');
    const r = spawnSync(process.execPath, [BIN, 'secret', 'rotate-key', '--dir', app, '--data-dir', data, '--url', up.apiUrl, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { keyId: string; reencrypted: number };
    // The three secrets set, and each stage's flag key.
    assert.equal(out.reencrypted, 5);
    const after = readFileSync(join(data, 'secrets.key'), 'utf8');
    assert.notEqual(after, before);
    assert.ok(after.includes(out.keyId));
    const list = spawnSync(process.execPath, [BIN, 'secret', 'list', 'prod', '--dir', app, '--data-dir', data, '--url', up.apiUrl], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /API_KEY\s+set 20/);
    assert.match(list.stdout, /DB_PASSWORD\s+set 20/);
    assert.match(list.stdout, /SLUICE_FLAGS_KEY\s+set 20.*kept by Sluice: the stage's flag key/);
    rmSync(join(envs, 'verify-beta.env'));
    assert.equal((await api(up.apiUrl, 'POST', '/api/v1/releases', { version: '1.0.1' }, token)).status, 201);
    assert.equal(await journeyEnd(up.apiUrl, '1.0.1', 90_000), 'failed');
    assert.equal(envOf('verify-beta.env').DB_PASSWORD, BETA_PASSWORD);
  });
});
