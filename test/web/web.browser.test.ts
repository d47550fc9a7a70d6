/**
 * The web client end to end in a real headless Chromium: a real index server and `qim web`'s
 * service in this process, two browser contexts as two users.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBrowser } from '../helpers/browser.js';
import { V2Peer } from '../helpers/v2-peer.js';
import { assertPageBuilt, conversationLines as lines, logIn as logInWith, onlineContact as contact } from '../helpers/web-page.js';
import { useWebService } from '../helpers/web.js';

beforeAll(assertPageBuilt);

// The service is registered first so that its teardown runs last (hooks unwind like a stack):
// a failed test's screenshot shows the page as it failed, not after the service stopped.
const fx = useWebService();
const browser = useBrowser();

const logIn = (page: Page, name: string): Promise<void> => logInWith(fx, page, name);

describe('qim web in a browser', () => {
  it('two users see each other, chat both ways in Chinese with emoji, keep history across a reload, and log out', { timeout: 60_000 }, async () => {
    const ming = await browser.newPage();
    const bob = await browser.newPage();
    await logIn(ming, '小明');
    await logIn(bob, 'Bob');

    // Each sees the other in the online list, with a key fingerprint.
    await contact(ming, 'Bob').waitFor();
    await contact(bob, '小明').waitFor();
    expect(await contact(ming, 'Bob').getByRole('button').getAttribute('title')).toMatch(/key [0-9a-f]{4} /);

    // 小明 writes to Bob: delivered.
    await contact(ming, 'Bob').getByRole('button').click();
    const mingBox = ming.getByLabel('Message');
    await mingBox.fill('你好，Bob！今天吃饭了吗？😀');
    await mingBox.press('Enter');
    const sent = lines(ming).filter({ hasText: '你好，Bob！今天吃饭了吗？😀' });
    await sent.getByText('delivered', { exact: true }).waitFor();
    // The list says how the session travels: straight to Bob (one machine, no NAT in between).
    await contact(ming, 'Bob').getByText('direct', { exact: true }).waitFor();

    // Bob has no conversation open: an unread badge on 小明, and the title flashes.
    await contact(bob, '小明').getByLabel('1 unread').waitFor();
    await expect.poll(() => bob.title(), { timeout: 5000 }).toMatch(/^\(1\) new message — qim$/);

    // Bob opens it, sees the message, and 小明 sees him typing.
    await contact(bob, '小明').getByRole('button').click();
    await lines(bob).filter({ hasText: '你好，Bob！今天吃饭了吗？😀' }).waitFor();
    await expect.poll(() => contact(bob, '小明').getByLabel(/unread/).count()).toBe(0);
    const bobBox = bob.getByLabel('Message');
    await bobBox.fill('吃了！🍜');
    await ming.getByText('Bob is typing…').waitFor();

    // Bob answers with the Send button: delivered, and 小明 reads it in the open conversation.
    await bob.getByRole('button', { name: 'Send' }).click();
    await lines(bob).filter({ hasText: '吃了！🍜' }).getByText('delivered', { exact: true }).waitFor();
    await lines(ming).filter({ hasText: '吃了！🍜' }).waitFor();
    expect(await bobBox.inputValue()).toBe('');

    // Bob goes away: 小明's list says so.
    await bob.getByLabel('Status').selectOption('away');
    await contact(ming, 'Bob').getByText('away', { exact: true }).waitFor();

    // A reload keeps the login, the open conversation and its history.
    await ming.reload();
    await ming.getByRole('button', { name: 'Log out' }).waitFor();
    await lines(ming).filter({ hasText: '你好，Bob！今天吃饭了吗？😀' }).getByText('delivered', { exact: true }).waitFor();
    await lines(ming).filter({ hasText: '吃了！🍜' }).waitFor();
    await contact(ming, 'Bob').waitFor();

    // Bob logs out: gone from 小明's list, and back at the login form.
    await bob.getByRole('button', { name: 'Log out' }).click();
    await bob.getByRole('button', { name: 'Log in' }).waitFor();
    await expect.poll(() => contact(ming, 'Bob').count(), { timeout: 10_000 }).toBe(0);
    expect(fx.web.hub.size).toBe(1);
  });

  it('keeps drafts per conversation and works at phone width with a back button', { timeout: 60_000 }, async () => {
    const a = await browser.newPage();
    const b = await browser.newPage();
    const c = await browser.newPage();
    await a.setViewportSize({ width: 380, height: 700 });
    await logIn(a, '阿强');
    await logIn(b, 'Li Lei');
    await logIn(c, '韩梅梅');
    await contact(a, 'Li Lei').waitFor();
    await contact(a, '韩梅梅').waitFor();

    // Phone width: the list, then the conversation alone, then back.
    await contact(a, 'Li Lei').getByRole('button').click();
    await a.getByRole('button', { name: 'Back to the online list' }).waitFor();
    expect(await a.getByRole('list', { name: /Online/ }).isVisible()).toBe(false);
    await a.getByLabel('Message').fill('草稿一');
    await a.getByRole('button', { name: 'Back to the online list' }).click();
    await contact(a, '韩梅梅').getByRole('button').click();
    await a.getByLabel('Message').fill('draft two ✍️');

    // Two tabs; switching keeps each draft.
    await a.getByRole('tab', { name: /Li Lei/ }).click();
    await expect.poll(() => a.getByLabel('Message').inputValue()).toBe('草稿一');
    await a.getByRole('tab', { name: /韩梅梅/ }).click();
    await expect.poll(() => a.getByLabel('Message').inputValue()).toBe('draft two ✍️');

    // Shift+Enter is a new line, Enter sends.
    const box = a.getByLabel('Message');
    await box.press('Shift+Enter');
    await box.pressSequentially('line 2');
    await box.press('Enter');
    await contact(c, '阿强').getByLabel('1 unread').waitFor();
    await contact(c, '阿强').getByRole('button').click();
    await expect.poll(async () => (await lines(c).first().locator('.bubble').textContent()) ?? '').toBe('draft two ✍️\nline 2');
  });

  it('ends an undeliverable message failed, with a warning and a Retry that sends it again', { timeout: 60_000 }, async () => {
    // A qim user that logs in but never answers a handshake: no secure session can start.
    const mute = await V2Peer.create(fx.server.endpoint.port);
    try {
      await mute.login('mute');
      const page = await browser.newPage();
      await logIn(page, 'Anna');
      await contact(page, 'mute').getByRole('button').click();
      await page.getByLabel('Message').fill('在吗？');
      await page.getByRole('button', { name: 'Send' }).click();
      const line = lines(page).filter({ hasText: '在吗？' });
      await line.getByText('sending', { exact: true }).waitFor();
      await line.getByText('failed', { exact: true }).waitFor({ timeout: 20_000 });
      await page.getByRole('alert').filter({ hasText: 'No secure session' }).waitFor();

      await line.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(() => lines(page).filter({ hasText: '在吗？' }).count()).toBe(2);
      await lines(page).filter({ hasText: '在吗？' }).last().getByText('sending', { exact: true }).waitFor();

      await page.getByRole('button', { name: /Dismiss warning/ }).first().click();
      await expect.poll(() => page.getByRole('alert').filter({ hasText: 'No secure session' }).count()).toBe(0);
    } finally {
      await mute.raw.close();
    }
  });
});
