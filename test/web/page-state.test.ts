/** The page's reducer (web/src/state.ts): pure, so tested here without a browser. */
import { describe, expect, it } from 'vitest';
import type { WebEntry } from '../../src/web/protocol.js';
import { merge, offlineRecent, readyState, reduce, totalUnread, TYPING_SHOWN_MS, type ChatState } from '../../web/src/state.js';

const me = { name: '小明', server: '127.0.0.1:8500', fingerprint: 'ab', endpoint: '127.0.0.1:1', status: 'online' as const };
const bob = { name: 'Bob', protocol: 'qim' as const, endpoint: '127.0.0.1:2', fingerprint: 'cd', status: 'online' as const };

function start(): ChatState {
  return readyState({ type: 'ready', me, contacts: [bob], unread: { Bob: 2 }, warnings: [], state: 'online' }, null);
}

function entry(id: number, state: WebEntry['state'] = 'sending'): WebEntry {
  return { id, peer: 'Bob', direction: 'out', text: `line ${id}`, at: id, state, encrypted: true };
}

describe('page state', () => {
  it('opens and closes tabs, the neighbour taking over, drafts kept per conversation', () => {
    let s = start();
    s = reduce(s, { type: 'open', peer: 'Bob' });
    s = reduce(s, { type: 'draft', peer: 'Bob', text: '草稿' });
    s = reduce(s, { type: 'open', peer: 'Li Lei' });
    s = reduce(s, { type: 'open', peer: '韩梅梅' });
    s = reduce(s, { type: 'open', peer: 'Li Lei' });
    expect(s.tabs).toEqual(['Bob', 'Li Lei', '韩梅梅']);
    s = reduce(s, { type: 'close', peer: 'Li Lei' });
    expect(s.active).toBe('韩梅梅');
    s = reduce(s, { type: 'close', peer: '韩梅梅' });
    expect(s.active).toBe('Bob');
    expect(s.drafts.Bob).toBe('草稿');
    s = reduce(s, { type: 'close', peer: 'Bob' });
    expect(s.active).toBeNull();
  });

  it('merges history and live lines by id, the later copy winning', () => {
    expect(merge([entry(3), entry(1)], [entry(1, 'delivered'), entry(2)]).map((e) => [e.id, e.state])).toEqual([
      [1, 'delivered'],
      [2, 'sending'],
      [3, 'sending'],
    ]);
    let s = reduce(start(), { type: 'node', message: { type: 'entry', entry: entry(5) }, now: 0 });
    s = reduce(s, { type: 'node', message: { type: 'history', peer: 'Bob', entries: [entry(4, 'failed'), entry(5, 'delivered')], more: true }, now: 0 });
    expect(s.lines.Bob?.map((e) => e.state)).toEqual(['failed', 'delivered']);
    expect(s.loaded.has('Bob') && s.more.has('Bob')).toBe(true);
  });

  it('counts unread, shows typing until it expires or a message comes, and follows the list', () => {
    let s = start();
    expect(totalUnread(s)).toBe(2);
    s = reduce(s, { type: 'node', message: { type: 'unread', peer: 'Bob', count: 0 }, now: 0 });
    expect(totalUnread(s)).toBe(0);
    s = reduce(s, { type: 'node', message: { type: 'typing', from: 'Bob', typing: true }, now: 1000 });
    expect(reduce(s, { type: 'expire-typing', now: 1000 + TYPING_SHOWN_MS - 1 }).typing.Bob).toBeDefined();
    expect(reduce(s, { type: 'expire-typing', now: 1000 + TYPING_SHOWN_MS + 1 }).typing.Bob).toBeUndefined();
    const incoming: WebEntry = { ...entry(9), direction: 'in', state: 'received' };
    expect(reduce(s, { type: 'node', message: { type: 'entry', entry: incoming }, now: 1001 }).typing.Bob).toBeUndefined();
    s = reduce(s, { type: 'node', message: { type: 'status', name: 'Bob', status: 'away' }, now: 0 });
    expect(s.contacts.get('Bob')?.status).toBe('away');
    s = reduce(s, { type: 'node', message: { type: 'left', name: 'Bob' }, now: 0 });
    expect(s.contacts.has('Bob')).toBe(false);
  });

  it('lists under Recent those with history who are not online, newest first', () => {
    let s = start();
    expect(offlineRecent(s)).toEqual([]);
    const recent = [
      { peer: 'Bob', at: 3 },
      { peer: '韩梅梅', at: 2 },
      { peer: 'Li Lei', at: 1 },
    ];
    s = reduce(s, { type: 'node', message: { type: 'recent', conversations: recent }, now: 0 });
    expect(offlineRecent(s).map((c) => c.peer)).toEqual(['韩梅梅', 'Li Lei']);
    s = reduce(s, { type: 'node', message: { type: 'left', name: 'Bob' }, now: 0 });
    expect(offlineRecent(s).map((c) => c.peer)).toEqual(['Bob', '韩梅梅', 'Li Lei']);
    s = reduce(s, { type: 'node', message: { type: 'joined', contact: { ...bob, name: 'Li Lei' } }, now: 0 });
    expect(offlineRecent(s).map((c) => c.peer)).toEqual(['Bob', '韩梅梅']);
  });
});
