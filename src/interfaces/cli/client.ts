import { type ErrorCode, SluiceError } from '../../kernel/errors.js';

/** Talks to a Sluice server over its HTTP API. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(method, path, body);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const e = parsed as { code?: ErrorCode; message?: string; details?: unknown } | undefined;
      throw new SluiceError(
        e?.code ?? 'INTERNAL',
        e?.message ?? `${method} ${path} answered ${res.status}`,
        e?.details,
      );
    }
    return parsed as T;
  }

  /** The raw response, for streams. */
  async fetch(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token && method !== 'GET') headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(this.baseUrl + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new Unreachable(
        `cannot reach Sluice at ${this.baseUrl} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}); is \`sluice up\` running?`,
      );
    }
  }
}

export class Unreachable extends Error {}
