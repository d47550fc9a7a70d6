import type { Endpoint } from '../protocol/endpoint.js';
import type { DropReason } from '../protocol/result.js';
import type { ServerCounters } from './counters.js';
import type { UserProtocol } from './directory.js';
import type { Status } from '../protocol/v2/messages.js';

/**
 * Everything the server reports, as typed events: what the seed's server window showed (started,
 * login, logout, list sent, broadcast) plus refusals and every dropped input with its reason.
 */
export interface ServerEvents {
  started: [{ udp: Endpoint; tcp: Endpoint }];
  login: [{ name: string; endpoint: Endpoint; protocol: UserProtocol }];
  /**
   * `replaced`: a new login from the same endpoint under another name took the entry over;
   * `expired`: a qim user's lease ran out without a heartbeat.
   */
  logout: [{ name: string; endpoint: Endpoint; reason: 'logout' | 'replaced' | 'expired' }];
  /** A qim user changed status (`invisible` included: the server log and dashboard see it). */
  status: [{ name: string; status: Status; before: Status }];
  refused: [{ name: string; endpoint: Endpoint; reason: DropReason; message: string }];
  'list-sent': [{ to: Endpoint; users: number; bytes: number }];
  broadcast: [{ kind: 'login' | 'logout'; name: string; recipients: number }];
  /** A storm began (`holding`: qim users are told to wait for the list) or the list settled at `version`. */
  'presence-hold': [{ holding: boolean; version: number }];
  drop: [{ reason: DropReason; from: Endpoint; bytes: number; transport: 'udp' | 'tcp' }];
  stopped: [{ counters: ServerCounters }];
}
