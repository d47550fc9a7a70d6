/**
 * Test helper: headless Chromium for tests of pages qim serves (the server dashboard, the web
 * client), through playwright-core driving Debian's own `chromium` package. Nothing is downloaded:
 * never run `playwright install`; `.ci/run` installs the Debian package when it is missing.
 *
 * Usage, in a test file:
 *
 * ```ts
 * const browser = useBrowser();          // at the top of the file (or of a describe block)
 *
 * it('shows alice', async () => {
 *   const page = await browser.newPage(); // a fresh, isolated page for this test
 *   await page.goto(url);
 *   await expect.poll(() => page.getByRole('listitem').filter({ hasText: 'alice' }).count()).toBe(1);
 * });
 * ```
 *
 * `useBrowser` launches one browser per test file on first use and closes it after the file.
 * Each test's pages live in their own browser context, closed after the test; when the test failed
 * (a timeout included), each of its pages is first saved to
 * `test-results/screenshots/<test name>.png` (several pages: `<test name>-2.png`, …), and the path
 * is printed. `launchBrowser` and `saveScreenshot` are there for tests that need their own control.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach } from 'vitest';
import { REPO_ROOT } from './cli.js';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Headless, no sandbox (tests run as root in CI), and no traffic of the browser's own. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Where failed tests' screenshots go. */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-results', 'screenshots');

/** Launches Debian's Chromium headless; throws saying how to install it when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no browser at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
}

/**
 * Saves a full-page PNG of `page` as `test-results/screenshots/<name>.png` (the name made safe
 * for a file system) and returns its path.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const safe = name.replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 150) || 'screenshot';
  const path = join(SCREENSHOT_DIR, `${safe}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 5000 });
  return path;
}

/** Pages for the tests of one file; see the top of this file. */
export interface BrowserFixture {
  /** A new page in a browser context of the current test's own. */
  newPage(): Promise<Page>;
}

/** Registers the hooks that launch, screenshot and close; call once per file or describe block. */
export function useBrowser(): BrowserFixture {
  let browser: Promise<Browser> | null = null;
  let contexts: BrowserContext[] = [];

  afterEach(async (ctx) => {
    const open = contexts;
    contexts = [];
    if (ctx.task.result?.state === 'fail') {
      const pages = open.flatMap((c) => c.pages());
      for (const [i, page] of pages.entries()) {
        const name = i === 0 ? ctx.task.fullName : `${ctx.task.fullName}-${i + 1}`;
        try {
          console.error(`screenshot of the failed test: ${await saveScreenshot(page, name)}`);
        } catch (err) {
          console.error(`no screenshot of the failed test: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    await Promise.all(open.map((c) => c.close().catch(() => {})));
  });

  afterAll(async () => {
    const b = browser;
    browser = null;
    if (b !== null) await (await b.catch(() => null))?.close();
  });

  return {
    async newPage() {
      browser ??= launchBrowser();
      const context = await (await browser).newContext();
      contexts.push(context);
      return context.newPage();
    },
  };
}
