import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { DeliveryError } from '../../notifications/ports/webhook.js';
import { freePort } from '../../platform/net.js';
import { postJson } from './post-json.js';

describe('postJson', () => {
  const never = new AbortController().signal;
  it('posts JSON, and tells a refusal for good from one worth trying again, without the address in its messages', async () => {
    const got: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push(`${req.headers['content-type']} ${body}`);
        res.statusCode = Number(req.url!.slice(1));
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await postJson(`${base}/204`, { a: 1 }, never);
      assert.deepEqual(got, ['application/json {"a":1}']);
      for (const [status, permanent] of [[404, true], [400, true], [429, false], [408, false], [500, false], [503, false]] as const)
        await assert.rejects(postJson(`${base}/${status}`, {}, never), (e: unknown) => {
          assert.ok(e instanceof DeliveryError);
          assert.equal(e.message, `${base}/… answered ${status}`);
          assert.equal(e.permanent, permanent, String(status));
          return true;
        });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    const nobody = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(postJson(`${nobody}/secret-path`, {}, never), (e: unknown) => {
      assert.ok(e instanceof DeliveryError && !e.permanent);
      assert.equal(e.message, `could not reach ${nobody}/…: ECONNREFUSED`);
      return true;
    });
  });
});
