import { chmodSync, chownSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError } from '../../kernel/errors.js';

/** A user of this machine, as instances are run as it. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The account of `name` in /etc/passwd; an error that says what to do when Sluice is not root or there is none. */
export function lookupAccount(name: string, passwd = '/etc/passwd'): Account {
  if (process.getuid?.() !== 0)
    throw new SluiceError('CONFIG_INVALID', `local.user ${name}: instances can run as another user only when sluice up runs as root`);
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
  }
  throw new SluiceError('CONFIG_INVALID', `local.user ${name}: there is no such user on this machine (${passwd})`);
}

/** The shell command that runs `command` as the account: the wrapper (root) opens the log, then drops to the user. */
export function asAccount(command: string, a: Account): string {
  return `exec setpriv --reuid=${a.uid} --regid=${a.gid} --clear-groups -- /bin/sh -c '${command.replace(/'/g, `'\\''`)}'`;
}

/**
 * Gives the account its release folder (owned by it) and a way to it: the folders above, down from the data directory,
 * become 0711 (others may pass through, not list or read them); everything else there stays 0600/0700.
 */
export function openReleaseTo(a: Account, releaseDir: string, passThrough: readonly string[]): void {
  for (const d of passThrough) chmodSync(d, 0o711);
  const visit = (p: string) => {
    const st = lstatSync(p);
    chownSync(p, a.uid, a.gid);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(releaseDir);
}
