/**
 * The web client's logins over its page protocol (a WebSocket per tab, no browser): tabs of one
 * user share one login; it outlives its last tab by the grace period; history and pins live in
 * the profile shared with `qim chat`; unread counts; logout for real.
 */
import { describe, expect, it } from 'vitest';
import { Profile } from '../../src/client/profile.js';
import type { PageEvent, PageSocket } from '../helpers/page-socket.js';
import { until } from '../helpers/wait.js';
import { useWebService } from '../helpers/web.js';

const fx = useWebService({ graceMs: 1500, maxLogins: 3 });

/** A tab logged in as `name`; resolves with the tab and its `ready` message. */
async function tab(name: string): Promise<{ tab: PageSocket; ready: PageEvent }> {
  const t = await fx.tab();
  t.send({ type: 'login', server: fx.serverText, name });
  return { tab: t, ready: await t.next('ready') };
}

const online = (name: string): boolean => fx.server.directory.byName(name) !== undefined;

describe('qim web logins', () => {
  it('chats between two tabs as two users: entries with delivery, unread counts, history from the store', async () => {
    const { tab: a } = await tab('小明');
    const { tab: b, ready } = await tab('Bob');
    expect(ready).toMatchObject({ me: { name: 'Bob', server: fx.serverText, status: 'online' }, state: 'online' });
    await a.next('joined', {});
    a.send({ type: 'send', to: 'Bob', text: '你好 😀' });
    const sending = await a.next('entry');
    expect(sending.entry).toMatchObject({ peer: 'Bob', direction: 'out', text: '你好 😀', state: 'sending', encrypted: true });
    expect((await a.next('entry')).entry).toMatchObject({ state: 'delivered' });
    expect((await b.next('entry')).entry).toMatchObject({ peer: '小明', direction: 'in', text: '你好 😀', state: 'received' });
    expect(await b.next('unread')).toMatchObject({ peer: '小明', count: 1 });

    b.send({ type: 'read', peer: '小明' });
    expect(await b.next('unread')).toMatchObject({ peer: '小明', count: 0 });
    b.send({ type: 'history', peer: '小明' });
    const history = await b.next('history');
    expect(history).toMatchObject({ peer: '小明', more: false });
    expect(history.entries).toMatchObject([{ text: '你好 😀', direction: 'in' }]);

    // The profile is the one `qim chat` opens for the same name: same history, server pinned.
    const profile = Profile.open(fx.profiles, 'Bob');
    try {
      expect(profile.store.history(fx.serverText, '小明').map((e) => e.text)).toEqual(['你好 😀']);
      expect(profile.serverKey(fx.serverText)).toBeDefined();
    } finally {
      profile.close();
    }
  });

  it('shares one login between tabs of a user, keeps it through a reload, and ends it after the grace period', async () => {
    const first = await tab('alice');
    const second = await tab('alice');
    expect(fx.web.hub.size).toBe(1);
    expect(second.ready.me).toEqual(first.ready.me);
    expect(fx.server.counters.logins).toBe(1);

    // A reload: the tab goes, a new one comes within the grace period and finds the same login.
    first.tab.close();
    second.tab.close();
    const reloaded = await tab('alice');
    expect(reloaded.ready.me).toEqual(first.ready.me);
    expect(fx.server.counters.logins).toBe(1);

    // The last tab goes: after the grace period the login ends for real.
    reloaded.tab.close();
    await until(() => !online('alice') && fx.web.hub.size === 0, 'alice to be logged out after the grace period', 5000);
  });

  it('logs out for real from any tab, and tells the others', async () => {
    const one = await tab('alice');
    const two = await tab('alice');
    one.tab.send({ type: 'logout' });
    expect(await two.tab.next('logged-out')).toMatchObject({ reason: 'logout' });
    expect(await one.tab.next('logged-out')).toMatchObject({ reason: 'logout' });
    await until(() => !online('alice'), 'alice to leave the list');
    two.tab.send({ type: 'send', to: 'bob', text: 'x', ref: 9 });
    expect(await two.tab.next('error')).toMatchObject({ code: 'ERR_NOT_LOGGED_IN', ref: 9 });
  });

  it('sets its own status, seen by the other user', async () => {
    const { tab: a } = await tab('alice');
    const { tab: b } = await tab('bob');
    await a.next('joined');
    b.send({ type: 'status', status: 'busy' });
    expect(await b.next('me')).toMatchObject({ me: { status: 'busy' } });
    expect(await a.next('status')).toMatchObject({ name: 'bob', status: 'busy' });
  });

  it('holds at most maxLogins logins', async () => {
    await tab('a');
    await tab('b');
    await tab('c');
    const t = await fx.tab();
    t.send({ type: 'login', server: fx.serverText, name: 'd', ref: 1 });
    expect(await t.next('error')).toMatchObject({ code: 'ERR_TOO_MANY_CLIENTS', ref: 1 });
    expect(online('d')).toBe(false);
  });
});
