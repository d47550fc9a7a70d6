/**
 * What the dashboard shows, as plain JSON-ready data: the page is rendered from it once, and the
 * live stream sends it (a snapshot first, then changes) to the page's script.
 */
import { formatEndpoint } from '../../protocol/endpoint.js';
import type { ServerCounters } from '../counters.js';
import type { Status } from '../../protocol/v2/messages.js';
import type { OnlineUser, UserProtocol } from '../directory.js';
import type { LogEntry } from './event-log.js';

/** One online user as the dashboard lists them. */
export interface UserView {
  readonly name: string;
  /** `ADDRESS:PORT` (IPv6 in brackets). */
  readonly endpoint: string;
  readonly protocol: UserProtocol;
  /** Classic users are always `online`; the dashboard shows `invisible` users too. */
  readonly status: Status;
  /** Logged in at (ISO 8601). */
  readonly since: string;
}

/** The counters and online totals. */
export interface CountersView {
  readonly counters: ServerCounters;
  readonly online: Readonly<Record<UserProtocol, number>>;
}

/** Everything a page needs when it opens (or reconnects). */
export interface Snapshot {
  /** At most the dashboard's `maxListedUsers`, in login order. */
  readonly users: readonly UserView[];
  /** Users online in all (may exceed `users.length`). */
  readonly online: number;
  /** The recent log, oldest first. */
  readonly log: readonly LogEntry[];
  readonly counters: CountersView;
}

/** A change to the online list, sent live. `online` is the new total. */
export type PresenceChange =
  | { readonly op: 'upsert'; readonly user: UserView; readonly online: number }
  | { readonly op: 'remove'; readonly name: string; readonly online: number };

export function userView(u: OnlineUser): UserView {
  return { name: u.name, endpoint: formatEndpoint(u.endpoint), protocol: u.protocol, status: u.status, since: new Date(u.since).toISOString() };
}
