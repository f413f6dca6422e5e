import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { isSluiceError } from '../../kernel/errors.js';
import { StreamGate, StreamWriter, TokenWatch } from './streams.js';

/** A server whose one stream is handed to `serve`, and a client socket that reads nothing. */
async function slowClient(serve: (res: ServerResponse) => void): Promise<{ server: Server; client: Socket }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    serve(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  client.pause();
  client.on('error', () => {});
  return { server, client };
}

describe('streams to clients that read slowly or not at all', { timeout: 60_000 }, () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });

  it('a producer that cannot wait: nothing more is written to a full socket, the queue stays under its limit, then the client is dropped', async () => {
    const chunk = 'e'.repeat(1024);
    const seen: { writable: number; highWaterMark: number; why?: string; writes: number } = { writable: 0, highWaterMark: 0, writes: 0 };
    const dropped = new Promise<void>((done) => {
      void slowClient((res) => {
        seen.highWaterMark = res.writableHighWaterMark; // 16 KiB on Node 20, 64 KiB from Node 22
        const out = new StreamWriter(res, { maxStreams: 1, maxBufferedBytes: 64 * 1024, slowClientMs: 60_000 }, (why) => {
          seen.why = why;
          done();
        });
        const tick = () => {
          for (let i = 0; i < 64 && !out.closed; i++) {
            out.write(chunk);
            seen.writes++;
            seen.writable = Math.max(seen.writable, res.writableLength);
          }
          if (!out.closed) setImmediate(tick);
        };
        tick();
      }).then(({ server }) => servers.push(server));
    });
    await dropped;
    assert.equal(seen.why, 'more than 65536 bytes unread');
    assert.ok(seen.writable <= seen.highWaterMark + chunk.length, `the socket's own buffer held at most one chunk past its high-water mark (${seen.writable})`);
    assert.ok(seen.writes > 64, 'it wrote until the queue was full');
  });

  it('a producer that waits: it is held at the first full socket, and the client is dropped after slowClientMs', async () => {
    let written = 0;
    let why = '';
    let result: boolean | undefined;
    await new Promise<void>((done) => {
      void slowClient(async (res) => {
        const out = new StreamWriter(res, { maxStreams: 1, maxBufferedBytes: 1024, slowClientMs: 300 }, (w) => {
          why = w;
        });
        const block = Buffer.alloc(64 * 1024, 'l');
        for (;;) {
          const ok = await out.writeAndWait(block);
          if (!ok) break;
          written += block.length;
        }
        result = out.closed;
        done();
      }).then(({ server }) => servers.push(server));
    });
    assert.equal(result, true);
    assert.equal(why, 'it read nothing for 300 ms');
    assert.ok(written < 64 * 1024 * 1024, `${written} bytes went out before the socket was full`);
  });

  it('the gate counts streams, refuses one past the cap with BUSY, and frees a place once', () => {
    const gate = new StreamGate({ maxStreams: 2, maxBufferedBytes: 1, slowClientMs: 1 });
    const a = gate.enter('a');
    gate.enter('b');
    assert.throws(() => gate.enter('an event stream'), (e) => isSluiceError(e) && e.code === 'BUSY' && /2 streams are open.*an event stream is refused/.test(e.message));
    a();
    a();
    assert.equal(gate.count, 1, 'leaving twice frees one place');
    gate.enter('c');
    assert.throws(() => gate.enter('d'));
  });
});

/** A ServerResponse's default high-water mark. */

describe('a watch on the tokens of open streams', () => {
  it('ends each stream whose token stops working, once, with why; the others go on; a failed look ends nothing', async () => {
    const states = new Map<string, 'valid' | 'expired' | 'revoked'>([
      ['a', 'valid'],
      ['b', 'valid'],
      ['c', 'valid'],
    ]);
    let failing = false;
    let looks = 0;
    const watch = new TokenWatch(async () => {
      looks++;
      if (failing) throw new Error('database away');
      return states;
    }, 20);
    const ended: string[] = [];
    const unwatchA = watch.watch('a', (why) => ended.push(`a: ${why}`));
    watch.watch('b', (why) => ended.push(`b: ${why}`));
    watch.watch('c', (why) => ended.push(`c: ${why}`));
    const unwatchD = watch.watch('d2', (why) => ended.push(`d2: ${why}`));
    const settle = async () => {
      const seen = looks;
      while (looks < seen + 2) await new Promise((ok) => setTimeout(ok, 10));
    };
    await settle();
    assert.deepEqual(ended, ['d2: its token was deleted']);
    unwatchD();
    failing = true;
    states.set('b', 'revoked');
    await settle();
    assert.deepEqual(ended, ['d2: its token was deleted'], 'nothing ends while the tokens cannot be read');
    failing = false;
    states.set('c', 'expired');
    await settle();
    await settle();
    assert.deepEqual(ended, ['d2: its token was deleted', 'b: its token was revoked', 'c: its token was expired']);
    unwatchA();
    const stopped = looks;
    await new Promise((ok) => setTimeout(ok, 100));
    assert.ok(looks <= stopped + 1, 'with nothing watched, it stops looking');
  });
});
