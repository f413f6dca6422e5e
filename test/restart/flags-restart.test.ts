import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { controlSocketPath } from '../../src/adapters/proxy-http1/data-plane-process.js';
import { RouterClient } from '../../src/adapters/proxy-http1/router-client.js';
import type { FlagdDocument } from '../../src/flags/ports/flag-serving.js';
import { published, StreamSubscriber } from '../helpers/flags.js';
import { copyExample, startUp, type UpProcess } from '../helpers/sluice-process.js';

const KEY = 'restart-probe-key';
// A stage the shop's pipeline does not have: `sluice up` publishes its own stages (from the shop's sluice.flags.yaml)
// at their own revisions, and this test's publisher must not race it for them.
const STAGE = 'restart-probe';
const doc = (revision: number): FlagdDocument => ({
  flags: { banner: { state: 'ENABLED', variants: { text: `revision ${revision}` }, defaultVariant: 'text' } },
});

// The control plane may stop at any time; flags keep being served. An app evaluates through the official OFREP
// provider without pause and an SDK-like subscriber follows the stream, while `sluice up` is killed (kill -9) three
// times and stopped once, with changes published before and after each stop. The publisher here talks to the data
// plane's control socket as the flags service inside `sluice up` does.
it('0 failed OFREP evaluations and no missed change on the stream while the control plane is killed and restarted', { timeout: 300_000 }, async () => {
  const app = copyExample();
  const data = join(app, '.sluice');
  let up: UpProcess = await startUp(app, data);
  const router = new RouterClient(controlSocketPath(data));
  let done = false;
  let evaluating: Promise<void> = Promise.resolve();
  let sub: StreamSubscriber | undefined;
  let revision = 1;
  const publish = async () => {
    revision++;
    await router.publish(STAGE, published(doc(revision), revision, KEY));
  };
  try {
    const health = await router.health();
    await router.publish(STAGE, published(doc(revision), revision, KEY));
    await OpenFeature.setProviderAndWait('restart', new OFREPProvider({ baseUrl: `http://127.0.0.1:${health.flagsPort}`, headers: { 'X-API-Key': KEY } }));
    const client = OpenFeature.getClient('restart');
    const stream = new StreamSubscriber(() => health.flagsPort, KEY, true);
    sub = stream;
    const results = { ok: 0, failed: [] as string[], stale: 0 };
    evaluating = (async () => {
      while (!done) {
        const before = revision;
        const d = await client.getStringDetails('banner', 'DEFAULT');
        if (d.errorCode || d.value === 'DEFAULT') results.failed.push(`${d.errorCode}: ${d.errorMessage}`);
        else if (Number(d.value.split(' ')[1]) < before - 1) results.stale++;
        else results.ok++;
        await sleep(2);
      }
    })();
    await stream.waitFor(() => stream.revisions().includes(1));
    const stops: { how: string; downMs: number }[] = [];
    for (const how of ['kill -9', 'kill -9', 'kill -9', 'SIGTERM']) {
      await publish();
      const t0 = Date.now();
      await (how === 'SIGTERM' ? up.stop() : up.kill());
      await sleep(300);
      up = await startUp(app, data);
      stops.push({ how, downMs: Date.now() - t0 });
      await publish();
      await sleep(300);
    }
    await stream.waitFor(() => stream.revisions().includes(revision));
    done = true;
    await evaluating;
    console.log(`# ${results.ok} evaluations, ${results.failed.length} failed; control plane away ${stops.map((s) => `${s.how} ${s.downMs} ms`).join(', ')}`);
    assert.deepEqual(results.failed, []);
    assert.equal(results.stale, 0);
    assert.ok(results.ok > 100, `only ${results.ok} evaluations`);
    assert.deepEqual(stream.revisions(), Array.from({ length: revision }, (_, i) => i + 1), 'every revision, once, in order');
    assert.deepEqual(stream.attempts, [200], 'one stream throughout: the data plane never stopped');
    assert.equal((await router.health()).pid, health.pid, 'one data plane process served throughout');
  } finally {
    done = true;
    await evaluating;
    sub?.close();
    await OpenFeature.close();
    router.close();
    await up.down();
  }
});
