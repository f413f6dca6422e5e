import { Worker } from 'node:worker_threads';
import { type ErrorCode, SluiceError } from '../../kernel/errors.js';
import type { JudgeLimits, JudgeResponse, JudgeRunner } from '../../rollout/ports/judge-runner.js';

const ENTRY = new URL('./judge-worker-main.js', import.meta.url);

/**
 * The thread's young generation, held small (its old space is the `heapMb` setting): a request within the value cap
 * needs far less, and V8 would otherwise grow both to their defaults under a stream of large requests and keep the
 * memory. A request that needs more ends the thread and is refused as too large.
 */
const YOUNG_GENERATION_MB = 8;

interface Job {
  id: number;
  text: string;
  where: string;
  resolve: (r: JudgeResponse) => void;
  reject: (e: unknown) => void;
}

type Answer =
  | { id: number; ok: true; response: JudgeResponse }
  | { id: number; ok: false; error: { code: ErrorCode; message: string; details?: unknown } };

/**
 * The judge on a worker thread: requests are judged one at a time, in order, off the event loop. A request still
 * being judged when its time budget runs out is refused with TOO_LARGE and its thread is ended (the next request
 * starts a new one), so a request no budget can hold never takes the thread for longer than the budget.
 */
export class WorkerJudge implements JudgeRunner {
  private worker: { thread: Worker; ready: boolean } | undefined;
  private readonly queue: Job[] = [];
  private current: { job: Job; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;
  private closed = false;

  /** `maxWaiting`: requests that may wait for the thread; past it, BUSY. `heapMb`: the thread's old space. */
  constructor(
    private readonly limits: JudgeLimits,
    private readonly maxWaiting = 16,
    private readonly heapMb = 96,
  ) {}

  judge(text: string, where: string): Promise<JudgeResponse> {
    if (this.closed) return Promise.reject(new SluiceError('BUSY', 'the judge is stopping'));
    if (this.queue.length >= this.maxWaiting)
      return Promise.reject(new SluiceError('BUSY', `${this.queue.length} judge requests are waiting already (the most is ${this.maxWaiting}); try again later`));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, text, where, resolve, reject });
      this.next();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const stopping = new SluiceError('BUSY', 'the judge stopped');
    for (const job of this.queue.splice(0)) job.reject(stopping);
    if (this.current) {
      clearTimeout(this.current.timer);
      this.current.job.reject(stopping);
      this.current = undefined;
    }
    const w = this.worker;
    this.worker = undefined;
    await w?.thread.terminate();
  }

  private thread(): { thread: Worker; ready: boolean } {
    if (this.worker) return this.worker;
    const w = new Worker(ENTRY, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: this.heapMb } });
    w.unref();
    const slot = { thread: w, ready: false };
    w.on('message', (a: Answer | { ready: true }) => {
      if ('ready' in a) {
        slot.ready = true;
        this.start();
        return;
      }
      const cur = this.current;
      if (!cur || cur.job.id !== a.id) return;
      clearTimeout(cur.timer);
      this.current = undefined;
      if (a.ok) cur.job.resolve(a.response);
      else cur.job.reject(new SluiceError(a.error.code, a.error.message, a.error.details));
      this.next();
    });
    const lost = (why: string, outOfMemory = false) => {
      if (this.worker !== slot) return;
      this.worker = undefined;
      const cur = this.current;
      if (cur) {
        clearTimeout(cur.timer);
        this.current = undefined;
        cur.job.reject(
          outOfMemory
            ? new SluiceError('TOO_LARGE', `${cur.job.where} needs more memory than the judge's thread has (${this.heapMb} MB, setting judgeHeapMb): judge fewer or shorter series`)
            : new SluiceError('INTERNAL', `the judge's thread ended: ${why}`),
        );
      }
      // A thread that could not even load would fail the same way again: answer what waits instead of starting another.
      if (!slot.ready) for (const job of this.queue.splice(0)) job.reject(new SluiceError('INTERNAL', `the judge's thread did not start: ${why}`));
      this.next();
    };
    w.on('error', (e: Error & { code?: string }) => lost(e.message, e.code === 'ERR_WORKER_OUT_OF_MEMORY'));
    w.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = slot;
    return slot;
  }

  private next(): void {
    if (this.current || this.closed || this.queue.length === 0) return;
    // The thread loads once (the judge and its schemas); the first request waits for it outside its time budget.
    if (this.thread().ready) this.start();
  }

  private start(): void {
    const slot = this.worker;
    if (this.current || this.closed || !slot?.ready) return;
    const job = this.queue.shift();
    if (!job) return;
    const w = slot.thread;
    const timer = setTimeout(() => {
      if (this.current?.job !== job) return;
      this.current = undefined;
      // The thread is busy with this request for as long as it takes: end it, and answer now.
      this.worker = undefined;
      void w.terminate();
      job.reject(
        new SluiceError('TOO_LARGE', `${job.where} took longer than the judge's time budget of ${this.limits.timeoutMs} ms (setting judgeTimeoutMs): judge fewer or shorter series`, {
          timeoutMs: this.limits.timeoutMs,
        }),
      );
      this.next();
    }, this.limits.timeoutMs);
    this.current = { job, timer };
    w.postMessage({ id: job.id, text: job.text, where: job.where, maxValues: this.limits.maxValues });
  }
}
