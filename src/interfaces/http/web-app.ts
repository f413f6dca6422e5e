import { createReadStream, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../kernel/errors.js';

/** What the dashboard's page may load and do: only its own files, no inline script, never framed. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Headers on every answer of the API's address. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Content types of the files a web build holds; anything else is served as bytes. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Hashed files (a build's assets/) never change under their name; everything else is checked each time. */
const CACHE = {
  asset: 'public, max-age=31536000, immutable',
  index: 'no-store',
  other: 'no-cache',
} as const;

/** The longest path looked up: a file of a web build is never deeper. */
const MAX_PATH = 1024;

/**
 * The path of a request as a file under the build, or a BAD_REQUEST: percent-decoded, and refused when it could leave
 * the folder (`..`, a backslash, a NUL) instead of being normalised, so no spelling of a path escapes it.
 */
export function webPathOf(url: string): string {
  const raw = url.split(/[?#]/, 1)[0] ?? '/';
  if (raw.length > MAX_PATH) throw new SluiceError('BAD_REQUEST', `the path is longer than ${MAX_PATH} characters`);
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new SluiceError('BAD_REQUEST', 'the path is not valid percent-encoded UTF-8');
  }
  if (/[\\\0]/.test(path) || path.split('/').some((seg) => seg === '..' || seg === '.'))
    throw new SluiceError('BAD_REQUEST', `the path ${JSON.stringify(path.slice(0, 100))} leaves the dashboard's folder (.., a backslash or a NUL)`);
  return path;
}

/** A regular file under `root` (symbolic links followed, and refused when they lead out of it), or undefined. */
async function fileUnder(root: string, rel: string): Promise<{ path: string; st: Stats } | undefined> {
  try {
    const real = await realpath(join(root, rel));
    if (!real.startsWith(root + sep)) return undefined;
    const st = await stat(real);
    return st.isFile() ? { path: real, st } : undefined;
  } catch {
    return undefined;
  }
}

function sendFile(req: FastifyRequest, reply: FastifyReply, file: { path: string; st: Stats }, cache: string): FastifyReply {
  const etag = `W/"${file.st.size.toString(16)}-${Math.floor(file.st.mtimeMs).toString(16)}"`;
  void reply
    .header('content-type', TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream')
    .header('cache-control', cache);
  if (cache !== CACHE.index) {
    void reply.header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.status(304).send();
  }
  void reply.header('content-length', file.st.size);
  // Streamed: a large file is never read whole into memory.
  return reply.status(200).send(createReadStream(file.path));
}

const NOT_BUILT = `The Sluice dashboard has not been built, so there is nothing to show here yet.

Build it from the Sluice folder (its production build goes to dist/web/), then reload this page:

    npm run build:web

The API answers meanwhile: see /api/openapi.json, or use the CLI (npx sluice status).
`;

/**
 * The dashboard's production build at the API's address: its files as they are (assets/ cached for good, index.html
 * never), and index.html for every other GET outside /api/, so that the app's own routes (/releases/1.0.0) load it.
 * Without a build, a short page says how to make one.
 */
export function webAppRoutes(app: FastifyInstance, webDir: string | undefined): void {
  let root: string | undefined;
  const rootOf = async () => {
    if (root === undefined && webDir !== undefined) root = await realpath(webDir).catch(() => undefined);
    return root;
  };
  app.get('/*', async (req, reply) => {
    const path = webPathOf(req.url);
    if (/^\/api(\/|$)/.test(path)) throw new SluiceError('NOT_FOUND', `no route GET ${req.url.split('?', 1)[0]}`);
    const dir = await rootOf();
    const index = dir === undefined ? undefined : await fileUnder(dir, 'index.html');
    if (!dir || !index) {
      if (path.startsWith('/assets/')) throw new SluiceError('NOT_FOUND', `no file ${path}: the dashboard has not been built`);
      return reply.status(200).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    }
    if (path !== '/' && path !== '/index.html') {
      const file = await fileUnder(dir, path);
      if (file) return sendFile(req, reply, file, path.startsWith('/assets/') ? CACHE.asset : CACHE.other);
      // A missing script or style must fail as itself, not load a page in its place.
      if (path.startsWith('/assets/')) throw new SluiceError('NOT_FOUND', `no file ${path} in the dashboard's build`);
    }
    return sendFile(req, reply, index, CACHE.index);
  });
}
