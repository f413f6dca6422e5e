import { DeliveryError, type Post } from '../../notifications/ports/webhook.js';
import type { DeploymentCall, GithubCall, StatusCall } from '../../github/ports/github-calls.js';
import { redactUrl } from '../../kernel/redact.js';

/** How long one call to GitHub may take. */
const TIMEOUT_MS = 10_000;

/**
 * Delivers the outbox's GitHub calls (ADR 28) to the REST API, with GitHub's headers and a token: a commit status in
 * one request; a deployment in two (create it, then its status). Throws DeliveryError, permanent for a refusal that a
 * retry cannot help (4xx other than 408, 425, 429), and never with the token in its message.
 */
export function githubDeliverer(token: string, userAgent: string): Post {
  const call = async (url: string, body: unknown, signal: AbortSignal): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${token}`,
          'x-github-api-version': '2022-11-28',
          'user-agent': userAgent,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new DeliveryError(`could not reach ${redactUrl(url)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, false);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const why = /"message"\s*:\s*"([^"]{0,200})"/.exec(text)?.[1];
      const permanent = res.status >= 400 && res.status < 500 && ![408, 425, 429].includes(res.status);
      throw new DeliveryError(`${redactUrl(url)} answered ${res.status}${why ? `: ${why}` : ''}`, permanent);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  return async (url, body, signal) => {
    const c = body as GithubCall;
    if (c.kind === 'github-status') {
      const s: StatusCall = c;
      const status = { state: s.state, context: s.context, description: s.description, ...(s.target_url ? { target_url: s.target_url } : {}) };
      await call(url, status, signal);
      return;
    }
    if (c.kind !== 'github-deployment') throw new DeliveryError(`not a GitHub call: ${String((c as { kind?: unknown }).kind)}`, true);
    const d: DeploymentCall = c;
    const made = (await call(
      url,
      {
        ref: d.ref,
        environment: d.environment,
        description: d.description,
        auto_merge: false,
        required_contexts: [],
        transient_environment: d.transient,
        production_environment: false,
        payload: { sluice: { release: d.release } },
      },
      signal,
    )) as { id?: unknown } | undefined;
    if (typeof made?.id !== 'number') throw new DeliveryError(`${redactUrl(url)} answered no deployment id`, false);
    await call(
      `${url}/${made.id}/statuses`,
      {
        state: d.state,
        description: d.description,
        environment: d.environment,
        auto_inactive: true,
        ...(d.environment_url ? { environment_url: d.environment_url } : {}),
        ...(d.log_url ? { log_url: d.log_url } : {}),
      },
      signal,
    );
  };
}
