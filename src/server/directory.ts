import { endpointKey, type Endpoint } from '../protocol/endpoint.js';
import { encodeList } from '../protocol/classic/list.js';
import type { Status } from '../protocol/v2/messages.js';

/** Which protocol a user speaks. */
export type UserProtocol = 'classic' | 'qim';

/** One online user as the server knows them. */
export interface OnlineUser {
  readonly name: string;
  /** The endpoint the user receives on; its address was checked against the datagram source. */
  readonly endpoint: Endpoint;
  readonly protocol: UserProtocol;
  /** When the user logged in (ms since the epoch). */
  readonly since: number;
  /** The Ed25519 identity key (qim users only). */
  readonly identity?: Buffer;
  /**
   * The identity key's fingerprint, as the online list carries it (computed once, where the key
   * comes in: see keyWithFingerprint); present exactly when `identity` is.
   */
  readonly fingerprint?: Buffer;
  /** Classic users are always `online`; an `invisible` user is listed to nobody. */
  readonly status: Status;
  /** The endpoint the user reported (a qim LOGIN's, behind a NAT); absent when it is `endpoint`. */
  readonly privateEndpoint?: Endpoint;
  /** The server instance that serves the user, when it is another one (a cluster); else absent. */
  readonly instance?: string;
}

/** Why a user of this instance left the directory. */
export type RemoveReason = 'logout' | 'replaced' | 'expired';

/** A change to one of this instance's own users: `after` undefined when they left. */
export type LocalChange = { readonly before: OnlineUser | undefined; readonly after: OnlineUser } | { readonly before: OnlineUser; readonly after: undefined; readonly reason: RemoveReason };

/**
 * The in-memory directory of who is online: by name and by endpoint, both O(1).
 *
 * The classic list bytes are built once per change and reused for every fetch, so a login storm
 * of N users costs N list encodings at most, never N per fetch.
 */
export class Directory {
  readonly #byName = new Map<string, OnlineUser>();
  readonly #byEndpoint = new Map<string, OnlineUser>();
  /** This instance's classic users: each join and leave is sent to them one by one. */
  readonly #classicLocal = new Map<string, OnlineUser>();
  #classicList: Buffer | null = null;
  #generation = 0;
  /** Told of every change to this instance's own users (the cluster publishes them). */
  onLocalChange: ((change: LocalChange) => void) | null = null;

  get size(): number {
    return this.#byName.size;
  }

  /** Grows with every change: what is computed from the whole directory can be cached by it. */
  get generation(): number {
    return this.#generation;
  }

  byName(name: string): OnlineUser | undefined {
    return this.#byName.get(name);
  }

  byEndpoint(ep: Endpoint): OnlineUser | undefined {
    return this.#byEndpoint.get(endpointKey(ep));
  }

  /** Adds or replaces the entry for `user.name` (callers check conflicts first). */
  add(user: OnlineUser): void {
    const old = this.#byName.get(user.name);
    if (old !== undefined) this.#byEndpoint.delete(endpointKey(old.endpoint));
    this.#byName.set(user.name, user);
    this.#byEndpoint.set(endpointKey(user.endpoint), user);
    if (user.protocol === 'classic' && user.instance === undefined) this.#classicLocal.set(user.name, user);
    else this.#classicLocal.delete(user.name);
    this.#classicList = null;
    this.#generation++;
    if (user.instance === undefined) this.onLocalChange?.({ before: old, after: user });
  }

  /** Removes a user; returns whether they were online. */
  remove(name: string, reason: RemoveReason = 'logout'): boolean {
    const user = this.#byName.get(name);
    if (user === undefined) return false;
    this.#byName.delete(name);
    this.#byEndpoint.delete(endpointKey(user.endpoint));
    this.#classicLocal.delete(name);
    this.#classicList = null;
    this.#generation++;
    if (user.instance === undefined) this.onLocalChange?.({ before: user, after: undefined, reason });
    return true;
  }

  /** A user of this instance, by endpoint (a cluster's other users are not ours to log out). */
  localByEndpoint(ep: Endpoint): OnlineUser | undefined {
    const u = this.#byEndpoint.get(endpointKey(ep));
    return u?.instance === undefined ? u : undefined;
  }

  /** Changes a user's status; returns the one before, or undefined when `name` is not online. */
  setStatus(name: string, status: Status): Status | undefined {
    const user = this.#byName.get(name);
    if (user === undefined) return undefined;
    if (user.status !== status) this.add({ ...user, status });
    return user.status;
  }

  /** Every online user, in login order. */
  users(): IterableIterator<OnlineUser> {
    return this.#byName.values();
  }

  /**
   * This instance's classic users (who hear every join and leave as a datagram): found without
   * walking everyone, which at every login of a storm would be N² steps.
   */
  classicLocals(): IterableIterator<OnlineUser> {
    return this.#classicLocal.values();
  }

  /** Every user others may see (not invisible), in login order. */
  *visible(): IterableIterator<OnlineUser> {
    for (const u of this.#byName.values()) if (u.status !== 'invisible') yield u;
  }

  /** The visible list as classic TCP bytes (cached until the next change). */
  classicList(): Buffer {
    this.#classicList ??= encodeList(this.visible());
    return this.#classicList;
  }
}
