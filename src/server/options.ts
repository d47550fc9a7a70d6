import { QimError } from '../errors.js';
import { ed25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { isPort } from '../protocol/endpoint.js';
import { randomBytes } from 'node:crypto';
import { MemoryAccounts, type AccountStore } from './accounts.js';
import type { Backplane } from './cluster/backplane.js';
import { SoloBackplane } from './cluster/memory.js';
import { MemoryOffline, type OfflineStore } from './offline.js';

/**
 * Every limit of the server, with its default. docs/LIMITS.md lists them with the reasons.
 */
export interface ServerLimits {
  /** Users online at once; a login past it is refused (`server-full`). */
  readonly maxUsers: number;
  /** Longest user name, in UTF-16 code units (what .NET counts). */
  readonly maxNameLength: number;
  /** Largest classic datagram accepted, in bytes; larger ones are dropped (`oversized`). */
  readonly classicMaxDatagramBytes: number;
  /** TCP connections open at once on the list port. */
  readonly maxTcpConnections: number;
  /** A TCP connection silent this long is closed (`tcp-idle`). */
  readonly tcpIdleMs: number;
  /** How long after its `Accept` a classic client may fetch the list over TCP. */
  readonly listFetchWindowMs: number;
  /** Kernel receive and send buffer of the UDP socket, in bytes. */
  readonly udpBufferBytes: number;
  /** How often qim clients heartbeat. */
  readonly heartbeatMs: number;
  /** A qim user silent this long is expired; seven heartbeats, so ordinary loss never expires anyone. */
  readonly leaseMs: number;
  /** How often the cookie secret rotates (a cookie stays valid for one to two periods). */
  readonly cookieRotateMs: number;
  /** Presence changes within this window go to qim users together, in as few datagrams as fit. */
  readonly presenceBatchMs: number;
  /** LOGIN signatures checked at once (on the thread pool); a LOGIN past it is dropped (`busy`). */
  readonly maxLoginsChecking: number;
  /** HELLOs and LOGINs one source address may send per second, sustained. */
  readonly handshakesPerSecond: number;
  /** ... and at once. */
  readonly handshakeBurst: number;
  /** Bytes per second one user may send through the relay, sustained. */
  readonly relayBytesPerSecond: number;
  /** ... and at once. */
  readonly relayBurstBytes: number;
  /** INTRODUCEs one session may send per second, sustained (bursts of four times as many). */
  readonly introductionsPerSecond: number;
  /** Offline messages kept for one recipient. */
  readonly offlinePerRecipient: number;
  /** How long an offline message is kept before it is forgotten. */
  readonly offlineKeepMs: number;
}

/** The defaults of {@link ServerLimits}. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = Object.freeze({
  maxUsers: 100_000,
  maxNameLength: 32,
  classicMaxDatagramBytes: 8192,
  maxTcpConnections: 4096,
  tcpIdleMs: 10_000,
  listFetchWindowMs: 30_000,
  udpBufferBytes: 4 * 1024 * 1024,
  heartbeatMs: 5_000,
  leaseMs: 35_000,
  cookieRotateMs: 120_000,
  presenceBatchMs: 20,
  maxLoginsChecking: 4096,
  handshakesPerSecond: 10,
  handshakeBurst: 40,
  relayBytesPerSecond: 32 * 1024,
  relayBurstBytes: 128 * 1024,
  introductionsPerSecond: 5,
  offlinePerRecipient: 100,
  offlineKeepMs: 7 * 24 * 3600 * 1000,
});

/** Options of {@link QimServer}. */
export interface ServerOptions {
  /** Address to bind UDP and TCP; default `::` (every interface, IPv6 and IPv4). */
  readonly host?: string;
  /** Port for UDP and TCP alike; default 8500; 0 picks a port free for both. */
  readonly port?: number;
  readonly limits?: Partial<ServerLimits>;
  /** The server's Ed25519 identity; a fresh one per run when omitted. */
  readonly identity?: KeyPair;
  /** Where names are bound to keys; in memory when omitted (see `SqliteAccounts`). */
  readonly accounts?: AccountStore;
  /** Where offline messages and prekeys are kept; in memory when omitted (see `SqliteOffline`). */
  readonly offline?: OfflineStore;
  /**
   * What this instance shares with the other instances of a cluster (`RedisBackplane`); a
   * `SoloBackplane`, which shares nothing, when omitted (a lone server).
   */
  readonly backplane?: Backplane;
  /** This instance's id in the cluster; random when omitted (a restarted instance is a new one). */
  readonly instance?: string;
}

/** Options with every default applied and checked. */
export interface ResolvedServerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: ServerLimits;
  readonly identity: KeyPair;
  readonly accounts: AccountStore;
  readonly offline: OfflineStore;
  readonly backplane: Backplane;
  readonly instance: string;
}

/** The default port of `qim server`, UDP and TCP. */
export const DEFAULT_PORT = 8500;

/** Applies defaults and checks ranges; throws `ERR_BAD_OPTION` naming the bad option. */
export function resolveServerOptions(o: ServerOptions): ResolvedServerOptions {
  const port = o.port ?? DEFAULT_PORT;
  if (port !== 0 && !isPort(port)) throw new QimError('ERR_BAD_OPTION', `port must be 0 to 65535, got ${port}`);
  const limits = { ...DEFAULT_SERVER_LIMITS, ...o.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new QimError('ERR_BAD_OPTION', `limit ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.leaseMs < 2 * limits.heartbeatMs) {
    throw new QimError('ERR_BAD_OPTION', 'leaseMs must be at least two heartbeats (six or more is advised)');
  }
  return {
    host: o.host ?? '::',
    port,
    limits,
    identity: o.identity ?? ed25519KeyPair(),
    accounts: o.accounts ?? new MemoryAccounts(),
    offline: o.offline ?? new MemoryOffline(),
    backplane: o.backplane ?? new SoloBackplane(),
    instance: o.instance ?? randomBytes(6).toString('hex'),
  };
}
