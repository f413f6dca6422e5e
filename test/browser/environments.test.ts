import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, type Dashboard, expectNoSeriousA11yViolations, launchBrowser, login, newContext, screenshot, startDashboard, uiMissing } from './harness.js';

// The environments view (ADR 27) in Chromium against a real sluice up: a deployer makes an environment through the
// page, its address answers with the build, the delivery lead approves it through the page, staging then runs the
// build and the environment is gone from the list; each role sees only the buttons it may use.
const PIPELINE = `app: shop
artifact: { build: node build.js, output: dist }
defaults:
  target: local
  local: { start: node server.js, instances: 1, health: { path: /healthz, timeout: 20s }, stopTimeout: 2s }
stages:
  staging:
    autoPromote: false
  prod:
    after: staging
    approval: true
`;

/** Waits until `check` holds, polling. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const skipAll = browserMissing();

describe('the dashboard’s environments in Chromium, against a real sluice up', { skip: skipAll, timeout: 300_000 }, () => {
  let browser: Browser;
  let d: Dashboard;
  const tokens: Record<string, string> = {};
  const pages: Page[] = [];
  const stageOf = async (stage: string) => (await d.call<{ journey: { stages: Record<string, string> } | null }>('GET', '/api/v1/releases/1.0.0')).json.journey?.stages[stage];
  /** The version a host's home page shows through the router. */
  const served = (host: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: d.up.routerPort, path: '/', headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(/id="version">([^<]+)</.exec(text)?.[1] ?? `${res.statusCode}`));
      });
      req.on('error', reject);
      req.end();
    });
  const open = async (role: 'viewer' | 'deployer' | 'approver') => {
    const page = await (await newContext(browser)).newPage();
    pages.push(page);
    await login(page, d.url, tokens[role]!);
    await page.goto(`${d.url}/environments`);
    await page.getByRole('heading', { name: 'Environments', level: 1 }).waitFor();
    return page;
  };
  const row = (page: Page, name: string) => page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${name}\\b`) }) });

  before(async () => {
    browser = await launchBrowser();
    d = await startDashboard({ pipeline: PIPELINE });
    for (const role of ['viewer', 'deployer', 'approver'] as const) tokens[role] = (await d.token(role, role)).token;
    assert.equal((await d.call('POST', '/api/v1/releases', { version: '1.0.0' }, tokens.deployer)).status, 201);
    await until('1.0.0 to await promotion into staging', async () => (await stageOf('staging')) === 'awaiting-promotion');
  });
  after(async () => {
    await browser?.close();
    await d?.down();
  });

  it('[needs UI] a deployer makes an environment through the page; it answers at its address with the build; the lead approves it; staging runs the build and it is gone', { skip: uiMissing() }, async () => {
    const dev = await open('deployer');
    const lead = await open('approver');
    await dev.getByLabel('Name').fill('pr-5');
    await dev.getByLabel('Clone of').selectOption('staging');
    await dev.getByLabel('Release').selectOption('1.0.0');
    await dev.getByRole('button', { name: 'Create environment' }).click();
    await dev.getByText(/pr-5 serves 1\.0\.0 at http:\/\/pr-5\.shop\.localhost:\d+/).waitFor({ timeout: 60_000 });

    // The lead's page follows through the event stream, without a reload.
    const leadRow = row(lead, 'pr-5');
    await leadRow.waitFor({ timeout: 15_000 });
    const link = dev.getByRole('link', { name: /^http:\/\/pr-5\.shop\.localhost:\d+/ });
    const href = await link.getAttribute('href');
    assert.match(href ?? '', /^http:\/\/pr-5\.shop\.localhost:\d+/);
    assert.equal(await served(new URL(href!).host.replace(/:\d+$/, '')), '1.0.0', 'the router serves it at its own host');
    // The browser opens the address itself (Chromium resolves *.localhost to loopback).
    const app = await (await newContext(browser)).newPage();
    pages.push(app);
    await app.goto(href!);
    assert.equal((await app.locator('#version').textContent())?.trim(), '1.0.0', 'the environment answers with the build');
    await expectNoSeriousA11yViolations(dev, 'the environments page');

    // Buttons by role: the deployer changes but does not review; the lead reviews but does not make or destroy; a viewer only looks.
    const devRow = row(dev, 'pr-5');
    assert.equal(await devRow.getByRole('button', { name: 'Approve pr-5' }).count(), 0);
    assert.equal(await devRow.getByRole('button', { name: 'Destroy pr-5' }).count(), 1);
    assert.equal(await leadRow.getByRole('button', { name: 'Destroy pr-5' }).count(), 0);
    assert.equal(await lead.getByRole('button', { name: 'Create environment' }).count(), 0);
    const viewer = await open('viewer');
    await row(viewer, 'pr-5').waitFor();
    assert.equal(await viewer.getByRole('button').filter({ hasText: /Approve|Request changes|Pin|Extend|Destroy|Create environment/ }).count(), 0);

    // Pin, then unpin: the time left says so, on the lead's page too.
    await devRow.getByRole('button', { name: 'Pin pr-5' }).click();
    await leadRow.getByRole('cell', { name: 'pinned' }).waitFor();
    await devRow.getByRole('button', { name: 'Unpin pr-5' }).click();
    await leadRow.getByRole('cell', { name: /^\d+ d \d+ h$/ }).waitFor();

    // A request for changes needs a comment, and is shown with it.
    await leadRow.getByRole('button', { name: 'Request changes to pr-5' }).click();
    const ask = lead.getByRole('dialog', { name: /Request changes to pr-5/ });
    await ask.getByRole('button', { name: 'Confirm' }).click();
    // The browser's own check stops the empty comment; the dialog stays open.
    assert.equal(await ask.getByLabel('Comment').evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing), true);
    assert.equal(await ask.isVisible(), true);
    await ask.getByLabel('Comment').fill('the basket total is wrong');
    await ask.getByRole('button', { name: 'Confirm' }).click();
    await row(dev, 'pr-5').getByText('changes requested by approver').waitFor();
    await row(dev, 'pr-5').getByText('“the basket total is wrong”').waitFor();
    assert.equal(await stageOf('staging'), 'awaiting-promotion', 'nothing promoted');

    // The approve: promoted to staging, destroyed, gone from both pages.
    await leadRow.getByRole('button', { name: 'Approve pr-5' }).click();
    const approve = lead.getByRole('dialog', { name: /Approve pr-5 \(1\.0\.0\)/ });
    await approve.getByLabel('Comment').fill('ship it');
    await approve.getByRole('button', { name: 'Confirm' }).click();
    await lead.getByText(/^pr-5: 1\.0\.0 approved; promoted to staging.*; environment destroyed\.$/).waitFor({ timeout: 30_000 });
    await row(lead, 'pr-5').waitFor({ state: 'detached' });
    await row(dev, 'pr-5').waitFor({ state: 'detached', timeout: 15_000 });
    await screenshot(lead, 'environments-approved');
    await until('staging to pass 1.0.0', async () => (await stageOf('staging')) === 'passed');
    assert.equal(await served('staging.shop.localhost'), '1.0.0', 'staging runs the approved build');
    assert.equal(await served('pr-5.shop.localhost'), '404', 'the environment answers no more');
    assert.deepEqual((await d.call('GET', '/api/v1/environments')).json, []);
  });
});
