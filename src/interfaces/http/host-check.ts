/** The names the API always answers to: loopback, with or without a port. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;

/** The host of a Host header, lower-cased and without its port; undefined when it is not a well-formed host. */
export function hostOf(header: string): string | undefined {
  return HOST.exec(header.trim().toLowerCase())?.[1];
}

/**
 * Whether a request's Host header names this server: a loopback name, or one the operator allowed. A page that a
 * rebinding DNS points at 127.0.0.1 sends its own name, so it is refused before anything runs. A missing or malformed
 * Host is refused too.
 */
export function hostAllowed(header: string | string[] | undefined, allowed: ReadonlySet<string>): boolean {
  if (typeof header !== 'string') return false;
  const host = hostOf(header);
  return host !== undefined && ((LOOPBACK_HOSTS as readonly string[]).includes(host) || allowed.has(host));
}

/**
 * An allowed host as the operator writes it (a name, an IPv4 address, an IPv6 address with or without brackets), as
 * `hostAllowed` compares it; undefined when it is not one (a port, a scheme, a path or a wildcard is not).
 */
export function allowedHostName(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  const v6 = /^[0-9a-f:.]+$/.test(t) && t.includes(':') ? `[${t}]` : t;
  const m = HOST.exec(v6);
  return m && m[2] === undefined ? m[1] : undefined;
}

/** Whether an address the API listens on is loopback only (then reads need no token). */
export function isLoopbackAddress(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Whether an address means every interface (then it names no host a client would send). */
export function isWildcardAddress(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1');
  return h === '0.0.0.0' || h === '::' || h === '';
}
