import { redactUrl } from '../../kernel/redact.js';
import { DeliveryError, type Post } from '../../notifications/ports/webhook.js';

/**
 * Posts JSON with a timeout. Throws DeliveryError, whose message never holds the address (it is shown to readers of
 * the API): on a non-2xx answer (permanent for a 4xx other than 408, 425, 429) and when the target cannot be reached.
 */
export const postJson: Post = async (url, body, signal) => {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new DeliveryError(`could not reach ${redactUrl(url)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, false);
  }
  await res.body?.cancel();
  if (!res.ok) throw new DeliveryError(`${redactUrl(url)} answered ${res.status}`, res.status >= 400 && res.status < 500 && ![408, 425, 429].includes(res.status));
};

