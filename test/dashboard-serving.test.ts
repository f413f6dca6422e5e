import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyExample } from './helpers/sluice-process.js';
import { manualClock, rawCall, startOn } from './security/access-helpers.js';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-Ab12.js"></script></head><body><div id="root"></div></body></html>';

/** What a raw GET answers, headers included. */
async function get(url: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(url + path, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// `sluice up` serves the dashboard's build at the API's address, against a real server on loopback.
describe('the dashboard at the API address: its build, the SPA fallback, caching, types and security headers', { timeout: 120_000 }, () => {
  let app: string;
  let web: string;
  let outside: string;
  let running: Awaited<ReturnType<typeof startOn>>;
  let url: string;

  before(async () => {
    app = copyExample();
    web = mkdtempSync(join(tmpdir(), 'sluice-web-'));
    mkdirSync(join(web, 'assets'));
    writeFileSync(join(web, 'index.html'), INDEX);
    writeFileSync(join(web, 'assets', 'index-Ab12.js'), 'console.log("board");\n');
    writeFileSync(join(web, 'assets', 'index-Cd34.css'), 'body{color:black}\n');
    writeFileSync(join(web, 'assets', 'logo-Ef56.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    // A large file is streamed, never read whole: 8 MiB arrives intact.
    writeFileSync(join(web, 'assets', 'big-Gh78.js'), Buffer.alloc(8 * 1024 * 1024, 'a'));
    writeFileSync(join(web, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
    outside = mkdtempSync(join(tmpdir(), 'sluice-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    symlinkSync(join(outside, 'secret.txt'), join(web, 'assets', 'leak.txt'));
    running = await startOn(app, '127.0.0.1', manualClock(), {}, web);
    url = running.sluice.apiUrl;
  });
  after(async () => {
    await running.down();
    rmSync(join(app, '..'), { recursive: true, force: true });
    rmSync(web, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('serves index.html at / and for every app route, never cached, with a strict CSP', async () => {
    for (const path of ['/', '/index.html', '/releases/1.0.0', '/audit', '/tokens', '/login', '/releases/2.0.0?tab=analysis']) {
      const r = await get(url, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.text, INDEX, path);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', path);
      assert.equal(r.headers.get('cache-control'), 'no-store', path);
      assert.equal(r.headers.get('content-security-policy'), CSP, path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
    }
  });

  it('serves assets with their types, cached for good, streamed; a missing asset is a 404, never the page', async () => {
    const js = await get(url, '/assets/index-Ab12.js');
    assert.equal(js.status, 200);
    assert.equal(js.text, 'console.log("board");\n');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-security-policy'), CSP);
    const etag = js.headers.get('etag');
    assert.ok(etag);
    assert.equal((await get(url, '/assets/index-Ab12.js', { 'if-none-match': etag })).status, 304);
    assert.equal((await get(url, '/assets/index-Cd34.css')).headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await get(url, '/assets/logo-Ef56.svg')).headers.get('content-type'), 'image/svg+xml');
    const ico = await get(url, '/favicon.ico');
    assert.equal(ico.headers.get('content-type'), 'image/x-icon');
    assert.equal(ico.headers.get('cache-control'), 'no-cache');
    const big = await get(url, '/assets/big-Gh78.js');
    assert.equal(big.status, 200);
    assert.equal(big.text.length, 8 * 1024 * 1024);
    assert.equal(big.headers.get('content-length'), String(8 * 1024 * 1024));
    const missing = await get(url, '/assets/gone-0000.js');
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /^application\/json/);
  });

  it('refuses to leave the build: .., encoded .., backslashes, and a symbolic link out of it', async () => {
    for (const path of ['/../../etc/passwd', '/assets/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/assets/..%5c..%5cetc']) {
      const r = await rawCall(url, 'GET', path);
      assert.equal(r.status, 400, `${path}: ${r.status} ${r.text.slice(0, 100)}`);
      assert.doesNotMatch(r.text, /root:/);
    }
    const link = await get(url, '/assets/leak.txt');
    assert.equal(link.status, 404);
    assert.doesNotMatch(link.text, /secret/);
  });

  it('leaves /api/ to the API: an unknown API path is a JSON 404, not the page; a foreign Host gets nothing', async () => {
    const r = await get(url, '/api/v1/no-such-thing');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.text).code, 'NOT_FOUND');
    assert.equal((await get(url, '/api/v1/health')).status, 200);
    const foreign = await rawCall(url, 'GET', '/', { host: 'evil.example' });
    assert.equal(foreign.status, 400);
    assert.doesNotMatch(foreign.text, /root/);
    const post = await rawCall(url, 'POST', '/', { body: {} });
    assert.equal(post.status, 404);
  });

  it('without a build, / says how to make one, and the API still answers', async () => {
    await running.sluice.close();
    running = await startOn(app, '127.0.0.1', manualClock(), {}, join(web, 'not-there'));
    url = running.sluice.apiUrl;
    const r = await get(url, '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(r.text, /has not been built/);
    assert.equal((await get(url, '/releases/1.0.0')).status, 200);
    assert.equal((await get(url, '/assets/index-Ab12.js')).status, 404);
    assert.equal((await get(url, '/api/v1/health')).status, 200);
    assert.equal(running.sluice.dashboard.built, false);
  });
});
