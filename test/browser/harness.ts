import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { api, copyExample, REPO, startUp, type UpProcess } from '../helpers/sluice-process.js';

/** Debian's Chromium, which `.ci/run` installs (`CHROMIUM_PATH` names another). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** The dashboard's production build that `sluice up` serves. */
export const WEB_INDEX = join(REPO, 'dist', 'web', 'index.html');
export const SCREENSHOTS = join(REPO, 'test-results', 'screenshots');

/**
 * Why the browser suite cannot run here, or undefined when it can. Without Chromium it is skipped with this message,
 * except in CI (`CI` set), where a missing browser is a failure: CI installs it.
 */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `no Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(`${why}; CI must install it`);
  console.log(`# browser suite skipped: ${why}`);
  return why;
}

/**
 * Why a test that drives the web app's pages cannot run yet, or undefined. Such tests are named "[needs UI] …": they
 * are written against the dashboard's UI conventions (see README, Dashboard) and pass once the app is built.
 */
export function uiMissing(): string | undefined {
  return existsSync(WEB_INDEX) ? undefined : `needs the web app: ${WEB_INDEX} is not built yet (npm run build:web)`;
}

/** Chromium as the tests drive it: headless, no sandbox (CI runs as root), nothing fetched from the internet. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A running `sluice up` on the example, on free ports, for the browser to use. */
export interface Dashboard {
  up: UpProcess;
  app: string;
  url: string;
  admin: string;
  /** A new token of a role, made by the admin token. */
  token(name: string, role: 'viewer' | 'deployer' | 'approver' | 'admin', expires?: string): Promise<{ token: string; id: string }>;
  /** A call to the API with the admin token (or another). */
  call<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: T }>;
  down(): Promise<void>;
}

/**
 * Starts a real `sluice up` (its own process) on a copy of examples/shop, on free ports. `pipeline`: a sluice.yaml
 * written over the example's, for a test that needs a gated stage or a canary; `edit` changes the copy's files.
 */
export async function startDashboard(opts: { pipeline?: string; edit?: (app: string) => void } = {}): Promise<Dashboard> {
  const app = copyExample();
  if (opts.pipeline !== undefined) writeFileSync(join(app, 'sluice.yaml'), opts.pipeline);
  opts.edit?.(app);
  const data = join(app, '.sluice');
  const up = await startUp(app, data);
  const admin = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const call = <T>(method: string, path: string, body?: unknown, token = admin) => api<T>(up.apiUrl, method, path, body, token);
  return {
    up,
    app,
    url: up.apiUrl,
    admin,
    call,
    async token(name, role, expires) {
      const r = await call<{ token: string; id: string }>('POST', '/api/v1/tokens', { name, role, ...(expires ? { expires } : {}) });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json;
    },
    async down() {
      await up.down();
      rmSync(join(app, '..'), { recursive: true, force: true });
    },
  };
}

/** A fresh browser context on the dashboard's address, at a desktop size. */
export function newContext(browser: Browser, opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 }, colorScheme: opts.dark ? 'dark' : 'light' });
}

/** Logs in through the login page as a person would: the "Token" field, then "Log in"; waits to leave the page. */
export async function login(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 10_000 });
}

/** Runs axe-core in the page: fails naming each serious or critical violation, where and how to fix it. */
export async function expectNoSeriousA11yViolations(page: Page, what = page.url()): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const lines = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`);
  assert.equal(bad.length, 0, `axe found ${bad.length} serious or critical violation(s) on ${what}:\n  ${lines.join('\n  ')}`);
}

/** Saves a full-page screenshot to test-results/screenshots/<name>.png and answers its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The region of a stage on the board ("Stage <name>"). */
export const stageRegion = (page: Page, stage: string) => page.getByRole('region', { name: `Stage ${stage}` });
