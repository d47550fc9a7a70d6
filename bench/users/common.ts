/**
 * What every simulated user shares: where it lives, the list it holds (a bitset over the user
 * indices of the run, so 20,000 users with 20,000-entry lists fit in 50 MB), and a wall clock
 * that every process of a run reads alike.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The loopback address of user `index` in address block `block` (127.block.x.y), `perAddress`
 * users to an address. Users spread over many addresses as over many hosts: the server's
 * per-address limits (handshake rate, pending list fetches) then apply as they would in life.
 */
export function userAddress(block: number, index: number, perAddress: number): string {
  const a = Math.floor(index / perAddress) + 1;
  return `127.${block}.${(a >> 8) & 0xff}.${a & 0xff}`;
}

/** The user index in a name `PREFIX<digits>` (bytes of UTF-8 or ASCII), or -1. */
export function indexOfName(bytes: Uint8Array, start: number, length: number, prefix: number): number {
  if (length < 2 || bytes[start] !== prefix) return -1;
  let n = 0;
  for (let i = start + 1; i < start + length; i++) {
    const d = (bytes[i] as number) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The same for a name held as a string. */
export function indexOfText(name: string, prefix: string): number {
  if (name.length < 2 || name[0] !== prefix) return -1;
  const n = Number(name.slice(1));
  return Number.isInteger(n) ? n : -1;
}

/** A set of user indices below `size`, with its count. */
export class Bitset {
  readonly #bits: Uint8Array;
  #count = 0;

  constructor(readonly size: number) {
    this.#bits = new Uint8Array(Math.ceil(size / 8));
  }

  get count(): number {
    return this.#count;
  }

  has(i: number): boolean {
    return i >= 0 && i < this.size && ((this.#bits[i >> 3] as number) & (1 << (i & 7))) !== 0;
  }

  add(i: number): void {
    if (i < 0 || i >= this.size || this.has(i)) return;
    this.#bits[i >> 3] = (this.#bits[i >> 3] as number) | (1 << (i & 7));
    this.#count++;
  }

  delete(i: number): void {
    if (!this.has(i)) return;
    this.#bits[i >> 3] = (this.#bits[i >> 3] as number) & ~(1 << (i & 7));
    this.#count--;
  }

  clear(): void {
    this.#bits.fill(0);
    this.#count = 0;
  }
}

/** What every simulated user is made with. */
export interface UserOptions {
  readonly index: number;
  readonly name: string;
  /** Its loopback address (see {@link userAddress}); the port is picked when it binds. */
  readonly address: string;
  readonly server: { readonly address: string; readonly port: number };
  /** Users of the run: the list is complete when it holds them all. */
  readonly total: number;
  readonly recvBufferSize: number;
  readonly observer: UserObserver;
}

/** What a simulated user reports about itself. */
export interface UserStats {
  /** Login attempts beyond the first (timeouts). */
  retries: number;
  /** Whole-list fetches after a gap over TCP; lists asked for as datagrams (TCP failed), for any reason. */
  resyncTcp: number;
  resyncUdp: number;
  /** LIST-HOLDs taken (the server held presence in a storm; the list was fetched when it settled). */
  holds: number;
  /** Whole lists, and catch-ups (the batches since the version asked from), received over TCP for any reason. */
  listsTcp: number;
  catchUpsTcp: number;
  /** TCP fetches given up after a silence: before the answer began, and after part of it came (the server may have sent the whole answer into it). */
  fetchesSilent: number;
  fetchesStalled: number;
  datagramsIn: number;
  bytesIn: number;
}

export function newUserStats(): UserStats {
  return { retries: 0, resyncTcp: 0, resyncUdp: 0, holds: 0, listsTcp: 0, catchUpsTcp: 0, fetchesSilent: 0, fetchesStalled: 0, datagramsIn: 0, bytesIn: 0 };
}

/** What a user tells its worker: list changes of other users, and its own progress. */
export interface UserObserver {
  /** A user of the run (prefix `u`) entered or left this user's list. */
  readonly onListChange?: (user: SimUser) => void;
  /** A churn joiner (prefix `j`) appeared (`up`) or disappeared in this user's list. */
  readonly onJoiner?: (user: SimUser, joiner: number, up: boolean) => void;
  /** Login done (WELCOME or Accept and list received). */
  readonly onOnline?: (user: SimUser) => void;
}

/** The part of a simulated user a worker drives. */
export interface SimUser {
  readonly index: number;
  readonly list: Bitset;
  readonly stats: UserStats;
  /** When the login started and when it was first online (wall ms; NaN until then). */
  readonly startedAt: number;
  readonly onlineAt: number;
  start(): void;
  logout(): void;
  close(): void;
}

/** Entries in a classic list text (`a,ep;b,ep;end`). */
export function countEntries(text: string): number {
  let n = 0;
  for (let i = text.indexOf(';'); i >= 0; i = text.indexOf(';', i + 1)) n++;
  return n;
}

/** Binds a user's UDP socket on `address` (any free port) with `recvBufferSize`, handing each datagram to `onMessage`. */
export function bindUserSocket(address: string, recvBufferSize: number, onMessage: (bytes: Buffer) => void): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize });
  socket.on('message', onMessage);
  socket.on('error', () => {});
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * One answer awaited at a time (a list fetch): `arm` starts waiting and returns a promise that
 * resolves with what `settle` is given, or with -1 after `timeoutMs`.
 */
export class OneWaiter {
  #settle: ((n: number) => void) | null = null;

  get waiting(): boolean {
    return this.#settle !== null;
  }

  arm(timeoutMs: number, onTimeout: () => void = () => {}): Promise<number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#settle = null;
        onTimeout();
        resolve(-1);
      }, timeoutMs);
      this.#settle = (n) => {
        clearTimeout(timer);
        this.#settle = null;
        resolve(n);
      };
    });
  }

  settle(n: number): void {
    this.#settle?.(n);
  }
}

/** The fields every simulated user has, set up from its options. */
export abstract class BaseUser implements SimUser {
  readonly index: number;
  readonly list: Bitset;
  readonly stats = newUserStats();
  startedAt = Number.NaN;
  onlineAt = Number.NaN;
  /** When the login datagram of the successful attempt left (wall ms). */
  loginSentAt = Number.NaN;

  constructor(options: UserOptions) {
    this.index = options.index;
    this.list = new Bitset(options.total);
  }

  abstract start(): void;
  abstract logout(): void;
  abstract close(): void;
}
