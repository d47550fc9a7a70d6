import type { Endpoint } from '../protocol/endpoint.js';
import type { DropReason } from '../protocol/result.js';
import type { AccountStore } from './accounts.js';
import type { ServerCounters } from './counters.js';
import type { Directory } from './directory.js';
import type { ServerEvents } from './events.js';
import type { ServerLimits } from './options.js';

/**
 * What a protocol handler may use of the server: the directory, the limits, counted sends and
 * drops, and the event stream. Handlers never see sockets.
 */
export interface ServerContext {
  readonly directory: Directory;
  readonly limits: ServerLimits;
  readonly counters: ServerCounters;
  /** Names bound to identity keys (classic logins may not take a bound name). */
  readonly accounts: AccountStore;
  /** The TCP port of the list service, as `Accept` announces it. */
  readonly tcpPort: number;
  /** Sends one datagram from the server's socket, counted. */
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Counts and reports one dropped input (a datagram, or bytes on a TCP connection). */
  drop(reason: DropReason, from: Endpoint, bytes: number, transport?: 'udp' | 'tcp'): void;
  /** Tells everyone else that `name` joined or left (classic datagrams, qim deltas). */
  announce(kind: 'login' | 'logout' | 'status', name: string, endpoint: Endpoint): void;
  /** Allows one classic list fetch over TCP from `address` (granted with each `Accept`). */
  expectListFetch(address: string): void;
  emit<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void;
}
