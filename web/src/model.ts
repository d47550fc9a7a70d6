/**
 * The page's brain, outside the components: owns the connection, the state (through the reducer
 * in `state.ts`) and every effect (remembering, the title, notifications, typing, read marks).
 * Components render {@link Model.view} and call its methods; they hold no state of their own but
 * what the DOM needs.
 */
import type { NodeMessage, PageMessage, WebEntry, WebStatus } from '../../src/web/protocol.js';
import { askNotifications, BASE_TITLE, flashTitle, notify } from './attention';
import { Connection, socketUrl, type ConnectionState } from './connection';
import { reduce, readyState, totalUnread, type Action, type ChatState } from './state';
import { currentLogin, rememberForm, rememberTabs, setCurrentLogin, tabMemory, type LoginForm } from './storage';

export interface View {
  /** The WebSocket to qim web, and whether it ever opened (a never-opened one: wrong token?). */
  readonly conn: ConnectionState;
  readonly everOpened: boolean;
  readonly defaultServer: string | null;
  readonly screen: 'connecting' | 'login' | 'chat';
  readonly loginBusy: boolean;
  readonly loginError: string | null;
  /** Why the last login ended, shown on the login screen. */
  readonly loginNotice: string | null;
  readonly chat: ChatState | null;
  /** At phone width only one pane shows: the online list or the conversation. */
  readonly pane: 'list' | 'chat';
  /** An error not tied to a conversation. */
  readonly banner: string | null;
  /** The newest line for the screen reader's live region; `id` changes with every line. */
  readonly announce: { readonly id: number; readonly text: string };
}

/** While typing, "typing" is repeated this often (it is best effort and expires at the peer). */
const TYPING_REPEAT_MS = 3000;
/** Typing stops counting this long after the last key. */
const TYPING_IDLE_MS = 5000;
const NARROW = '(max-width: 599px)';

interface TypingOut {
  on: boolean;
  at: number;
  idle: ReturnType<typeof setTimeout> | null;
}

export class Model {
  #view: View;
  readonly #conn: Connection;
  readonly #listeners = new Set<() => void>();
  #ref = 0;
  #loginRef: number | null = null;
  /** The login this tab is in or attempting. */
  #login: LoginForm | null;
  /** Sends awaiting a possible error: ref → conversation and text. */
  readonly #sends = new Map<number, { peer: string; text: string }>();
  readonly #typingOut = new Map<string, TypingOut>();
  readonly #readAsked = new Set<string>();
  #flash: ReturnType<typeof setInterval> | null = null;
  #flashOn = false;
  #typingTicker: ReturnType<typeof setInterval> | null = null;

