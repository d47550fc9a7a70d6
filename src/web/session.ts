/**
 * One user logged in through the web client: a `QimChatClient` with its own UDP endpoint, the
 * user's profile (identity, pinned keys, history, shared with `qim chat` for the same name) and a
 * `HistoryRecorder`. Any number of page connections (tabs) attach to it; each gets every event.
 * The session outlives its tabs by a grace period, so a reload re-attaches instead of logging out.
 */
import { EventEmitter } from 'node:events';
import { HistoryRecorder } from '../client/history.js';
import { Profile } from '../client/profile.js';
import { QimChatClient, type ChatContact } from '../client/qim-client.js';
import type { HistoryEntry } from '../client/store.js';
import { QimError } from '../errors.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import type { UiWarning } from '../client/chat-client.js';
import {
  MAX_RECENT,
  STATUSES,
  type NodeMessage,
  type WebContact,
  type WebConversation,
  type WebEntry,
  type WebSelf,
  type WebStatus,
  type WebWarning,
} from './protocol.js';

/** Where a session sends what happens: one per attached tab. */
export interface SessionPeer {
  send(message: NodeMessage): void;
}

export interface WebSessionOptions {
  readonly server: { readonly host: string; readonly port: number };
  readonly name: string;
  readonly profilesRoot: string;
  /** Local address of the chat endpoint (default: the one that reaches the server). */
  readonly host?: string;
}

/** Warnings kept for tabs that attach later (a reload), newest last. */
const MAX_WARNINGS = 20;
/** Lines of history sent per `history` request. */
export const HISTORY_PAGE = 50;

export interface WebSessionEvents {
  /** The session ended (logout, or the client closed): the hub forgets it. */
  ended: [];
}

export class WebSession extends EventEmitter<WebSessionEvents> {
  readonly peers = new Set<SessionPeer>();
  readonly serverText: string;
  readonly #client: QimChatClient;
  readonly #profile: Profile;
  readonly #recorder: HistoryRecorder;
  readonly #unread = new Map<string, number>();
  readonly #warnings: WebWarning[] = [];
  #warningId = 0;
  /** The Recent list, newest first, with each conversation's newest row id. */
  #recent: (WebConversation & { readonly id: number })[] = [];
  #recentPending: NodeJS.Immediate | null = null;
  #state: 'online' | 'reconnecting' | 'closed' = 'online';
  /** Logged in: until then a closed client is a failed login, which `open` reports. */
  #loggedIn = false;
  #ended = false;
  /** Runs when the last tab detached and the grace period passed. */
  graceTimer: NodeJS.Timeout | null = null;

