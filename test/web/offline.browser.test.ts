/**
 * Writing to someone who is offline, in the web client in a real headless Chromium: the Recent
 * list shows who has history here and is not online, a message to them is left at the server
 * (`stored`), reaches them once when they log in again, and turns `delivered` for the sender.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useBrowser } from '../helpers/browser.js';
import { assertPageBuilt, conversationLines as lines, logIn, logInHere, onlineContact as online, recentContact as recent } from '../helpers/web-page.js';
import { useWebService } from '../helpers/web.js';

beforeAll(assertPageBuilt);

// The service first, so that its teardown runs after the failed test's screenshots.
const fx = useWebService();
const browser = useBrowser();

const LEFT = '你不在的时候…✉️';

describe('qim web, offline messages', () => {
  it('lists a peer who logged out under Recent, leaves a message for them, and it reaches them once', { timeout: 60_000 }, async () => {
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    await logIn(fx, alice, 'alice');
    await logIn(fx, bob, 'bob');

    // They chat once while both are online.
    await online(alice, 'bob').getByRole('button').click();
    await alice.getByLabel('Message').fill('hi bob 👋');
    await alice.getByLabel('Message').press('Enter');
    await lines(alice).filter({ hasText: 'hi bob 👋' }).getByText('delivered', { exact: true }).waitFor();
    // Online people are not under Recent (there is no Recent list at all yet).
    expect(await alice.getByRole('list', { name: 'Recent conversations' }).count()).toBe(0);
    await alice.getByRole('button', { name: 'Close the conversation with bob' }).click();

    // bob logs out: alice sees him leave the online list and appear under Recent, with the time
    // of their last line.
    await bob.getByRole('button', { name: 'Log out' }).click();
    await bob.getByRole('button', { name: 'Log in' }).waitFor();
    await expect.poll(() => online(alice, 'bob').count(), { timeout: 10_000 }).toBe(0);
    await recent(alice, 'bob').waitFor();
    expect(await recent(alice, 'bob').locator('time').textContent()).toMatch(/^\d\d:\d\d$/);

    // alice opens him from Recent: the history comes from the store, and she writes.
    await recent(alice, 'bob').getByRole('button').click();
    await lines(alice).filter({ hasText: 'hi bob 👋' }).waitFor();
    await alice.getByText('bob is not online').waitFor();
    await alice.getByLabel('Message').fill(LEFT);
    await alice.getByRole('button', { name: 'Send' }).click();
    const left = lines(alice).filter({ hasText: LEFT });
    await left.getByText('stored (they are offline)', { exact: true }).waitFor({ timeout: 10_000 });

    // bob logs in again in his page: the message waits for him, once, unread in alice's entry.
    await logInHere(bob, 'bob');
    await online(bob, 'alice').getByLabel('1 unread').waitFor({ timeout: 10_000 });
    await online(bob, 'alice').getByRole('button').click();
    await lines(bob).filter({ hasText: LEFT }).waitFor();

    // alice's line turns delivered; bob is back in her online list and gone from Recent.
    await left.getByText('delivered', { exact: true }).waitFor({ timeout: 10_000 });
    await online(alice, 'bob').waitFor();
    await expect.poll(() => recent(alice, 'bob').count()).toBe(0);

    // Exactly once, in bob's page and after a reload (from his store).
    expect(await lines(bob).filter({ hasText: LEFT }).count()).toBe(1);
    await bob.reload();
    await lines(bob).filter({ hasText: 'hi bob 👋' }).waitFor();
    await lines(bob).filter({ hasText: LEFT }).waitFor();
    expect(await lines(bob).filter({ hasText: LEFT }).count()).toBe(1);
  });
});
