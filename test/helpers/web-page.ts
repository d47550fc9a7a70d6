/**
 * Test helper for the web client's page in a browser (see `browser.ts` and `web.ts`): a check
 * that the built page is there and current, logging in through the form, and the page's lists.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { DEFAULT_STATIC_DIR } from '../../src/web/static-files.js';
import { REPO_ROOT } from './cli.js';
import type { WebFixture } from './web.js';

/** Throws unless `dist/web` holds a page built after the last change under `web/` (call in `beforeAll`). */
export function assertPageBuilt(): void {
  const index = join(DEFAULT_STATIC_DIR, 'index.html');
  if (!existsSync(index)) throw new Error(`the web page is not built (${DEFAULT_STATIC_DIR} is missing): run \`npm run build\` first`);
  const newer = readdirSync(join(REPO_ROOT, 'web'), { recursive: true, withFileTypes: true }).find(
    (f) => f.isFile() && statSync(join(f.parentPath, f.name)).mtimeMs > statSync(index).mtimeMs,
  );
  if (newer !== undefined) throw new Error(`the built page is older than web/${newer.name}: run \`npm run build\` first`);
}

/** Opens the page and logs in as `name` (the Server field is prefilled with the default). */
export async function logIn(fx: WebFixture, page: Page, name: string): Promise<void> {
  await page.goto(fx.web.url);
  const serverField = page.getByLabel('Server');
  await serverField.waitFor();
  expect(await serverField.inputValue()).toBe(fx.serverText);
  await logInHere(page, name);
}

/** Logs in as `name` from the login form already on `page` (after a logout). */
export async function logInHere(page: Page, name: string): Promise<void> {
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** The online list's item for `name`. */
export function onlineContact(page: Page, name: string) {
  return page.getByRole('list', { name: /Online/ }).getByRole('listitem').filter({ hasText: name });
}

/** The Recent list's item for `name`. */
export function recentContact(page: Page, name: string) {
  return page.getByRole('list', { name: 'Recent conversations' }).getByRole('listitem').filter({ hasText: name });
}

/** The open conversation's lines. */
export function conversationLines(page: Page) {
  return page.getByRole('list', { name: /^Conversation with/ }).getByRole('listitem');
}