  constructor(token: string) {
    this.#login = currentLogin();
    this.#conn = new Connection(socketUrl(location, token), {
      message: (m) => this.#onMessage(m),
      state: (s, ever) => this.#set({ conn: s, everOpened: ever }),
    });
    this.#view = {
      conn: 'connecting',
      everOpened: false,
      defaultServer: null,
      screen: 'connecting',
      loginBusy: false,
      loginError: null,
      loginNotice: null,
      chat: null,
      pane: 'list',
      banner: null,
      announce: { id: 0, text: '' },
    };
  }

  get view(): View {
    return this.#view;
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  start(): void {
    document.addEventListener('visibilitychange', () => this.#markRead());
    window.addEventListener('focus', () => this.#markRead());
    this.#conn.connect();
  }

  login(server: string, name: string): void {
    askNotifications();
    const form = { server: server.trim(), name };
    rememberForm(form);
    this.#login = form;
    this.#loginRef = this.#request({ type: 'login', server: form.server, name: form.name });
    this.#set({ loginBusy: true, loginError: null, loginNotice: null });
  }

  logout(): void {
    this.#request({ type: 'logout' });
  }

  open(peer: string): void {
    const chat = this.#view.chat;
    if (chat === null) return;
    this.#dispatch({ type: 'open', peer });
    if (!chat.loaded.has(peer)) this.#request({ type: 'history', peer });
    this.#set({ pane: 'chat' });
  }

  close(peer: string): void {
    this.#stopTyping(peer);
    this.#dispatch({ type: 'close', peer });
    if (this.#view.chat?.active === null) this.#set({ pane: 'list' });
  }

  back(): void {
    this.#set({ pane: 'list' });
  }

  loadOlder(peer: string): void {
    const first = this.#view.chat?.lines[peer]?.[0];
    if (first !== undefined) this.#request({ type: 'history', peer, before: first.id });
  }

  /** The draft of `peer`'s conversation changed: keep it, and tell the peer we are typing. */
  draft(peer: string, text: string): void {
    this.#dispatch({ type: 'draft', peer, text });
    if (text.trim() === '') return this.#stopTyping(peer);
    const t = this.#typingOut.get(peer) ?? { on: false, at: 0, idle: null };
    this.#typingOut.set(peer, t);
    const now = Date.now();
    if (!t.on || now - t.at >= TYPING_REPEAT_MS) {
      this.#request({ type: 'typing', to: peer, typing: true });
      t.on = true;
      t.at = now;
    }
    if (t.idle !== null) clearTimeout(t.idle);
    t.idle = setTimeout(() => this.#stopTyping(peer), TYPING_IDLE_MS);
  }

  /** Sends the draft of `peer`'s conversation. */
  send(peer: string): void {
    const text = this.#view.chat?.drafts[peer] ?? '';
    if (text.trim() === '') return;
    this.#stopTyping(peer);
    if (this.#sendText(peer, text)) this.#dispatch({ type: 'draft', peer, text: '' });
  }

  /** Sends a failed line's text again. */
  retry(entry: WebEntry): void {
    this.#sendText(entry.peer, entry.text);
  }

  setStatus(status: WebStatus): void {
    this.#request({ type: 'status', status });
  }

  trust(name: string): void {
    this.#request({ type: 'trust', name });
  }

  dismiss(id: number): void {
    this.#request({ type: 'dismiss', id });
  }

  dismissNotice(peer: string): void {
    this.#dispatch({ type: 'notice', peer, text: null });
  }

  dismissBanner(): void {
    this.#set({ banner: null });
  }

  #sendText(peer: string, text: string): boolean {
    this.#dispatch({ type: 'notice', peer, text: null });
    const ref = this.#request({ type: 'send', to: peer, text });
    if (ref === null) {
      this.#dispatch({ type: 'notice', peer, text: 'Not sent: no connection to qim web right now. Try again in a moment.' });
      return false;
    }
    this.#sends.set(ref, { peer, text });
    // Only errors come back for a ref; forget it once an answer is long overdue.
    setTimeout(() => this.#sends.delete(ref), 30_000);
    return true;
  }

  #stopTyping(peer: string): void {
    const t = this.#typingOut.get(peer);
    if (t === undefined) return;
    if (t.idle !== null) clearTimeout(t.idle);
    this.#typingOut.delete(peer);
    if (t.on) this.#request({ type: 'typing', to: peer, typing: false });
  }

  /** Sends with a fresh `ref`; null when not connected. */
  #request(m: PageMessage): number | null {
    const ref = ++this.#ref;
    return this.#conn.send({ ...m, ref }) ? ref : null;
  }

  #onMessage(m: NodeMessage): void {
    switch (m.type) {
      case 'hello':
        this.#set({ defaultServer: m.defaultServer });
        // A reload, or qim web came back: log in again as before (attaching to the kept login).
        if (this.#login !== null) {
          this.#loginRef = this.#request({ type: 'login', server: this.#login.server, name: this.#login.name });
          this.#set({ loginBusy: true, screen: this.#view.chat === null ? 'login' : 'chat' });
        } else {
          this.#set({ screen: 'login' });
        }
        return;
      case 'ready': {
        const login = { server: m.me.server, name: m.me.name };
        this.#login = login;
        setCurrentLogin(login);
        const previous = this.#view.chat ?? tabMemory(login);
        const chat = readyState(m, previous);
        this.#loginRef = null;
        this.#readAsked.clear();
        this.#set({ chat, screen: 'chat', loginBusy: false, loginError: null, loginNotice: null });
        if (chat.active !== null) {
          this.#request({ type: 'history', peer: chat.active });
          this.#set({ pane: 'chat' });
        }
        this.#afterChange();
        return;
      }
      case 'error':
        return this.#onError(m);
      case 'logged-out':
        return this.#loggedOut(m.reason);
      default:
        this.#dispatch({ type: 'node', message: m, now: Date.now() });
        if (m.type === 'entry' && m.entry.direction === 'in' && m.entry.state === 'received') this.#incoming(m.entry);
        if (m.type === 'unread') this.#readAsked.delete(m.peer);
        if (m.type === 'typing' && m.typing) this.#tickTyping();
    }
  }

  #onError(m: Extract<NodeMessage, { type: 'error' }>): void {
    if (m.ref !== undefined && m.ref === this.#loginRef) {
      // Not logged in (an automatic login after a reload may fail too): back to the form.
      this.#loginRef = null;
      setCurrentLogin(null);
      this.#login = null;
      this.#set({ chat: null, loginBusy: false, loginError: m.message, screen: 'login', pane: 'list' });
      this.#updateTitle();
      return;
    }
    const send = m.ref === undefined ? undefined : this.#sends.get(m.ref);
    if (send !== undefined && m.ref !== undefined) {
      this.#sends.delete(m.ref);
      this.#dispatch({ type: 'notice', peer: send.peer, text: `Not sent: ${m.message}` });
      if ((this.#view.chat?.drafts[send.peer] ?? '') === '') this.#dispatch({ type: 'draft', peer: send.peer, text: send.text });
      return;
    }
    this.#set({ banner: m.message });
  }

  #loggedOut(reason: 'logout' | 'idle' | 'closed'): void {
    if (this.#login !== null) rememberTabs(this.#login, null);
    setCurrentLogin(null);
    this.#login = null;
    for (const peer of [...this.#typingOut.keys()]) this.#stopTyping(peer);
    const notice = reason === 'logout' ? 'Logged out.' : reason === 'idle' ? 'Logged out: no tab was open for a while.' : 'Logged out: the web client stopped.';
    this.#set({ chat: null, screen: 'login', loginBusy: false, loginNotice: notice, pane: 'list' });
    this.#updateTitle();
  }

  #incoming(e: WebEntry): void {
    this.#set({ announce: { id: this.#view.announce.id + 1, text: `${e.peer}: ${e.text}` } });
    if (!this.#seeing(e.peer)) notify(e.peer, e.text, () => this.open(e.peer));
  }

  /** True when the user can see `peer`'s conversation now. */
  #seeing(peer: string): boolean {
    const chat = this.#view.chat;
    if (chat === null || chat.active !== peer || document.visibilityState !== 'visible') return false;
    return this.#view.pane === 'chat' || !window.matchMedia(NARROW).matches;
  }

  /** Tells qim web that the conversation on screen has been read. */
  #markRead(): void {
    const chat = this.#view.chat;
    const peer = chat?.active;
    if (chat === null || peer === null || peer === undefined) return;
    if ((chat.unread[peer] ?? 0) === 0 || this.#readAsked.has(peer) || !this.#seeing(peer)) return;
    if (this.#request({ type: 'read', peer }) !== null) this.#readAsked.add(peer);
  }

  #tickTyping(): void {
    if (this.#typingTicker !== null) return;
    this.#typingTicker = setInterval(() => {
      this.#dispatch({ type: 'expire-typing', now: Date.now() });
      if (Object.keys(this.#view.chat?.typing ?? {}).length === 0 && this.#typingTicker !== null) {
        clearInterval(this.#typingTicker);
        this.#typingTicker = null;
      }
    }, 1000);
  }

  #dispatch(a: Action): void {
    const chat = this.#view.chat;
    if (chat === null) return;
    const next = reduce(chat, a);
    if (next === chat) return;
    this.#set({ chat: next });
    this.#afterChange();
  }

  /** Effects of a state change: remember tabs and drafts, read marks, the title. */
  #afterChange(): void {
    const chat = this.#view.chat;
    if (chat !== null && this.#login !== null) rememberTabs(this.#login, { tabs: chat.tabs, active: chat.active, drafts: chat.drafts });
    this.#markRead();
    this.#updateTitle();
  }

  /** The title flashes "(N) new message — qim" while anything is unread. */
  #updateTitle(): void {
    const n = this.#view.chat === null ? 0 : totalUnread(this.#view.chat);
    if (n === 0) {
      if (this.#flash !== null) clearInterval(this.#flash);
      this.#flash = null;
      document.title = BASE_TITLE;
      return;
    }
    if (this.#flash === null) {
      this.#flashOn = true;
      this.#flash = setInterval(() => {
        this.#flashOn = !this.#flashOn;
        document.title = flashTitle(this.#view.chat === null ? 0 : totalUnread(this.#view.chat), this.#flashOn);
      }, 1000);
    }
    document.title = flashTitle(n, this.#flashOn);
  }

  #set(patch: Partial<View>): void {
    this.#view = { ...this.#view, ...patch };
    for (const fn of this.#listeners) fn();
    if (patch.pane !== undefined) this.#markRead();
  }
}
