import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../../kernel/errors.js';
import type { CheckedOut, SourceCheckout } from '../../github/ports/source-checkout.js';

/** How long one git command may take (a first fetch of a large repository included). */
const GIT_TIMEOUT_MS = 10 * 60_000;
/** The most output git may print before it is stopped (what `git archive` writes goes to a file, not here). */
const GIT_MAX_OUTPUT = 4 * 1024 * 1024;
/** The folders commits are extracted into, beside the cache. */
const TREE_PREFIX = 'tree-';

export interface GitCheckoutOptions {
  /** Where the bare cache of the repository and the extracted trees live (in the data directory). */
  root: string;
  /** The repository to fetch from: a git URL or a local path. */
  remote: string;
  /** The git binary. */
  git?: string;
  /** What git runs with: PATH and HOME from Sluice's environment (git asks nobody for a password whatever they say). */
  env: { PATH?: string; HOME?: string };
}

/**
 * Commits from a repository, through a bare cache in the data directory: a commit is fetched once (by the ref that
 * carries it: GitHub's refs/pull/<n>/head, a branch), then its tree is extracted with `git archive` into a folder of
 * its own, so that builds of several commits never share a working tree. Git runs without a shell, with every
 * argument given apart, and asks nobody for a password.
 */
export class GitCheckout implements SourceCheckout {
  private readonly bare: string;
  private readonly git: string;
  /** One git command on the cache at a time: fetches into one repository do not run together. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: GitCheckoutOptions) {
    this.bare = join(o.root, 'repo.git');
    this.git = o.git ?? 'git';
  }

  /** Removes the trees a stop left behind (a build cut short by a kill); answers how many. Run at start. */
  async clean(): Promise<number> {
    if (!existsSync(this.o.root)) return 0;
    const left = readdirSync(this.o.root).filter((n) => n.startsWith(TREE_PREFIX));
    for (const n of left) await rm(join(this.o.root, n), { recursive: true, force: true });
    return left.length;
  }

  async checkout(sha: string, fetchRef: string): Promise<CheckedOut> {
    if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(sha)) throw new SluiceError('BAD_REQUEST', `not a commit id: ${JSON.stringify(sha.slice(0, 80))}`);
    if (!/^refs\/[A-Za-z0-9._/-]{1,250}$/.test(fetchRef) || fetchRef.includes('..')) throw new SluiceError('BAD_REQUEST', `not a ref to fetch: ${JSON.stringify(fetchRef.slice(0, 80))}`);
    await this.serial(async () => {
      if (!existsSync(join(this.bare, 'HEAD'))) {
        mkdirSync(this.o.root, { recursive: true, mode: 0o700 });
        await this.run(['init', '--bare', '--quiet', this.bare]);
      }
      if (await this.has(sha)) return;
      const fetch = (what: string) => this.run(['--git-dir', this.bare, 'fetch', '--quiet', '--no-tags', '--', this.o.remote, what]);
      try {
        await fetch(`+${fetchRef}:refs/sluice/${fetchRef.slice('refs/'.length)}`);
      } catch (e) {
        // The ref may have moved on since the event: the commit itself is asked for (GitHub serves any reachable one).
        await fetch(sha).catch(() => {
          throw e;
        });
      }
      if (!(await this.has(sha))) throw new SluiceError('NOT_FOUND', `commit ${sha} is not in ${fetchRef} of the repository (force-pushed away since?)`);
    });
    const dir = mkdtempSync(join(this.o.root, TREE_PREFIX));
    const tar = join(dir, '.sluice-tree.tar');
    try {
      await this.run(['--git-dir', this.bare, 'archive', '--format=tar', '-o', tar, sha]);
      await run('tar', ['-xf', tar, '-C', dir], this.o.env);
      await rm(tar, { force: true });
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
  }

  private async has(sha: string): Promise<boolean> {
    return this.run(['--git-dir', this.bare, 'cat-file', '-e', `${sha}^{commit}`]).then(
      () => true,
      () => false,
    );
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private run(args: string[]): Promise<string> {
    return run(this.git, args, this.o.env);
  }
}

function run(cmd: string, args: string[], env: { PATH?: string; HOME?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: GIT_TIMEOUT_MS, maxBuffer: GIT_MAX_OUTPUT, env: { PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' } },
      (err, stdout, stderr) => {
        if (err) reject(new SluiceError('BUILD_FAILED', `${cmd} ${args.filter((a) => !a.startsWith('/')).slice(0, 4).join(' ')} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ').slice(0, 500)}`));
        else resolve(stdout);
      },
    );
  });
}
