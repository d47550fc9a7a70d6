/**
 * The web client's page ↔ Node protocol: small JSON objects over one WebSocket, each with a
 * `type`. The page sends {@link PageMessage}s; the Node process answers and pushes
 * {@link NodeMessage}s. Documented in docs/ARCHITECTURE.md ("Web client").
 *
 * This file is shared with the page (`web/`): it must stay free of imports and Node APIs.
 */
export const STATUSES = ['online', 'away', 'busy', 'invisible'] as const;
export type WebStatus = (typeof STATUSES)[number];

/** Longest text accepted in one `send`, in characters (the qim protocol's cap is 64 KiB of UTF-8). */
export const MAX_WEB_TEXT = 65_536;

/**
 * What the page sends. `ref`, when given, is echoed in the `error` answer to that request.
 * `src/web/validate.ts` checks every message against this shape before anything acts on it.
 */
export type PageMessage = { readonly ref?: number | undefined } & (
  | { readonly type: 'login'; readonly server: string; readonly name: string }
  | { readonly type: 'send'; readonly to: string; readonly text: string }
  | { readonly type: 'typing'; readonly to: string; readonly typing: boolean }
  /** One page of history with `peer`, before the line with id `before` (default: the newest). */
  | { readonly type: 'history'; readonly peer: string; readonly before?: number | undefined }
  /** The conversation with `peer` was seen: its unread count goes to zero. */
  | { readonly type: 'read'; readonly peer: string }
  | { readonly type: 'status'; readonly status: WebStatus }
  /** Accept `name`'s changed key. */
  | { readonly type: 'trust'; readonly name: string }
  | { readonly type: 'dismiss'; readonly id: number }
  | { readonly type: 'logout' }
);

/** A contact in the online list. */
export interface WebContact {
  readonly name: string;
  readonly protocol: 'qim' | 'classic';
  /** `HOST:PORT` of their chat endpoint. */
  readonly endpoint: string;
  /** Identity key fingerprint; classic users have none (and are unencrypted). */
  readonly fingerprint?: string;
  readonly status?: WebStatus;
  /** Their key differs from the one pinned earlier. */
  readonly keyChanged?: boolean;
  /** How the session with them travels, once there is one. */
  readonly path?: 'direct' | 'punched' | 'relayed';
}

/** One line of history, as the profile store keeps it. */
export interface WebEntry {
  /** Row id in the store: grows with time. */
  readonly id: number;
  readonly peer: string;
  readonly direction: 'in' | 'out';
  readonly text: string;
  /** ms since the epoch. */
  readonly at: number;
  readonly state: 'sending' | 'sent' | 'stored' | 'delivered' | 'failed' | 'received';
  readonly encrypted: boolean;
}

/** A conversation in the history on this server, for the Recent list. */
export interface WebConversation {
  readonly peer: string;
  /** When its newest line was written (sent or received), ms since the epoch. */
  readonly at: number;
}

/** Most conversations a `recent` message lists (the newest ones). */
export const MAX_RECENT = 100;

export interface WebWarning {
  /** Numbers this warning for `dismiss`. */
  readonly id: number;
  readonly code: string;
  readonly peer?: string;
  readonly message: string;
}

export interface WebSelf {
  readonly name: string;
  /** The server as the login named it, `host:port`. */
  readonly server: string;
  readonly fingerprint: string;
  readonly endpoint: string;
  readonly status?: WebStatus;
}

/** What the Node process sends. */
export type NodeMessage =
  /** First message on every connection: the server the login form proposes. */
  | { type: 'hello'; defaultServer: string }
  /** Logged in (or attached to a login kept alive for this server and name). */
  | {
      type: 'ready';
      me: WebSelf;
      contacts: WebContact[];
      unread: Record<string, number>;
      warnings: WebWarning[];
      state: 'online' | 'reconnecting' | 'closed';
    }
  | { type: 'contacts'; contacts: WebContact[] }
  | { type: 'joined'; contact: WebContact }
  | { type: 'left'; name: string }
  | { type: 'status'; name: string; status: WebStatus }
  /** A line was added to the history or changed state (delivery). */
  | { type: 'entry'; entry: WebEntry }
  | { type: 'history'; peer: string; entries: WebEntry[]; more: boolean }
  /**
   * Everyone this user has history with on this server, newest first (at most {@link MAX_RECENT}),
   * online or not: after `ready`, and again when a line is added.
   */
  | { type: 'recent'; conversations: WebConversation[] }
  | { type: 'unread'; peer: string; count: number }
  | { type: 'typing'; from: string; typing: boolean }
  | { type: 'warning'; warning: WebWarning }
  | { type: 'dismissed'; id: number }
  | { type: 'me'; me: WebSelf }
  | { type: 'state'; state: 'online' | 'reconnecting' | 'closed' }
  /** This login ended: `logout` (a tab logged out), `idle` (no tab for the grace period), `closed`. */
  | { type: 'logged-out'; reason: 'logout' | 'idle' | 'closed' }
  | { type: 'error'; code: string; message: string; ref?: number };

/** Error codes of the web layer, besides the library's `ERR_*` codes. */
export type WebErrorCode = 'ERR_BAD_JSON' | 'ERR_BAD_MESSAGE' | 'ERR_NOT_LOGGED_IN' | 'ERR_TOO_MANY_CLIENTS' | 'ERR_INTERNAL';
