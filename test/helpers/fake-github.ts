import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake took, as GitHub would have: its path and body. */
export interface GithubRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

/** What the fake refused, and why (a request GitHub would refuse, or one not following its documented shape). */
export interface GithubRefusal {
  method: string;
  path: string;
  why: string;
}

const STATUS_STATES = ['error', 'failure', 'pending', 'success'];
const DEPLOYMENT_STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
const SHA = /^[0-9a-f]{40}$/;
const REPO = '[A-Za-z0-9-]+/[A-Za-z0-9._-]+';

type Check = (body: Record<string, unknown>) => string | undefined;
const isStr = (v: unknown) => typeof v === 'string';
const optional = (key: string, ok: (v: unknown) => boolean, what: string): Check => (b) => (key in b && !ok(b[key]) ? `${key} must be ${what}` : undefined);
const required = (key: string, ok: (v: unknown) => boolean, what: string): Check => (b) => (!(key in b) ? `${key} is required` : !ok(b[key]) ? `${key} must be ${what}` : undefined);
const only = (keys: string[]): Check => (b) => {
  const extra = Object.keys(b).filter((k) => !keys.includes(k));
  return extra.length ? `unknown field(s) ${extra.join(', ')}` : undefined;
};
const url = (v: unknown) => isStr(v) && /^https?:\/\/\S+$/.test(v as string);

/**
 * The endpoints of GitHub's REST API that Sluice calls, checked against GitHub's documented shapes
 * (docs.github.com/en/rest/commits/statuses and /rest/deployments): method, path, the headers GitHub asks for, each
 * body field's type and value set, and the deployment a status is for. It records what it took and what it refused.
 */
export class FakeGithub {
  readonly taken: GithubRequest[] = [];
  readonly refused: GithubRefusal[] = [];
  private readonly server: Server;
  private deployments = new Map<number, Record<string, unknown>>();
  private nextId = 1000;

  constructor(private readonly token: string) {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        },
        (e: Error) => {
          res.writeHead(500);
          res.end(e.message);
        },
      );
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  /** What was taken on a path matching `re`. */
  on(re: RegExp): GithubRequest[] {
    return this.taken.filter((t) => re.test(t.path));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? '';
    const method = req.method ?? '';
    const refuse = (status: number, why: string) => {
      this.refused.push({ method, path, why });
      return { status, body: { message: why, documentation_url: 'https://docs.github.com/rest' } };
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return refuse(401, 'Bad credentials');
    if (req.headers.accept !== 'application/vnd.github+json') return refuse(415, `accept must be application/vnd.github+json, not ${req.headers.accept}`);
    if (req.headers['x-github-api-version'] !== '2022-11-28') return refuse(400, `X-GitHub-Api-Version must be 2022-11-28`);
    if (!req.headers['user-agent']) return refuse(403, 'a User-Agent header is required');
    if (method !== 'POST') return refuse(404, 'Not Found');
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return refuse(415, 'content-type must be application/json');
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return refuse(400, 'Problems parsing JSON: not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return refuse(400, 'Problems parsing JSON');
    }
    const validate = (checks: Check[]) => checks.map((c) => c(body)).find((x) => x !== undefined);
    let m = new RegExp(`^/repos/(${REPO})/statuses/([^/]+)$`).exec(path);
    if (m) {
      if (!SHA.test(m[2]!)) return refuse(422, `sha ${m[2]} is not a commit`);
      const why = validate([
        only(['state', 'target_url', 'description', 'context']),
        required('state', (v) => STATUS_STATES.includes(v as string), `one of ${STATUS_STATES.join(', ')}`),
        optional('target_url', (v) => v === null || url(v), 'a URL or null'),
        optional('description', (v) => v === null || (isStr(v) && (v as string).length <= 140), 'a string of at most 140 characters, or null'),
        optional('context', (v) => isStr(v) && (v as string).length > 0, 'a non-empty string'),
      ]);
      if (why) return refuse(422, `Validation Failed: ${why}`);
      this.taken.push({ method, path, body });
      return { status: 201, body: { id: this.nextId++, state: body.state, context: body.context ?? 'default' } };
    }
    m = new RegExp(`^/repos/(${REPO})/deployments$`).exec(path);
    if (m) {
      const why = validate([
        only(['ref', 'task', 'auto_merge', 'required_contexts', 'payload', 'environment', 'description', 'transient_environment', 'production_environment']),
        required('ref', (v) => isStr(v) && (v as string).length > 0, 'a ref, branch or SHA'),
        optional('task', isStr, 'a string'),
        optional('auto_merge', (v) => typeof v === 'boolean', 'a boolean'),
        optional('required_contexts', (v) => Array.isArray(v) && v.every(isStr), 'an array of strings'),
        optional('payload', (v) => isStr(v) || (typeof v === 'object' && v !== null && !Array.isArray(v)), 'an object or a string'),
        optional('environment', isStr, 'a string'),
        optional('description', (v) => v === null || isStr(v), 'a string or null'),
        optional('transient_environment', (v) => typeof v === 'boolean', 'a boolean'),
        optional('production_environment', (v) => typeof v === 'boolean', 'a boolean'),
      ]);
      if (why) return refuse(422, `Validation Failed: ${why}`);
      const id = this.nextId++;
      this.deployments.set(id, body);
      this.taken.push({ method, path, body });
      return { status: 201, body: { id, ref: body.ref, environment: body.environment ?? 'production', sha: body.ref } };
    }
    m = new RegExp(`^/repos/(${REPO})/deployments/(\\d+)/statuses$`).exec(path);
    if (m) {
      if (!this.deployments.has(Number(m[2]))) return refuse(404, `no deployment ${m[2]}`);
      const why = validate([
        only(['state', 'target_url', 'log_url', 'description', 'environment', 'environment_url', 'auto_inactive']),
        required('state', (v) => DEPLOYMENT_STATES.includes(v as string), `one of ${DEPLOYMENT_STATES.join(', ')}`),
        optional('target_url', url, 'a URL'),
        optional('log_url', url, 'a URL'),
        optional('description', (v) => isStr(v) && (v as string).length <= 140, 'a string of at most 140 characters'),
        optional('environment', isStr, 'a string'),
        optional('environment_url', url, 'a URL'),
        optional('auto_inactive', (v) => typeof v === 'boolean', 'a boolean'),
      ]);
      if (why) return refuse(422, `Validation Failed: ${why}`);
      this.taken.push({ method, path, body });
      return { status: 201, body: { id: this.nextId++, state: body.state } };
    }
    return refuse(404, 'Not Found');
  }
}
