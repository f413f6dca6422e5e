import { request } from 'node:http';
import { join } from 'node:path';
import type { Role } from '../../src/kernel/actor.js';
import { loadConfig } from '../../src/main/config.js';
import { downSluice, type RunningSluice, startSluice } from '../../src/main/single-node.js';

export interface RawAnswer {
  status: number;
  contentType: string;
  /** The body; for a stream, nothing (it is cut as soon as it starts). */
  text: string;
}

/**
 * One request to the API with full control of its headers (fetch may not set Host). A streamed answer is cut at its
 * headers: its status is what counts.
 */
export function rawCall(
  apiUrl: string,
  method: string,
  path: string,
  opts: { token?: string; host?: string; body?: unknown; headers?: Record<string, string>; contentType?: string } = {},
): Promise<RawAnswer & { setCookie: string[] }> {
  const u = new URL(apiUrl);
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: u.port,
        method,
        path,
        headers: {
          host: opts.host ?? u.host,
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(body !== undefined ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          ...opts.headers,
        },
        agent: false,
      },
      (res) => {
        const contentType = String(res.headers['content-type'] ?? '');
        const setCookie = res.headers['set-cookie'] ?? [];
        if (contentType.startsWith('text/event-stream')) {
          resolve({ status: res.statusCode ?? 0, contentType, text: '', setCookie });
          req.destroy();
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType, text, setCookie }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A browser's session: its cookie (as a Cookie header) and CSRF token, from a login with `token`. */
export async function loginSession(apiUrl: string, token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await rawCall(apiUrl, 'POST', '/api/v1/session', { body: { token } });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
  const setCookie = r.setCookie.find((c) => c.startsWith('sluice_session='));
  if (!setCookie) throw new Error(`login set no session cookie: ${JSON.stringify(r.setCookie)}`);
  return { cookie: setCookie.split(';', 1)[0]!, csrf: (JSON.parse(r.text) as { csrf: string }).csrf, setCookie };
}

/** A clock the test moves. */
export const manualClock = (t = Date.now()) => ({ t, now() { return this.t; } });

/** The control plane in this process on an app's data directory (PGlite), on free ports; the API on `apiHost`; the dashboard's build from `webDir`. */
export async function startOn(appDir: string, apiHost: string, clock: { now(): number }, extra: { apiAllowedHosts?: string } = {}, webDir?: string) {
  const config = loadConfig({ env: {}, cwd: appDir, argv: { dataDir: '.sluice', port: '0', routerPort: '0', apiHost, ...extra } });
  const sluice: RunningSluice = await startSluice(config, { env: { PATH: process.env.PATH ?? '' }, clock, ...(webDir ? { webDir } : {}) });
  return { sluice, config, down: async () => { await sluice.close(); await downSluice(config.dataDir); } };
}

/** Who calls, in the role matrix: no token, a token of each role, and tokens that no longer work. */
export type Who = 'no token' | Role | 'expired' | 'revoked';

export const dataDirOf = (appDir: string) => join(appDir, '.sluice');