  private constructor(client: QimChatClient, profile: Profile, serverText: string) {
    super();
    this.#client = client;
    this.#profile = profile;
    this.serverText = serverText;
    this.#recorder = new HistoryRecorder(client, profile.store, serverText);
    this.#recorder.on('entry', (e) => {
      this.#broadcast({ type: 'entry', entry: webEntry(e) });
      this.#touchRecent(e);
    });
    this.#loadRecent();
    client.on('message', (m) => {
      const count = (this.#unread.get(m.from) ?? 0) + 1;
      this.#unread.set(m.from, count);
      this.#broadcast({ type: 'unread', peer: m.from, count });
    });
    client.on('joined', (c) => this.#broadcast({ type: 'joined', contact: webContact(c) }));
    client.on('left', ({ name }) => this.#broadcast({ type: 'left', name }));
    client.on('list', (list) => this.#broadcast({ type: 'contacts', contacts: list.map(webContact) }));
    client.on('typing', ({ from, typing }) => this.#broadcast({ type: 'typing', from, typing }));
    client.on('state', (state) => {
      this.#state = state;
      this.#broadcast({ type: 'state', state });
      if (state === 'closed' && this.#loggedIn) void this.logout('closed');
    });
    client.on('status', ({ name, status }) => this.#broadcast({ type: 'status', name, status }));
    // A new path (direct, punched, relayed) travels as an updated contact.
    client.on('path', ({ name }) => {
      const c = client.contact(name);
      if (c !== undefined) this.#broadcast({ type: 'joined', contact: webContact(c) });
    });
    client.on('warning', (w) => this.#warn(w));
  }

  /**
   * Opens the profile and logs in. Warnings raised during a failed login (a changed server key)
   * are part of the thrown error's message.
   *
   * The session (its history recorder above all) listens before the login: what waits at the
   * server (messages left for us, receipts of messages we left) comes right after the welcome,
   * before the login resolves, and the server forgets it once the client has it.
   */
  static async open(o: WebSessionOptions): Promise<WebSession> {
    const serverText = `${o.server.host}:${o.server.port}`;
    const profile = Profile.open(o.profilesRoot, o.name);
    const serverKey = profile.serverKey(serverText);
    const status = statusSetting(profile.store.setting(STATUS_SETTING));
    const client = new QimChatClient({
      server: o.server,
      name: o.name,
      identity: profile.identity,
      peerPins: profile.peerPins(serverText),
      seenOffline: profile.seenOffline(serverText),
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(serverKey !== undefined ? { serverKey } : {}),
      ...(status !== undefined ? { status } : {}),
    });
    const session = new WebSession(client, profile, serverText);
    // Warnings raised while logging in (a changed server key, a peer whose key changed) are kept
    // by the session for the tabs, or explain a failed login.
    const early: UiWarning[] = [];
    const keep = (w: UiWarning): void => void early.push(w);
    client.on('warning', keep);
    try {
      await client.login();
    } catch (err) {
      client.removeAllListeners(); // the session and its recorder: nothing more to record
      profile.close();
      if (early.length > 0 && err instanceof QimError) throw new QimError(err.code, `${err.message} (${early.map((w) => w.message).join('; ')})`);
      throw err;
    } finally {
      client.off('warning', keep);
    }
    if (serverKey === undefined && client.serverKey !== null) profile.pinServer(serverText, client.serverKey);
    profile.store.setSetting('web.server', serverText);
    session.#loggedIn = true;
    return session;
  }

  get name(): string {
    return this.#client.name;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Everything a newly attached tab needs. */
  snapshot(): NodeMessage {
    return {
      type: 'ready',
      me: this.#me(),
      contacts: this.#client.contacts().map(webContact),
      unread: Object.fromEntries([...this.#unread].filter(([, n]) => n > 0)),
      warnings: [...this.#warnings],
      state: this.#state,
    };
  }

  attach(peer: SessionPeer): void {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.peers.add(peer);
    peer.send(this.snapshot());
    // Read again: another program on this profile (qim chat) may have written since.
    this.#loadRecent();
    peer.send(this.#recentMessage());
  }

  /** Sends through the recorder (history and delivery tracking). Throws `QimError`. */
  send(to: string, text: string): void {
    this.#recorder.send(to, text);
  }

  typing(to: string, typing: boolean): void {
    this.#client.typing(to, typing);
  }

  /** One page of history with `peer`, oldest first. */
  history(peer: string, before?: number): { entries: WebEntry[]; more: boolean } {
    const entries = this.#recorder.history(peer, HISTORY_PAGE, before);
    return { entries: entries.map(webEntry), more: entries.length === HISTORY_PAGE };
  }

  read(peer: string): void {
    if ((this.#unread.get(peer) ?? 0) === 0) return;
    this.#unread.delete(peer);
    this.#broadcast({ type: 'unread', peer, count: 0 });
  }

  /** Sets our own status, remembered in the profile for the next login. */
  setStatus(status: WebStatus): void {
    this.#client.setStatus(status);
    this.#profile.store.setSetting(STATUS_SETTING, status);
    this.#broadcast({ type: 'me', me: this.#me() });
  }

  /** Accepts the key `name` presents now (after a `peer-key-changed` warning). Throws `QimError`. */
  trust(name: string): void {
    this.#client.trust(name);
    const contact = this.#client.contact(name);
    if (contact !== undefined) this.#broadcast({ type: 'joined', contact: webContact(contact) });
  }

  dismiss(id: number): void {
    const i = this.#warnings.findIndex((w) => w.id === id);
    if (i < 0) return;
    this.#warnings.splice(i, 1);
    this.#broadcast({ type: 'dismissed', id });
  }

  /** Logs out for real (or after the grace period, or once the client closed); every tab is told. */
  async logout(reason: 'logout' | 'idle' | 'closed' = 'logout'): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (this.#recentPending !== null) clearImmediate(this.#recentPending);
    this.#recentPending = null;
    this.#broadcast({ type: 'logged-out', reason });
    this.peers.clear();
    this.emit('ended');
    try {
      await this.#client.logout();
    } finally {
      // After the client: its last events still write to the store.
      this.#profile.close();
    }
  }

  #loadRecent(): void {
    this.#recent = this.#profile.store
      .conversations(this.serverText)
      .slice(0, MAX_RECENT)
      .map((c) => ({ peer: c.peer, at: c.last.at, id: c.last.id }));
  }

  /** A line was added (or changed state): a new line moves its conversation to the top. */
  #touchRecent(e: HistoryEntry): void {
    // Row ids grow: a new line is newer than the newest listed; anything else is a delivery state.
    if (e.id <= (this.#recent[0]?.id ?? 0)) return;
    const i = this.#recent.findIndex((c) => c.peer === e.peer);
    if (i >= 0) this.#recent.splice(i, 1);
    this.#recent.unshift({ peer: e.peer, at: e.at, id: e.id });
    if (this.#recent.length > MAX_RECENT) this.#recent.pop();
    // Lines often come in bursts (messages kept offline, delivered at login): one list for them.
    this.#recentPending ??= setImmediate(() => {
      this.#recentPending = null;
      this.#broadcast(this.#recentMessage());
    });
  }

  #recentMessage(): NodeMessage {
    return { type: 'recent', conversations: this.#recent.map(({ peer, at }) => ({ peer, at })) };
  }

  #warn(w: { code: string; peer?: string; message: string }): void {
    const warning: WebWarning = { id: ++this.#warningId, code: w.code, message: w.message, ...(w.peer !== undefined ? { peer: w.peer } : {}) };
    this.#warnings.push(warning);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
    this.#broadcast({ type: 'warning', warning });
  }

  #me(): WebSelf {
    let endpoint = '';
    try {
      endpoint = formatEndpoint(this.#client.endpoint);
    } catch {
      // Closed: no endpoint to show.
    }
    return {
      name: this.#client.name,
      server: this.serverText,
      fingerprint: this.#client.fingerprint,
      endpoint,
      status: this.#client.status,
    };
  }

  #broadcast(message: NodeMessage): void {
    for (const p of this.peers) p.send(message);
  }
}

export function webContact(c: ChatContact): WebContact {
  return {
    name: c.name,
    protocol: c.protocol,
    endpoint: formatEndpoint(c.endpoint),
    status: c.status,
    ...(c.fingerprint !== undefined ? { fingerprint: c.fingerprint } : {}),
    ...(c.keyChanged === true ? { keyChanged: true } : {}),
    ...(c.path !== undefined ? { path: c.path } : {}),
  };
}

/** The profile setting that remembers the status chosen in the web client. */
const STATUS_SETTING = 'web.status';

function statusSetting(value: string | undefined): WebStatus | undefined {
  return STATUSES.find((s) => s === value);
}

function webEntry(e: HistoryEntry): WebEntry {
  return { id: e.id, peer: e.peer, direction: e.direction, text: e.text, at: e.at, state: e.state, encrypted: e.encrypted };
}
