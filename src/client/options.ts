import { QimError } from '../errors.js';
import { isPort } from '../protocol/endpoint.js';
import { CLASSIC_MAX_DATAGRAM_BYTES } from '../protocol/classic/datagram.js';
import { CLASSIC_MAX_LIST_BYTES } from '../protocol/classic/list.js';
import { DEFAULT_MAX_NAME_LENGTH } from '../protocol/names.js';

/** Every limit of the client, with its default (docs/LIMITS.md). */
export interface ClientLimits {
  /** Logins sent before giving up (UDP may lose one). */
  readonly loginAttempts: number;
  /** Wait for `Accept` before sending the login again. */
  readonly loginRetryMs: number;
  /** Time allowed for the TCP list fetch, connection included. */
  readonly listTimeoutMs: number;
  /** Largest list accepted, in UTF-8 bytes. */
  readonly maxListBytes: number;
  /** Largest datagram sent or accepted, in bytes (a talk's text must fit, in UTF-16). */
  readonly maxDatagramBytes: number;
  /** Contacts kept; joins past it are ignored. */
  readonly maxContacts: number;
  /** Longest own name accepted before login, in UTF-16 code units. */
  readonly maxNameLength: number;
  /** Datagrams held while the list is fetched, to apply after it (joins, leaves, early messages). */
  readonly maxEarlyDatagrams: number;
}

/** The defaults of {@link ClientLimits}. */
export const DEFAULT_CLIENT_LIMITS: ClientLimits = Object.freeze({
  loginAttempts: 3,
  loginRetryMs: 1000,
  listTimeoutMs: 5000,
  maxListBytes: CLASSIC_MAX_LIST_BYTES,
  maxDatagramBytes: CLASSIC_MAX_DATAGRAM_BYTES,
  maxContacts: 100_000,
  maxNameLength: DEFAULT_MAX_NAME_LENGTH,
  maxEarlyDatagrams: 1024,
});

/** Options of {@link QimClient}. */
export interface ClientOptions {
  /** The index server. */
  readonly server: { readonly host: string; readonly port: number };
  readonly name: string;
  /** Address of our own chat endpoint; default: the address that reaches the server. */
  readonly host?: string;
  /** Port of our own chat endpoint; default 0 (ephemeral). */
  readonly port?: number;
  readonly limits?: Partial<ClientLimits>;
  /** The clock for message times; injectable for tests. */
  readonly clock?: () => Date;
}

/** Options with defaults applied. */
export interface ResolvedClientOptions {
  readonly server: { readonly host: string; readonly port: number };
  readonly name: string;
  readonly host: string | undefined;
  readonly port: number;
  readonly limits: ClientLimits;
  readonly clock: () => Date;
}

/** Applies defaults and checks ranges; throws `ERR_BAD_OPTION` naming the bad option. */
export function resolveClientOptions(o: ClientOptions): ResolvedClientOptions {
  if (!isPort(o.server.port)) throw new QimError('ERR_BAD_OPTION', `server port must be 1 to 65535, got ${o.server.port}`);
  const port = o.port ?? 0;
  if (port !== 0 && !isPort(port)) throw new QimError('ERR_BAD_OPTION', `port must be 0 to 65535, got ${port}`);
  const limits = { ...DEFAULT_CLIENT_LIMITS, ...o.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new QimError('ERR_BAD_OPTION', `limit ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return { server: o.server, name: o.name, host: o.host, port, limits, clock: o.clock ?? (() => new Date()) };
}
