/**
 * How Sluice is wired to a GitHub repository (ADR 28), read from Sluice's own environment: the webhook secret and the
 * API token are server secrets, never in sluice.yaml. Pure.
 */
import { SluiceError } from '../kernel/errors.js';

export interface GithubSettings {
  /** The repository whose events are taken: owner/name; events of another one are refused. */
  repository: string;
  /** Verifies X-Hub-Signature-256. Never shown. */
  webhookSecret: string;
  /** Where the server fetches commits from: a git URL or a local path (a clone of the repository). */
  cloneUrl: string;
  /** The app's folder inside the repository (where its sluice.yaml is); '.' for its root. */
  appPath: string;
  /** Pushes to this branch make a release and start its journey. */
  mainBranch: string;
  /** The stage PR environments are cloned from; absent: the stage before the pipeline's last one. */
  environmentsFrom?: string;
  /** Where commit statuses and deployments go (GitHub Enterprise: https://host/api/v3). */
  apiUrl: string;
  /** Sends them; absent: nothing is reported to GitHub. Never shown. */
  token?: string;
}

/** The environment variables, each documented in the README. */
export const GITHUB_ENV = {
  webhookSecret: 'SLUICE_GITHUB_WEBHOOK_SECRET',
  repository: 'SLUICE_GITHUB_REPOSITORY',
  cloneUrl: 'SLUICE_GITHUB_CLONE_URL',
  appPath: 'SLUICE_GITHUB_APP_PATH',
  mainBranch: 'SLUICE_GITHUB_MAIN_BRANCH',
  environmentsFrom: 'SLUICE_GITHUB_ENV_FROM',
  apiUrl: 'SLUICE_GITHUB_API_URL',
  token: 'SLUICE_GITHUB_TOKEN',
} as const;

const bad = (name: string, what: string) => new SluiceError('CONFIG_INVALID', `${name}: ${what}`);

/**
 * The GitHub settings from Sluice's environment: undefined when no webhook secret is set (the integration is off);
 * CONFIG_INVALID naming the variable for one that is wrong.
 */
export function githubSettingsFrom(env: Readonly<Record<string, string | undefined>>): GithubSettings | undefined {
  const get = (k: keyof typeof GITHUB_ENV) => {
    const v = env[GITHUB_ENV[k]];
    return v === undefined || v === '' ? undefined : v;
  };
  const webhookSecret = get('webhookSecret');
  if (webhookSecret === undefined) return undefined;
  if (webhookSecret.length < 16 || webhookSecret.length > 256) throw bad(GITHUB_ENV.webhookSecret, 'must be 16 to 256 characters (a long random string, also set on the GitHub webhook)');
  const repository = get('repository');
  if (repository === undefined || !/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/.test(repository))
    throw bad(GITHUB_ENV.repository, `must be the repository as owner/name, not ${JSON.stringify(repository ?? '')}`);
  const appPath = get('appPath') ?? '.';
  if (appPath.startsWith('/') || appPath.split('/').includes('..') || appPath.length > 1024) throw bad(GITHUB_ENV.appPath, `must be a folder inside the repository, relative to its root, not ${JSON.stringify(appPath)}`);
  const mainBranch = get('mainBranch') ?? 'main';
  if (!/^[A-Za-z0-9._/-]{1,255}$/.test(mainBranch)) throw bad(GITHUB_ENV.mainBranch, `is not a branch name: ${JSON.stringify(mainBranch)}`);
  const apiUrl = (get('apiUrl') ?? 'https://api.github.com').replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(apiUrl);
  } catch {
    throw bad(GITHUB_ENV.apiUrl, `is not a URL: ${JSON.stringify(apiUrl)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(GITHUB_ENV.apiUrl, 'must be an http(s) URL');
  const cloneUrl = get('cloneUrl') ?? `https://github.com/${repository}.git`;
  if (cloneUrl.startsWith('-') || cloneUrl.length > 2048) throw bad(GITHUB_ENV.cloneUrl, `is not a git URL or path: ${JSON.stringify(cloneUrl.slice(0, 80))}`);
  const token = get('token');
  const environmentsFrom = get('environmentsFrom');
  const optional = { ...(token ? { token } : {}), ...(environmentsFrom ? { environmentsFrom } : {}) };
  return { repository, webhookSecret, cloneUrl, appPath, mainBranch, apiUrl, ...optional };
}
