import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { FakeGithub } from './helpers/fake-github.js';
import { api, copyExample, journeyEnd, startUp, type UpProcess } from './helpers/sluice-process.js';

// GitHub on a real `sluice up`: signed webhooks from a test acting as GitHub, a real git repository (its pull
// request's head a real commit), and a local server that checks each call Sluice makes against GitHub's documented
// shapes. A pull request opened gets an environment serving its head, closed takes it away; a push to main starts a
// journey; a delivery that is unsigned, wrongly signed or malformed changes nothing.
const PIPELINE = `app: shop
artifact: { build: node build.js, output: dist }
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
stages:
  staging: {}
  prod:
    after: staging
`;
const SECRET = 'webhook-secret-5b0e7c1d9a';
const TOKEN = 'ghs_test_token_for_the_fake';
const REPOSITORY = 'acme/shop';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

describe('GitHub webhooks on sluice up', { timeout: 300_000 }, () => {
  let app: string;
  let repo: string;
  let up: UpProcess;
  let token: string;
  let fake: FakeGithub;
  let mainSha: string;
  let prSha: string;
  const data = () => join(app, '.sluice');

  /** Posts a delivery as GitHub does: signed with `secret` unless told otherwise. */
  type DeliverOptions = { secret?: string | null; delivery?: string; signature?: string; raw?: string };
  const deliver = async (event: string, payload: unknown, o: DeliverOptions = {}) => {
    const body = o.raw ?? JSON.stringify(payload);
    const sig = o.signature ?? (o.secret === null ? undefined : `sha256=${createHmac('sha256', o.secret ?? SECRET).update(body).digest('hex')}`);
    const res = await fetch(`${up.apiUrl}/api/v1/github/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/test',
        'x-github-event': event,
        'x-github-delivery': o.delivery ?? randomUUID(),
        ...(sig !== undefined ? { 'x-hub-signature-256': sig } : {}),
      },
      body,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as { status?: string; code?: string; message?: string } };
  };
  const prPayload = (action: string, sha: string, merged = false) => ({
    action,
    number: 12,
    pull_request: { number: 12, state: action === 'closed' ? 'closed' : 'open', merged, head: { sha, ref: 'feature/pr-shop', repo: { full_name: REPOSITORY } }, base: { ref: 'main' } },
    repository: { full_name: REPOSITORY, name: 'shop', owner: { login: 'acme' } },
    sender: { login: 'octocat' },
  });
  const pushPayload = (ref: string, sha: string) => ({
    ref,
    before: '0'.repeat(40),
    after: sha,
    created: false,
    deleted: false,
    repository: { full_name: REPOSITORY, name: 'shop', owner: { name: 'acme' } },
    head_commit: { id: sha },
  });
  const page = (host: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: up.routerPort, path: '/', headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
  const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 60_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (await check()) return;
    assert.fail(`timed out waiting for ${what}; sluice up said:\n${up.output().slice(-3000)}`);
  };
  const envNames = async () => (await api<{ name: string }[]>(up.apiUrl, 'GET', '/api/v1/environments', undefined, token)).json.map((e) => e.name);
  const releases = async () => (await api<{ version: string }[] | { releases: { version: string }[] }>(up.apiUrl, 'GET', '/api/v1/releases', undefined, token)).json;
  const audit = async () => (await api<{ action: string; actor: { kind: string; reason?: string }; links: Record<string, string> }[]>(up.apiUrl, 'GET', '/api/v1/audit?limit=1000', undefined, token)).json;
  /** What nothing may change: environments, releases, audit records, calls to GitHub. */
  const snapshot = async () => JSON.stringify([await envNames(), await releases(), (await audit()).length, fake.taken.length]);

  before(async () => {
    // The repository: the shop on main, and a pull request's branch that changes what its page says.
    repo = copyExample('repo');
    git(repo, 'init', '--quiet', '-b', 'main');
    git(repo, 'add', '-A');
    git(repo, 'commit', '--quiet', '-m', 'the shop');
    mainSha = git(repo, 'rev-parse', 'HEAD');
    git(repo, 'checkout', '--quiet', '-b', 'feature/pr-shop');
    const server = join(repo, 'src', 'server.js');
    writeFileSync(server, readFileSync(server, 'utf8').replace('to the shop</h1>', 'to the pr-shop</h1>'));
    git(repo, 'commit', '--quiet', '-am', 'a change under review');
    prSha = git(repo, 'rev-parse', 'HEAD');
    // As GitHub keeps a pull request's head.
    git(repo, 'update-ref', 'refs/pull/12/head', prSha);
    git(repo, 'checkout', '--quiet', 'main');

    fake = new FakeGithub(TOKEN);
    const apiUrl = await fake.start();
    app = copyExample('hooked');
    writeFileSync(join(app, 'sluice.yaml'), PIPELINE);
    up = await startUp(app, data(), {
      SLUICE_GITHUB_WEBHOOK_SECRET: SECRET,
      SLUICE_GITHUB_REPOSITORY: REPOSITORY,
      SLUICE_GITHUB_CLONE_URL: repo,
      SLUICE_GITHUB_API_URL: apiUrl,
      SLUICE_GITHUB_TOKEN: TOKEN,
    });
    token = readFileSync(join(data(), 'admin-token'), 'utf8').trim();
  });
  after(async () => {
    await up?.down();
    await fake?.close();
    rmSync(join(app, '..'), { recursive: true, force: true });
    rmSync(join(repo, '..'), { recursive: true, force: true });
  });

  it('answers 401 to an unsigned or wrongly signed delivery, and changes nothing', async () => {
    const before = await snapshot();
    const cases = [
      await deliver('pull_request', prPayload('opened', prSha), { secret: null }),
      await deliver('pull_request', prPayload('opened', prSha), { secret: 'another-secret-entirely' }),
      await deliver('pull_request', prPayload('opened', prSha), { signature: `sha256=${'0'.repeat(64)}` }),
      await deliver('pull_request', prPayload('opened', prSha), { signature: 'sha1=abc' }),
      // Signed, then changed on the way.
      await deliver('pull_request', prPayload('opened', prSha), { signature: `sha256=${createHmac('sha256', SECRET).update(JSON.stringify(prPayload('closed', prSha))).digest('hex')}` }),
    ];
    for (const c of cases) {
      assert.equal(c.status, 401, JSON.stringify(c.json));
      assert.equal(c.json.code, 'UNAUTHORIZED');
      assert.match(c.json.message!, /X-Hub-Signature-256/);
      assert.ok(!c.json.message!.includes(SECRET));
    }
    await sleep(500);
    assert.equal(await snapshot(), before);
    assert.ok(!existsSync(join(data(), 'local', 'pr-12')));
  });

  it('answers a clear 4xx to malformed deliveries (garbage, wrong types, huge bodies, missing headers), and changes nothing', async () => {
    const before = await snapshot();
    const bad: [string, Awaited<ReturnType<typeof deliver>>, number, RegExp][] = [
      ['not JSON', await deliver('pull_request', null, { raw: '{"action": "opened", ' }), 400, /not JSON/],
      ['an array', await deliver('push', null, { raw: '[1,2,3]' }), 400, /must be an object, not an array/],
      ['no repository', await deliver('push', { ref: 'refs/heads/main', after: mainSha }), 400, /repository is missing/],
      ['number a string', await deliver('pull_request', { ...prPayload('opened', prSha), number: '12' }), 400, /number must be a pull request number, not "12"/],
      ['head.sha a number', await deliver('pull_request', { ...prPayload('opened', prSha), pull_request: { head: { sha: 12, ref: 'x' } } }), 400, /pull_request\.head\.sha must be a string, not number/],
      ['a short sha', await deliver('push', pushPayload('refs/heads/main', 'abc123')), 400, /after must be a commit id/],
      ['a ref with ..', await deliver('push', pushPayload('refs/heads/../../etc', mainSha)), 400, /ref must be a git ref/],
      ['another repository', await deliver('push', { ...pushPayload('refs/heads/main', mainSha), repository: { full_name: 'evil/shop' } }), 400, /this server takes events of acme\/shop/],
      ['no event header', await deliver('', prPayload('opened', prSha)), 400, /X-GitHub-Event/],
      ['a bad delivery id', await deliver('push', pushPayload('refs/heads/main', mainSha), { delivery: 'a b' }), 400, /X-GitHub-Delivery/],
      ['a body past 1 MiB', await deliver('push', { ...pushPayload('refs/heads/main', mainSha), pad: 'x'.repeat(1024 * 1024) }), 413, /./],
    ];
    for (const [what, r, status, message] of bad) {
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
      assert.match(r.json.message ?? '', message, what);
    }
    // A little fuzz: random bytes and random JSON values, each signed, each answered with a 4xx or ignored.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = [null, 1, -1, 1e308, 'x', '', true, [], {}, { full_name: 1 }, 'refs/heads/main', mainSha];
    for (let i = 0; i < 40; i++) {
      const raw =
        i % 2 === 0
          ? Array.from({ length: 1 + Math.floor(rand() * 200) }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join('')
          : JSON.stringify(Object.fromEntries(['action', 'number', 'ref', 'after', 'pull_request', 'repository'].map((k) => [k, values[Math.floor(rand() * values.length)]])));
      const r = await deliver(i % 4 < 2 ? 'push' : 'pull_request', null, { raw });
      assert.ok(r.status === 400 || r.status === 202, `fuzz ${i}: ${r.status} ${JSON.stringify(r.json)} for ${raw}`);
      if (r.status === 400) assert.match(r.json.message ?? '', /webhook payload/);
      else assert.equal(r.json.status, 'ignored', `fuzz ${i} acted: ${raw}`);
    }
    // Events Sluice does not act on are answered and ignored.
    const ping = await deliver('ping', { zen: 'Keep it logically awesome.', hook_id: 1 });
    assert.equal(ping.status, 202);
    assert.equal(ping.json.status, 'ignored');
    const labeled = await deliver('pull_request', prPayload('labeled', prSha));
    assert.equal(labeled.json.status, 'ignored');
    const otherBranch = await deliver('push', pushPayload('refs/heads/feature/pr-shop', prSha));
    assert.equal(otherBranch.json.status, 'ignored');
    await sleep(500);
    assert.equal(await snapshot(), before);
  });

  it('a push to main builds a release from the repository and starts its journey; its commit gets statuses', async () => {
    const r = await deliver('push', pushPayload('refs/heads/main', mainSha));
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.status, 'accepted');
    const version = `main-${mainSha.slice(0, 12)}`;
    await until(`release ${version}`, async () => (await api(up.apiUrl, 'GET', `/api/v1/releases/${version}`)).status === 200);
    assert.equal(await journeyEnd(up.apiUrl, version, 120_000), 'succeeded');
    assert.match((await page('prod.shop.localhost')).text, new RegExp(`<h1>Welcome to the shop</h1>.*id="version">${version}<`));
    const statuses = () => fake.on(new RegExp(`/repos/acme/shop/statuses/${mainSha}$`)).map((t) => t.body);
    await until('the journey\'s success on the commit', () => statuses().some((s) => s.state === 'success'));
    assert.deepEqual(statuses().map((s) => s.state), ['pending', 'pending', 'success']);
    for (const s of statuses()) {
      assert.equal(s.context, 'sluice/journey');
      assert.match(String(s.target_url), new RegExp(`/api/v1/releases/${version}$`));
    }
    assert.deepEqual(fake.refused, []);
  });

  it('a signed pull_request opened makes its environment serve the PR head; statuses and a deployment reach GitHub', async () => {
    const delivery = randomUUID();
    const r = await deliver('pull_request', prPayload('opened', prSha), { delivery });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.match(r.json.message!, /pull request #12 opened: environment pr-12 runs pr-12-/);
    const version = `pr-12-${prSha.slice(0, 12)}`;
    await until('pr-12 to serve the PR head', async () => /to the pr-shop<\/h1>/.test((await page('pr-12.shop.localhost')).text));
    const home = await page('pr-12.shop.localhost');
    assert.match(home.text, new RegExp(`id="version">${version}<`));
    assert.match((await page('staging.shop.localhost')).text, /<h1>Welcome to the shop<\/h1>/, 'staging still runs main');
    const env = (await api<{ name: string; pr: number; branch: string; source: string; release: { version: string } }>(up.apiUrl, 'GET', '/api/v1/environments/pr-12', undefined, token)).json;
    assert.deepEqual([env.pr, env.branch, env.source, env.release.version], [12, 'feature/pr-shop', 'staging', version]);
    // The PR's release waits at the pipeline's door: nothing of it reaches staging by itself.
    const journey = (await api<{ journey: { stages: Record<string, string> } }>(up.apiUrl, 'GET', `/api/v1/releases/${version}`)).json.journey;
    assert.deepEqual(journey.stages, { staging: 'awaiting-promotion', prod: 'waiting' });

    const statuses = () => fake.on(new RegExp(`/statuses/${prSha}$`)).map((t) => t.body);
    await until('the environment\'s success on the PR head', () => statuses().some((s) => s.state === 'success'));
    assert.deepEqual(statuses().map((s) => [s.state, s.context]), [['pending', 'sluice/pr-12'], ['success', 'sluice/pr-12']]);
    await until('the deployment\'s status', () => fake.on(/\/deployments\/\d+\/statuses$/).length === 1);
    const [deployment] = fake.on(/\/deployments$/).map((t) => t.body);
    assert.equal(deployment?.ref, prSha);
    assert.equal(deployment?.environment, 'pr-12');
    assert.equal(deployment?.auto_merge, false);
    assert.deepEqual(deployment?.required_contexts, []);
    const [depStatus] = fake.on(/\/deployments\/\d+\/statuses$/).map((t) => t.body);
    assert.equal(depStatus?.state, 'success');
    assert.match(String(depStatus?.environment_url), /^http:\/\/pr-12\.shop\.localhost:\d+/);
    assert.deepEqual(fake.refused, []);

    // The same delivery again is not acted on again.
    const calls = fake.taken.length;
    const again = await deliver('pull_request', prPayload('opened', prSha), { delivery });
    assert.equal(again.status, 202);
    assert.equal(again.json.status, 'duplicate');
    await sleep(1000);
    assert.equal(fake.taken.length, calls);

    const records = await audit();
    const mine = records.filter((x) => x.links.environment === 'pr-12');
    assert.ok(mine.some((x) => x.action === 'github.webhook' && x.actor.kind === 'system' && x.actor.reason === 'github'));
    assert.ok(mine.some((x) => x.action === 'environment.create' && x.actor.kind === 'system' && x.actor.reason === 'github'));
    const out = JSON.stringify(records) + JSON.stringify((await api(up.apiUrl, 'GET', '/api/v1/notifications', undefined, token)).json) + up.output();
    assert.ok(!out.includes(SECRET) && !out.includes(TOKEN), 'neither the webhook secret nor the token shows');
  });

  it('a pull_request synchronize redeploys the environment with the new head', async () => {
    git(repo, 'checkout', '--quiet', 'feature/pr-shop');
    const server = join(repo, 'src', 'server.js');
    writeFileSync(server, readFileSync(server, 'utf8').replace('to the pr-shop</h1>', 'to the pr-shop, take two</h1>'));
    git(repo, 'commit', '--quiet', '-am', 'review feedback');
    prSha = git(repo, 'rev-parse', 'HEAD');
    git(repo, 'update-ref', 'refs/pull/12/head', prSha);
    git(repo, 'checkout', '--quiet', 'main');
    const r = await deliver('pull_request', prPayload('synchronize', prSha));
    assert.equal(r.json.status, 'accepted', JSON.stringify(r.json));
    await until('pr-12 to serve the new head', async () => /take two<\/h1>/.test((await page('pr-12.shop.localhost')).text));
    const env = (await api<{ deploys: number; release: { version: string } }>(up.apiUrl, 'GET', '/api/v1/environments/pr-12', undefined, token)).json;
    assert.deepEqual([env.deploys, env.release.version], [2, `pr-12-${prSha.slice(0, 12)}`]);
    await until('the new head\'s success', () => fake.on(new RegExp(`/statuses/${prSha}$`)).some((t) => t.body.state === 'success'));
    assert.deepEqual(fake.refused, []);
  });

  it('a signed pull_request closed destroys its environment and leaves nothing behind', async () => {
    const pids = existsSync(join(data(), 'local', 'pr-12')) ? execFileSync('sh', ['-c', `cat ${join(data(), 'local', 'pr-12')}/instances/*/pid 2>/dev/null || true`], { encoding: 'utf8' }).split(/\s+/).filter(Boolean) : [];
    assert.ok(pids.length > 0, 'pr-12 runs instances');
    const r = await deliver('pull_request', prPayload('closed', prSha, true));
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.match(r.json.message!, /pull request #12 merged: environment pr-12 is destroyed/);
    await until('pr-12 to go', async () => !(await envNames()).includes('pr-12'));
    assert.equal((await page('pr-12.shop.localhost')).status, 404);
    assert.ok(!existsSync(join(data(), 'local', 'pr-12')), 'its folder is gone');
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `instance ${pid} stopped`);
    const records = await audit();
    assert.ok(records.some((x) => x.action === 'environment.destroy' && x.links.environment === 'pr-12' && x.actor.kind === 'system'));
    // Closing again finds nothing to remove, and says nothing wrong.
    const twice = await deliver('pull_request', prPayload('closed', prSha, true));
    assert.equal(twice.json.status, 'accepted');
  });
});
