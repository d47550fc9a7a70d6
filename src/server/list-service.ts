/**
 * The TCP list service. A classic client connects right after its `Accept` and reads the whole
 * online list; it sends nothing. So a connection from an address that was just sent an `Accept`
 * gets the list at once. Any other connection must speak first: a qim client sends one framed
 * LIST-REQUEST (a two-byte length, then the datagram) and reads the snapshot back in the same
 * framing (docs/PROTOCOL.md, "Resync over TCP"); bytes we do not understand are dropped as
 * `tcp-garbage`.
 *
 * Serving only addresses that just logged in keeps the list (who is online, and where) away from
 * strangers, which the seed did not.
 */
import type { Endpoint } from '../protocol/endpoint.js';
import { MAX_DATAGRAM, looksV2 } from '../protocol/v2/messages.js';
import { firstFrameBytes, frameDatagrams } from '../protocol/v2/stream.js';
import type { TcpConnection } from '../transport/tcp.js';
import type { ServerContext } from './context.js';

/** How many unclaimed list fetches one address may hold (retransmitted logins each grant one). */
const MAX_PENDING_PER_ADDRESS = 16;
/** How long a connection from an address granted a classic fetch may stay silent before it counts as classic. */
const CLASSIC_SILENCE_MS = 100;

interface Pending {
  count: number;
  expires: number;
}

/**
 * Takes a framed qim request: false to hang up at once; true when `answer` will be called with the
 * datagrams to send back (none: hang up).
 */
export type QimTcpHandler = (request: Buffer, from: Endpoint, answer: (datagrams: readonly Buffer[]) => void) => boolean;

/** Grants and serves list fetches over TCP: classic ones by address, qim ones by request. */
export class ListService {
  readonly #ctx: ServerContext;
  readonly #pending = new Map<string, Pending>();
  readonly #sweep: NodeJS.Timeout;
  readonly #qim: QimTcpHandler;
  /** Answers framed, by answer: a snapshot, or the batches since a version, is one array for everyone until the list changes. */
  readonly #framedAnswers = new WeakMap<readonly Buffer[], Buffer>();

  constructor(ctx: ServerContext, qim: QimTcpHandler) {
    this.#ctx = ctx;
    this.#qim = qim;
    this.#sweep = setInterval(() => this.#expire(Date.now()), ctx.limits.listFetchWindowMs);
    this.#sweep.unref();
  }

  /** Lets `address` fetch the list once within the fetch window. */
  grant(address: string): void {
    const expires = Date.now() + this.#ctx.limits.listFetchWindowMs;
    const p = this.#pending.get(address);
    if (p === undefined) {
      this.#pending.set(address, { count: 1, expires });
    } else {
      p.count = Math.min(p.count + 1, MAX_PENDING_PER_ADDRESS);
      p.expires = expires;
    }
  }

  /** Handles one accepted TCP connection. */
  serve(conn: TcpConnection): void {
    const ctx = this.#ctx;
    ctx.counters.tcpConnections++;
    // A classic client says nothing and waits for the list; a qim client sends its request at
    // once. From an address granted a classic fetch, silence for CLASSIC_SILENCE_MS means classic
    // (so a qim user sharing the address, behind the same NAT, does not take the grant).
    let buffered = Buffer.alloc(0);
    let done = false;
    let classic: NodeJS.Timeout | null = null;
    if (this.#grant(conn.remote.address) !== undefined) {
      classic = setTimeout(() => {
        classic = null;
        if (!this.#claim(conn.remote.address)) return conn.destroy();
        const list = ctx.directory.classicList();
        done = true;
        conn.endWith(list);
        ctx.counters.listsSent++;
        ctx.counters.listBytes += list.length;
        ctx.emit('list-sent', { to: conn.remote, users: ctx.directory.size, bytes: list.length });
      }, CLASSIC_SILENCE_MS);
      conn.onClose(() => {
        if (classic !== null) clearTimeout(classic);
      });
    }
    // A qim request: one frame. Anything else, or more than one frame's worth, is garbage.
    conn.onData((chunk) => {
      if (classic !== null) clearTimeout(classic);
      classic = null;
      if (done) return this.#garbage(conn.remote, chunk.length);
      buffered = Buffer.concat([buffered, chunk]);
      const total = firstFrameBytes(buffered);
      const tooLong = (buffered[0] ?? 0) > MAX_DATAGRAM >> 8; // decidable from the first byte
      const bad = tooLong || (total !== null && (total === 2 || total > 2 + MAX_DATAGRAM || buffered.length > total || (buffered.length > 2 && !looksV2(buffered.subarray(2)))));
      if (bad) {
        done = true;
        this.#garbage(conn.remote, buffered.length);
        conn.destroy();
        return;
      }
      if (total === null || buffered.length < total) return;
      done = true;
      const valid = this.#qim(buffered.subarray(2), conn.remote, (answer) => {
        if (answer.length === 0) return conn.destroy();
        const framed = this.#framed(answer);
        conn.endWith(framed);
        ctx.counters.listsSent++;
        ctx.counters.listBytes += framed.length;
        ctx.emit('list-sent', { to: conn.remote, users: ctx.directory.size, bytes: answer.reduce((n, d) => n + d.length, 0) });
      });
      if (!valid) conn.destroy();
    });
  }

  /**
   * The answer framed for TCP. A snapshot, or the batches since a version, is the same array for
   * everyone until the list changes (PresenceHub caches them), so it is framed once: a login
   * storm's fetches are one write each.
   */
  #framed(datagrams: readonly Buffer[]): Buffer {
    let framed = this.#framedAnswers.get(datagrams);
    if (framed === undefined) {
      framed = frameDatagrams(datagrams);
      this.#framedAnswers.set(datagrams, framed);
    }
    return framed;
  }

  /** Stops the expiry timer. */
  close(): void {
    clearInterval(this.#sweep);
  }

  /** The fetches `address` was granted and has not made, if the grant still stands. */
  #grant(address: string): Pending | undefined {
    const p = this.#pending.get(address);
    return p !== undefined && p.expires >= Date.now() ? p : undefined;
  }

  #claim(address: string): boolean {
    const p = this.#grant(address);
    if (p === undefined) return false;
    if (--p.count === 0) this.#pending.delete(address);
    return true;
  }

  #garbage(from: Endpoint, bytes: number): void {
    this.#ctx.drop('tcp-garbage', from, bytes, 'tcp');
  }

  #expire(now: number): void {
    for (const [address, p] of this.#pending) if (p.expires < now) this.#pending.delete(address);
  }
}
