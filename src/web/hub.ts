/**
 * The web client's logins, keyed by (server, name). A tab that logs in as someone already logged
 * in here attaches to that login instead of starting another, so a reload (or a second tab) keeps
 * the same peer sessions and history. When the last tab of a login goes, the login lives on for a
 * grace period, then logs out.
 */
import { WebSession, type SessionPeer } from './session.js';

export interface WebHubOptions {
  readonly profilesRoot: string;
  /** How long a login outlives its last tab, in ms. */
  readonly graceMs: number;
  /** Logins held at once. */
  readonly maxLogins: number;
  /** Local address for every client's chat endpoint (default: the one that reaches the server). */
  readonly clientHost?: string;
  readonly onLogin?: (s: WebSession) => void;
  readonly onLogout?: (s: WebSession) => void;
}

/** A refusal of the web layer, with a code the page can show (`ERR_TOO_MANY_CLIENTS`). */
export class WebRefusal extends Error {
  constructor(
    readonly code: 'ERR_TOO_MANY_CLIENTS',
    message: string,
  ) {
    super(message);
  }
}

export class WebHub {
  readonly #sessions = new Map<string, WebSession>();
  readonly #opening = new Map<string, Promise<WebSession>>();
  #closed = false;

  constructor(readonly options: WebHubOptions) {}

  /** Logins held now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The login for (server, name): an existing one, or a new one (which logs in). */
  async login(server: { host: string; port: number }, name: string): Promise<WebSession> {
    const key = JSON.stringify([`${server.host}:${server.port}`, name]);
    const existing = this.#sessions.get(key);
    if (existing !== undefined && !existing.ended) return existing;
    const pending = this.#opening.get(key);
    if (pending !== undefined) return pending;
    if (this.#closed) throw new WebRefusal('ERR_TOO_MANY_CLIENTS', 'the web client is shutting down');
    if (this.#sessions.size + this.#opening.size >= this.options.maxLogins) {
      throw new WebRefusal('ERR_TOO_MANY_CLIENTS', `at most ${this.options.maxLogins} logins at once in one qim web`);
    }
    const opening = WebSession.open({
      server,
      name,
      profilesRoot: this.options.profilesRoot,
      ...(this.options.clientHost !== undefined ? { host: this.options.clientHost } : {}),
    });
    this.#opening.set(key, opening);
    try {
      const session = await opening;
      this.#sessions.set(key, session);
      session.once('ended', () => {
        if (this.#sessions.get(key) === session) this.#sessions.delete(key);
        this.options.onLogout?.(session);
      });
      this.options.onLogin?.(session);
      return session;
    } finally {
      this.#opening.delete(key);
    }
  }

  /** A tab leaves `session`; the last one starts the grace period. */
  detach(session: WebSession, peer: SessionPeer): void {
    session.peers.delete(peer);
    if (session.peers.size > 0 || session.ended || session.graceTimer !== null) return;
    session.graceTimer = setTimeout(() => void session.logout('idle'), this.options.graceMs);
  }

  /** Logs every login out. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#opening.values()]);
    await Promise.all([...this.#sessions.values()].map((s) => s.logout('closed')));
    this.#sessions.clear();
  }
}
