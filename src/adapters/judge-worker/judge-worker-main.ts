import { parentPort } from 'node:worker_threads';
import { isSluiceError } from '../../kernel/errors.js';
import { judgeJsonText } from '../../rollout/ports/judge-runner.js';

/** The judge's thread: one request at a time, answered with the response or the error's code, message and details. */
parentPort!.on('message', (m: { id: number; text: string; where: string; maxValues: number }) => {
  try {
    parentPort!.postMessage({ id: m.id, ok: true, response: judgeJsonText(m.text, m.where, m.maxValues) });
  } catch (e) {
    const error = isSluiceError(e) ? { code: e.code, message: e.message, details: e.details } : { code: 'INTERNAL', message: (e as Error).message };
    parentPort!.postMessage({ id: m.id, ok: false, error });
  }
});
// Loaded: the time budget of the first request starts now, not while the thread was still loading the judge.
parentPort!.postMessage({ ready: true });
