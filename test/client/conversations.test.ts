import { describe, expect, it } from 'vitest';
import { Conversations, type ChatLine } from '../../src/client/conversations.js';

const at = (s: number) => new Date(2026, 0, 1, 12, 0, s);
const incoming = (peer: string, text: string, s: number): ChatLine => ({ direction: 'in', peer, text, at: at(s) });

describe('conversations', () => {
  it('counts a message as unread when its conversation is not open', () => {
    const c = new Conversations();
    c.openWith('bob');
    c.add(incoming('bob', 'hi', 1));
    c.add(incoming('剑痴', '你好', 2));
    c.add(incoming('剑痴', '在吗', 3));
    expect(c.unread('bob')).toBe(0);
    expect(c.unread('剑痴')).toBe(2);
    expect(c.totalUnread()).toBe(2);
  });

  it('clears the unread count when the conversation is opened', () => {
    const c = new Conversations();
    c.add(incoming('bob', 'hi', 1));
    c.openWith('bob');
    expect(c.unread('bob')).toBe(0);
    expect(c.history('bob').map((l) => l.text)).toEqual(['hi']);
  });

  it('never counts our own lines as unread', () => {
    const c = new Conversations();
    c.add({ direction: 'out', peer: 'bob', text: 'hello', at: at(1) });
    expect(c.unread('bob')).toBe(0);
  });

  it('lists conversations by most recent activity', () => {
    const c = new Conversations();
    c.add(incoming('a', '1', 1));
    c.add(incoming('b', '2', 3));
    c.add(incoming('c', '3', 2));
    expect(c.summaries().map((s) => s.peer)).toEqual(['b', 'c', 'a']);
  });

  it('keeps a bounded history, newest lines last', () => {
    const c = new Conversations(3);
    for (let i = 0; i < 5; i++) c.add(incoming('bob', String(i), i));
    expect(c.history('bob').map((l) => l.text)).toEqual(['2', '3', '4']);
    expect(c.history('bob', 2).map((l) => l.text)).toEqual(['3', '4']);
  });
});
