/**
 * The page's state and how each message from the Node process (and each user action that needs
 * no answer) changes it. Pure: no DOM, no socket; `app.tsx` runs the effects.
 */
import type { NodeMessage, WebContact, WebConversation, WebEntry, WebSelf, WebWarning } from '../../src/web/protocol.js';

export type LinkState = 'online' | 'reconnecting' | 'closed';

export interface ChatState {
  readonly me: WebSelf;
  readonly contacts: ReadonlyMap<string, WebContact>;
  readonly unread: Readonly<Record<string, number>>;
  /** Everyone with history on this server, newest first, online or not. */
  readonly recent: readonly WebConversation[];
  /** Lines per conversation, by row id, oldest first. */
  readonly lines: Readonly<Record<string, readonly WebEntry[]>>;
  /** Conversations whose newest page of history has arrived. */
  readonly loaded: ReadonlySet<string>;
  /** Conversations with older history still in the store. */
  readonly more: ReadonlySet<string>;
  /** Open conversations (tabs), in order, and the one shown. */
  readonly tabs: readonly string[];
  readonly active: string | null;
  readonly drafts: Readonly<Record<string, string>>;
  /** Who is typing, until when (ms since the epoch). */
  readonly typing: Readonly<Record<string, number>>;
  /** A send that failed before leaving, per conversation. */
  readonly notices: Readonly<Record<string, string>>;
  readonly warnings: readonly WebWarning[];
  readonly link: LinkState;
}

export type Action =
  | { type: 'node'; message: NodeMessage; now: number }
  | { type: 'open'; peer: string }
  | { type: 'close'; peer: string }
  | { type: 'draft'; peer: string; text: string }
  | { type: 'notice'; peer: string; text: string | null }
  | { type: 'expire-typing'; now: number };

/** How long "X is typing…" stays without a fresh typing message. */
export const TYPING_SHOWN_MS = 6000;

/** The state right after a `ready` message, keeping what this tab had (tabs, drafts, lines). */
export function readyState(m: Extract<NodeMessage, { type: 'ready' }>, previous: Pick<ChatState, 'tabs' | 'active' | 'drafts'> | null): ChatState {
  return {
    me: m.me,
    contacts: new Map(m.contacts.map((c) => [c.name, c])),
    unread: m.unread,
    recent: [],
    lines: {},
    loaded: new Set(),
    more: new Set(),
    tabs: previous?.tabs ?? [],
    active: previous?.active ?? null,
    drafts: previous?.drafts ?? {},
    typing: {},
    notices: {},
    warnings: m.warnings,
    link: m.state,
  };
}

export function reduce(s: ChatState, a: Action): ChatState {
  switch (a.type) {
    case 'open':
      return { ...s, tabs: s.tabs.includes(a.peer) ? s.tabs : [...s.tabs, a.peer], active: a.peer };
    case 'close': {
      const i = s.tabs.indexOf(a.peer);
      if (i < 0) return s;
      const tabs = s.tabs.filter((t) => t !== a.peer);
      const active = s.active !== a.peer ? s.active : (tabs[Math.min(i, tabs.length - 1)] ?? null);
      return { ...s, tabs, active };
    }
    case 'draft':
      return { ...s, drafts: { ...s.drafts, [a.peer]: a.text } };
    case 'notice': {
      const notices = { ...s.notices };
      if (a.text === null) delete notices[a.peer];
      else notices[a.peer] = a.text;
      return { ...s, notices };
    }
    case 'expire-typing': {
      const live = Object.entries(s.typing).filter(([, until]) => until > a.now);
      return live.length === Object.keys(s.typing).length ? s : { ...s, typing: Object.fromEntries(live) };
    }
    case 'node':
      return onMessage(s, a.message, a.now);
  }
}

function onMessage(s: ChatState, m: NodeMessage, now: number): ChatState {
  switch (m.type) {
    case 'contacts':
      return { ...s, contacts: new Map(m.contacts.map((c) => [c.name, c])) };
    case 'joined': {
      const contacts = new Map(s.contacts);
      contacts.set(m.contact.name, m.contact);
      return { ...s, contacts };
    }
    case 'left': {
      const contacts = new Map(s.contacts);
      contacts.delete(m.name);
      return { ...s, contacts, typing: without(s.typing, m.name) };
    }
    case 'status': {
      const c = s.contacts.get(m.name);
      if (c === undefined) return s;
      const contacts = new Map(s.contacts);
      contacts.set(m.name, { ...c, status: m.status });
      return { ...s, contacts };
    }
    case 'entry': {
      const peer = m.entry.peer;
      const typing = m.entry.direction === 'in' ? without(s.typing, peer) : s.typing;
      return { ...s, lines: { ...s.lines, [peer]: merge(s.lines[peer] ?? [], [m.entry]) }, typing };
    }
    case 'history': {
      const lines = { ...s.lines, [m.peer]: merge(s.lines[m.peer] ?? [], m.entries) };
      const more = new Set(s.more);
      if (m.more) more.add(m.peer);
      else more.delete(m.peer);
      return { ...s, lines, loaded: new Set(s.loaded).add(m.peer), more };
    }
    case 'recent':
      return { ...s, recent: m.conversations };
    case 'unread':
      return { ...s, unread: m.count === 0 ? without(s.unread, m.peer) : { ...s.unread, [m.peer]: m.count } };
    case 'typing':
      return { ...s, typing: m.typing ? { ...s.typing, [m.from]: now + TYPING_SHOWN_MS } : without(s.typing, m.from) };
    case 'warning':
      return { ...s, warnings: [...s.warnings.filter((w) => w.id !== m.warning.id), m.warning] };
    case 'dismissed':
      return { ...s, warnings: s.warnings.filter((w) => w.id !== m.id) };
    case 'me':
      return { ...s, me: m.me };
    case 'state':
      return { ...s, link: m.state };
    default:
      return s;
  }
}

/** Lines of both lists, each row once (the newer copy wins: it has the newer state), by id. */
export function merge(a: readonly WebEntry[], b: readonly WebEntry[]): WebEntry[] {
  const byId = new Map<number, WebEntry>();
  for (const e of a) byId.set(e.id, e);
  for (const e of b) byId.set(e.id, e);
  return [...byId.values()].sort((x, y) => x.id - y.id);
}

function without<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  if (!(key in record)) return record as Record<string, T>;
  const copy = { ...record };
  delete copy[key];
  return copy;
}

/** The Recent list as shown: who has history here and is not in the online list. */
export function offlineRecent(s: ChatState): WebConversation[] {
  return s.recent.filter((c) => !s.contacts.has(c.peer));
}

/** Total unread messages. */
export function totalUnread(s: ChatState): number {
  return Object.values(s.unread).reduce((n, c) => n + c, 0);
}
