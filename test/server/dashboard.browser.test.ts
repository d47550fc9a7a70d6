/**
 * The dashboard in headless Chromium, against a real server: users logging in and out over UDP
 * appear and leave live, found by their roles and labels as a screen reader would; hostile names
 * stay text; the page's strict Content-Security-Policy costs it nothing.
 */
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { QimServer } from '../../src/index.js';
import { Dashboard } from '../../src/server/http/dashboard.js';
import { useBrowser } from '../helpers/browser.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';

const browser = useBrowser();
let server: QimServer | undefined;
let dashboard: Dashboard | undefined;
const peers: RawPeer[] = [];

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await server?.stop();
  await dashboard?.close();
  server = dashboard = undefined;
});

async function start(): Promise<{ port: number; url: string }> {
  server = new QimServer({ host: '127.0.0.1', port: 0 });
  dashboard = new Dashboard(server);
  await dashboard.listen();
  await server.start();
  return { port: server.endpoint.port, url: dashboard.url };
}

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.bind('127.0.0.1');
  peers.push(p);
  return p;
}

/** Opens the dashboard and waits until its live stream is connected; collects page errors. */
async function openDashboard(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(url);
  await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  return { page, problems };
}

const usersList = (page: Page) => page.getByRole('list', { name: 'Online users' });
const logItems = (page: Page) => page.getByRole('log', { name: 'Event log' }).getByRole('listitem');

describe('the dashboard in Chromium', () => {
  it('shows a user logging in and out live, without reloading', async () => {
    const { port, url } = await start();
    const { page, problems } = await openDashboard(url);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('qim server');
    expect(await usersList(page).getByRole('listitem').count()).toBe(0);
    // Anything set on this window survives only if the page is never reloaded.
    await page.evaluate('window.__sameDocument = true');

    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const item = usersList(page).getByRole('listitem').filter({ hasText: 'alice' });
    await item.waitFor({ timeout: 10_000 });
    expect(await item.textContent()).toMatch(new RegExp(`^alice classic online ${alice.endpoint.replace(/\./g, '\\.')} since \\d\\d:\\d\\d:\\d\\d$`));
    await page.getByRole('heading', { name: 'Online users: 1' }).waitFor();
    await logItems(page).filter({ hasText: /\blogin name=alice endpoint=/ }).waitFor();
    await expect.poll(() => page.locator('[data-counter="logins"]').textContent(), { timeout: 5000 }).toBe('1');
    await expect.poll(() => page.locator('[data-counter="online-classic"]').textContent(), { timeout: 5000 }).toBe('1');

    await alice.send(`logout,alice,${alice.endpoint}`, port);
    await item.waitFor({ state: 'detached', timeout: 10_000 });
    await page.getByRole('heading', { name: 'Online users: 0' }).waitFor();
    await logItems(page).filter({ hasText: /\blogout name=alice endpoint=\S+ reason=logout online=0/ }).waitFor();
    await expect.poll(() => page.locator('[data-counter="logouts"]').textContent(), { timeout: 5000 }).toBe('1');

    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(problems).toEqual([]);
  });

  it('shows hostile names as text, both from the first snapshot and live', async () => {
    const { port, url } = await start();
    const before = '<img src=x onerror=alert(1)>';
    const after = '<script>alert(2)</script>';
    await rawLogin(await peer(), before, port);
    await rawLogin(await peer(), 'bob', port);

    const { page, problems } = await openDashboard(url);
    const users = usersList(page).getByRole('listitem');
    await users.filter({ hasText: before }).waitFor();
    await rawLogin(await peer(), after, port);
    await users.filter({ hasText: after }).waitFor({ timeout: 10_000 });
    expect(await users.count()).toBe(3);
    expect(await usersList(page).locator('.name').allTextContents()).toEqual([before, 'bob', after]);
    expect(await page.locator('main img, main script').count()).toBe(0);
    await logItems(page).filter({ hasText: /^\d\d:\d\d:\d\d login name=<script>alert\(2\)<\/script> endpoint=/ }).waitFor();
    expect(problems).toEqual([]);
  });
});
