import type { DropReason } from '../protocol/result.js';

/**
 * What the server has done since it started. One plain object so the CLI, the dashboard and
 * `/metrics` all read the same numbers; every field only grows.
 */
export interface ServerCounters {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  sendErrors: number;
  logins: number;
  logouts: number;
  /** qim users removed because their lease ran out (no heartbeat). */
  expired: number;
  refused: number;
  /** LOGINs that came again (their WELCOME was slow or lost) and got the same WELCOME again. */
  loginRepeats: number;
  /** Login storms met by holding presence (deltas paused, the list fetched once it settled). */
  presenceHolds: number;
  listsSent: number;
  /** List requests (TCP or UDP) answered with the batches since the version the client named, not the whole list. */
  catchUps: number;
  /** Bytes of those lists (TCP payload: frames with their length prefixes, or classic text). */
  listBytes: number;
  broadcasts: number;
  tcpConnections: number;
  /** Peer datagrams carried by the relay, and their bytes (ciphertext). */
  relayed: number;
  relayedBytes: number;
  /** Inputs dropped, by reason (datagrams and TCP connections alike). */
  drops: Partial<Record<DropReason, number>>;
}

/** A zeroed counter set. */
export function newServerCounters(): ServerCounters {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    logins: 0,
    logouts: 0,
    expired: 0,
    refused: 0,
    loginRepeats: 0,
    presenceHolds: 0,
    listsSent: 0,
    catchUps: 0,
    listBytes: 0,
    broadcasts: 0,
    tcpConnections: 0,
    relayed: 0,
    relayedBytes: 0,
    drops: {},
  };
}

/** Total inputs dropped, over every reason. */
export function totalDrops(c: ServerCounters): number {
  let n = 0;
  for (const v of Object.values(c.drops)) n += v;
  return n;
}
