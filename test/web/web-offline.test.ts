/**
 * Offline messages over the web client's page protocol (no browser): the `recent` list, a message
 * left for someone offline (`stored`, then `delivered`), and what waits at the server for a login
 * (their message, our receipt) recorded even though it arrives before the login has resolved.
 */
import { describe, expect, it } from 'vitest';
import type { PageEvent, PageSocket } from '../helpers/page-socket.js';
import { until } from '../helpers/wait.js';
import { useWebService } from '../helpers/web.js';

const fx = useWebService();

/** Generous: a loaded machine (a benchmark alongside) slows logins and the server down. */
const WAIT_MS = 20_000;

/** A tab logged in as `name`, after its `ready` and first `recent`. */
async function tab(name: string): Promise<{ tab: PageSocket; ready: PageEvent; recent: PageEvent }> {
  const t = await fx.tab();
  t.send({ type: 'login', server: fx.serverText, name });
  const ready = await t.next('ready', {}, WAIT_MS);
  return { tab: t, ready, recent: await t.next('recent', {}, WAIT_MS) };
}

interface Line {
  id: number;
  peer: string;
  direction: string;
  text: string;
  state: string;
}

/** The newest page of history with `peer`, as the tab asks for it. */
async function history(t: PageSocket, peer: string): Promise<Line[]> {
  t.send({ type: 'history', peer });
  return (await t.next('history', { peer }, WAIT_MS)).entries as Line[];
}

/** Asks for the history with `peer` until `check` holds (what waits at the server comes in its own time). */
async function historyUntil(t: PageSocket, peer: string, check: (lines: Line[]) => boolean, what: string): Promise<Line[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const lines = await history(t, peer);
    if (check(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; history: ${JSON.stringify(lines)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const online = (name: string): boolean => fx.server.directory.byName(name) !== undefined;

describe('qim web, offline messages', () => {
  it('pushes the recent conversations after ready, and again, newest first, when a line is added', { timeout: 60_000 }, async () => {
    const { tab: a, recent } = await tab('alice');
    expect(recent.conversations).toEqual([]);
    await tab('bob');
    await tab('carol');
    await a.next('joined', {}, WAIT_MS);
    const before = Date.now();
    a.send({ type: 'send', to: 'bob', text: 'one' });
    expect((await a.next('recent', {}, WAIT_MS)).conversations).toMatchObject([{ peer: 'bob' }]);
    a.send({ type: 'send', to: 'carol', text: 'two' });
    const both = (await a.next('recent', {}, WAIT_MS)).conversations as { peer: string; at: number }[];
    expect(both.map((c) => c.peer)).toEqual(['carol', 'bob']);
    expect(both.every((c) => c.at >= before && c.at <= Date.now())).toBe(true);

    // A tab that attaches later gets the list from the store, after its ready.
    const again = await tab('alice');
    expect((again.recent.conversations as { peer: string }[]).map((c) => c.peer)).toEqual(['carol', 'bob']);
  });

  it('leaves a message for someone offline; it reaches them at their login and its receipt reaches the sender at hers', { timeout: 60_000 }, async () => {
    const a = await tab('alice');
    const b = await tab('bob');
    b.tab.send({ type: 'logout' });
    await b.tab.next('logged-out', {}, WAIT_MS);
    await until(() => !online('bob'), 'bob to log out', WAIT_MS);
    // Alice hears of it with the next presence batch: only then is bob offline to her.
    await a.tab.next('left', { name: 'bob' }, WAIT_MS);

    a.tab.send({ type: 'send', to: 'bob', text: '你不在的时候…✉️' });
    expect((await a.tab.next('entry', {}, WAIT_MS)).entry).toMatchObject({ peer: 'bob', direction: 'out', state: 'sending' });
    expect((await a.tab.next('entry', {}, WAIT_MS)).entry).toMatchObject({ peer: 'bob', state: 'stored' });
    a.tab.send({ type: 'logout' });
    await a.tab.next('logged-out', {}, WAIT_MS);
    await until(() => !online('alice'), 'alice to log out', WAIT_MS);

    // bob logs in: the message was waiting for him; it is in his history once, and unread.
    const back = await tab('bob');
    const got = await historyUntil(back.tab, 'alice', (l) => l.some((e) => e.text === '你不在的时候…✉️'), "alice's message in bob's history");
    expect(got.filter((e) => e.text === '你不在的时候…✉️')).toMatchObject([{ direction: 'in', state: 'received' }]);
    const unreadFromAlice = (m: PageEvent): boolean =>
      (m.type === 'unread' && m.peer === 'alice' && m.count === 1) || (m.type === 'ready' && (m.unread as Record<string, number>).alice === 1);
    await until(() => back.tab.messages.some(unreadFromAlice), 'an unread count for alice', WAIT_MS);

    // alice logs in again: the receipt was waiting for her; her line is delivered.
    const later = await tab('alice');
    const mine = await historyUntil(later.tab, 'bob', (l) => l.some((e) => e.state === 'delivered'), "alice's line to turn delivered");
    expect(mine.map((e) => [e.text, e.state])).toEqual([['你不在的时候…✉️', 'delivered']]);
    expect((later.recent.conversations as { peer: string }[]).map((c) => c.peer)).toEqual(['bob']);
    expect((await history(back.tab, 'alice')).filter((e) => e.text === '你不在的时候…✉️')).toHaveLength(1);
  });
});
