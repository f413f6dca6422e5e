import type { ServerResponse } from 'node:http';
import { SluiceError } from '../../kernel/errors.js';

/** The limits of streamed answers (the event stream, followed logs). */
export interface StreamLimits {
  /** Streams open at once, all kinds together; past it, a new one is refused with 503 before it starts. */
  maxStreams: number;
  /** Bytes a client may leave unread beyond the socket's own buffer; past it, the client is dropped. */
  maxBufferedBytes: number;
  /** How long a client may leave its socket's buffer full (not reading) before it is dropped, in ms. */
  slowClientMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxStreams: 200, maxBufferedBytes: 1024 * 1024, slowClientMs: 30_000 };

/** Counts open streams against `maxStreams`. */
export class StreamGate {
  private open = 0;
  constructor(readonly limits: StreamLimits) {}

  /** Takes a place for a stream, or throws BUSY (503) saying why; the release runs when the stream closes. */
  enter(what: string): () => void {
    if (this.open >= this.limits.maxStreams)
      throw new SluiceError('BUSY', `${this.open} streams are open, the most this server serves at once (setting maxStreams); ${what} is refused, try again later`, {
        open: this.open,
        limit: this.limits.maxStreams,
      });
    this.open++;
    let left = false;
    return () => {
      if (!left) {
        left = true;
        this.open--;
      }
    };
  }

  get count(): number {
    return this.open;
  }
}

/**
 * Writes a stream to a client that may read slowly or not at all, without buffering without bound: while the socket's
 * buffer is full nothing more is written to it; what comes meanwhile waits in a queue of at most `maxBufferedBytes`.
 * A client whose queue would grow past that, or whose socket stays full for `slowClientMs`, is dropped (its
 * connection ends; an event-stream client reconnects with Last-Event-ID and replays what it missed).
 */
export class StreamWriter {
  private readonly queue: (string | Buffer)[] = [];
  private queued = 0;
  private full = false;
  private stall: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: StreamLimits,
    private readonly onDrop: (why: string) => void = () => {},
  ) {
    res.on('drain', () => this.drain());
    res.on('close', () => this.end());
  }

  /** Writes now, or queues while the socket is full; false once the client is gone or dropped. */
  write(chunk: string | Buffer): boolean {
    if (this.closed) return false;
    if (this.full) {
      this.queued += chunk.length;
      if (this.queued > this.limits.maxBufferedBytes) {
        this.drop(`more than ${this.limits.maxBufferedBytes} bytes unread`);
        return false;
      }
      this.queue.push(chunk);
      return true;
    }
    if (!this.res.write(chunk)) this.fill();
    return true;
  }

  /** Writes, then waits until the socket can take more: for a producer that can wait (a replay, a log). False once gone. */
  async writeAndWait(chunk: string | Buffer): Promise<boolean> {
    if (!this.write(chunk)) return false;
    if (this.full) await new Promise<void>((ok) => this.waiters.push(ok));
    return !this.closed;
  }

  private fill(): void {
    this.full = true;
    this.stall = setTimeout(() => this.drop(`it read nothing for ${this.limits.slowClientMs} ms`), this.limits.slowClientMs);
  }

  private drain(): void {
    if (this.closed) return;
    clearTimeout(this.stall);
    this.full = false;
    while (this.queue.length > 0 && !this.full) {
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      if (!this.res.write(chunk)) this.fill();
    }
    if (!this.full) this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Writes `last` (when the socket takes it) and ends the stream: the server ends it, the client did nothing wrong. */
  finish(last: string): void {
    if (this.closed) return;
    this.end();
    this.res.end(last);
  }

  private drop(why: string): void {
    if (this.closed) return;
    this.onDrop(why);
    this.end();
    this.res.destroy();
  }

  private end(): void {
    this.closed = true;
    clearTimeout(this.stall);
    this.queue.length = 0;
    this.queued = 0;
    this.wake();
  }
}

/** How a token stands now, by id: `valid`, or why it no longer works. A token not there is missing from the map. */
export type TokenStates = () => Promise<ReadonlyMap<string, 'valid' | 'expired' | 'revoked'>>;

/**
 * Ends the streams whose token stops working while they are open (revoked, expired, or gone): one look at every
 * token's state each `everyMs` serves all the open streams, so a revoked token's stream ends within that time, and
 * no stream outlives the authority it was opened with.
 */
export class TokenWatch {
  private readonly watched = new Set<{ tokenId: string; end: (why: string) => void }>();
  private timer: NodeJS.Timeout | undefined;
  private looking = false;

  constructor(
    private readonly states: TokenStates,
    private readonly everyMs = 2000,
  ) {}

  /** Watches a stream's token; `end` is called once, with why, if it stops working. Answers the unwatch. */
  watch(tokenId: string, end: (why: string) => void): () => void {
    const w = { tokenId, end };
    this.watched.add(w);
    this.timer ??= setInterval(() => void this.look(), this.everyMs).unref();
    return () => {
      this.watched.delete(w);
      if (this.watched.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      const states = await this.states();
      for (const w of [...this.watched]) {
        const state = states.get(w.tokenId) ?? 'deleted';
        if (state === 'valid') continue;
        this.watched.delete(w);
        w.end(`its token was ${state}`);
      }
    } catch {
      // The tokens could not be read (the database away): the streams go on until a look can tell.
    } finally {
      this.looking = false;
    }
  }
}
