import { SluiceError } from '../../../kernel/errors.js';
import { githubApi } from '../contract/github.js';
import type { ApiDeps } from '../deps.js';
import type { Registrar } from '../registrar.js';

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function githubRoutes(r: Registrar, d: ApiDeps): void {
  r.route(
    githubApi.webhook,
    async (_input, { req }) => {
      if (!d.github)
        throw new SluiceError('NOT_FOUND', 'the GitHub webhook is not set up on this server: start it with SLUICE_GITHUB_WEBHOOK_SECRET and SLUICE_GITHUB_REPOSITORY (see the README)');
      // The raw text: the signature is over the bytes GitHub sent.
      const body = typeof req.body === 'string' ? req.body : '';
      return d.github.receive(
        { event: header(req.headers['x-github-event']), delivery: header(req.headers['x-github-delivery']), signature: header(req.headers['x-hub-signature-256']) },
        body,
      );
    },
    { rawBody: true },
  );
}
