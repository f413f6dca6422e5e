import { type ErrorCode, SluiceError } from '../../kernel/errors.js';
import type { CallInput, Output, RouteDef } from '../http/contract/route.js';

/** The server could not be reached (exit code 3). */
export class Unreachable extends Error {}

type Optional<T> = { [K in keyof T as T[K] extends undefined ? K : never]?: T[K] } & { [K in keyof T as T[K] extends undefined ? never : K]: T[K] };

/** Talks to a Sluice server over its HTTP API, route by route from the same contract the server registers. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly operatorKey?: string,
  ) {}

  /** Calls a JSON route: input and output are typed by its definition. */
  async call<D extends RouteDef>(def: D, input: Optional<CallInput<D>> = {} as Optional<CallInput<D>>): Promise<Output<D>> {
    const res = await this.fetch(def, input);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const e = parsed as { code?: ErrorCode; message?: string; details?: unknown } | undefined;
      throw new SluiceError(e?.code ?? 'INTERNAL', e?.message ?? `${def.method} ${def.path} answered ${res.status}`, e?.details);
    }
    return parsed as Output<D>;
  }

  /** The raw response, for streams. */
  async fetch<D extends RouteDef>(def: D, input: Optional<CallInput<D>> = {} as Optional<CallInput<D>>): Promise<Response> {
    const { params, query, body } = input as { params?: Record<string, string>; query?: Record<string, string | undefined>; body?: unknown };
    let path = def.path.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));
    const q = new URLSearchParams(Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
    if ([...q].length) path += `?${q}`;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    // Reads too: an API that listens beyond loopback needs a token for them.
    if (this.token && def.auth !== 'public') headers.authorization = `Bearer ${this.token}`;
    if (this.operatorKey && def.auth === 'token') headers['x-sluice-operator'] = this.operatorKey;
    try {
      return await fetch(this.baseUrl + path, { method: def.method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      throw new Unreachable(
        `cannot reach Sluice at ${this.baseUrl} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}); is \`sluice up\` running?`,
      );
    }
  }
}
