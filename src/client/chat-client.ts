/**
 * What the terminal UI and the line mode need of a client; both `QimChatClient` (qim protocol)
 * and `QimClient` (classic) provide it.
 */
import type { Endpoint } from '../protocol/endpoint.js';
import type { Status } from '../protocol/v2/messages.js';

export type { Status };

export interface UiContact {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly protocol: 'classic' | 'qim';
  readonly fingerprint?: string;
  /** Absent for classic, which knows no statuses. */
  readonly status?: Status;
  /** The key differs from the one pinned for this name (messages are held back until trusted). */
  readonly keyChanged?: boolean;
  /** How the session with them travels: `direct`, `punched` (through a NAT) or `relayed`. */
  readonly path?: 'direct' | 'punched' | 'relayed';
}

export interface UiMessage {
  readonly from: string;
  readonly text: string;
  readonly sentAt: string;
  readonly receivedAt: Date;
  readonly encrypted?: boolean;
}

export interface UiDelivery {
  readonly to: string;
  readonly id: number;
  readonly state: 'delivered' | 'failed' | 'sent' | 'stored';
}

/** What happened while logging in, before a UI listened: shown once it does. */
export interface EarlyEvents {
  readonly warnings: UiWarning[];
  /** Messages that waited at the server for us (they arrive with the login). */
  readonly messages: UiMessage[];
}

export interface UiWarning {
  readonly code: string;
  readonly peer?: string;
  readonly message: string;
}

export interface ChatClient {
  readonly name: string;
  readonly endpoint: Endpoint;
  contacts(): UiContact[];
  contact(name: string): UiContact | undefined;
  /** Sends; returns the message id when delivery is tracked. */
  send(to: string, text: string): number | void;
  logout(): Promise<void>;
  on(event: 'joined', fn: (c: UiContact) => void): unknown;
  on(event: 'left', fn: (l: { name: string }) => void): unknown;
  on(event: 'message', fn: (m: UiMessage) => void): unknown;
  on(event: 'delivery', fn: (d: UiDelivery) => void): unknown;
  on(event: 'warning', fn: (w: UiWarning) => void): unknown;
  // What only the qim protocol offers: statuses, typing indicators, pinned peer keys.
  readonly status?: Status;
  setStatus?(status: Status): void;
  typing?(to: string, on: boolean): void;
  trust?(name: string): void;
  on(event: 'status', fn: (s: { name: string; status: Status }) => void): unknown;
  on(event: 'typing', fn: (t: { from: string; typing: boolean }) => void): unknown;
  on(event: 'path', fn: (p: { name: string; path: 'direct' | 'punched' | 'relayed' }) => void): unknown;
  off?(event: 'warning', fn: (w: UiWarning) => void): unknown;
  off?(event: 'message', fn: (m: UiMessage) => void): unknown;
}
