/**
 * The server's activity as flat, printable records: what the seed's server window showed (logins,
 * logouts, list fetches, broadcasts) plus status changes, refusals and drops. The CLI log and the dashboard's
 * event log both read it, so the two always say the same thing in the same words.
 */
import type { EventEmitter } from 'node:events';
import { formatEndpoint } from '../protocol/endpoint.js';
import type { DropReason } from '../protocol/result.js';
import type { ServerEvents } from './events.js';
import type { QimServer } from './server.js';

/** One activity record: an event name and flat fields (endpoints already formatted). */
export interface Activity {
  readonly level: 'info' | 'warn';
  readonly event: 'login' | 'logout' | 'status' | 'refused' | 'list-sent' | 'broadcast' | 'presence-hold' | 'drop';
  readonly fields: Readonly<Record<string, string | number>>;
  /** Set on drops, so a log can cap them per reason. */
  readonly dropReason?: DropReason;
}

/**
 * Calls `sink` with one record per login, logout, status change, refusal, list sent, broadcast,
 * presence hold (a login storm) and drop of `server`. Returns a function that unsubscribes.
 */
export function onActivity(server: QimServer, sink: (activity: Activity) => void): () => void {
  const online = (): number => server.directory.size;
  const handlers: { [K in Activity['event']]: (...args: ServerEvents[K]) => void } = {
    login: ({ name, endpoint, protocol }) =>
      sink({ level: 'info', event: 'login', fields: { name, endpoint: formatEndpoint(endpoint), protocol, online: online() } }),
    logout: ({ name, endpoint, reason }) =>
      sink({ level: 'info', event: 'logout', fields: { name, endpoint: formatEndpoint(endpoint), reason, online: online() } }),
    status: ({ name, status, before }) => sink({ level: 'info', event: 'status', fields: { name, status, before } }),
    refused: ({ name, endpoint, reason, message }) =>
      sink({ level: 'warn', event: 'refused', fields: { name, endpoint: formatEndpoint(endpoint), reason, message } }),
    'list-sent': ({ to, users, bytes }) =>
      sink({ level: 'info', event: 'list-sent', fields: { to: formatEndpoint(to), users, bytes } }),
    broadcast: ({ kind, name, recipients }) => sink({ level: 'info', event: 'broadcast', fields: { kind, name, recipients } }),
    'presence-hold': ({ holding, version }) =>
      sink({ level: 'info', event: 'presence-hold', fields: { state: holding ? 'holding' : 'settled', version, online: online() } }),
    drop: ({ reason, from, bytes, transport }) =>
      sink({ level: 'warn', event: 'drop', fields: { reason, from: formatEndpoint(from), bytes, transport }, dropReason: reason }),
  };
  // Untyped from here on: each handler above is already checked against its event.
  const emitter: EventEmitter = server;
  const entries = Object.entries(handlers);
  for (const [event, handler] of entries) emitter.on(event, handler);
  return () => {
    for (const [event, handler] of entries) emitter.off(event, handler);
  };
}
