/**
 * The TCP list service. A classic client connects right after its `Accept` and reads the whole
 * online list; it sends nothing. So a connection from an address that was just sent an `Accept`
 * gets the list at once; any other connection must speak first, and bytes we do not understand
 * are dropped as `tcp-garbage` (the qim protocol will speak here too: docs/PROTOCOL.md).
 *
 * Serving only addresses that just logged in keeps the list (who is online, and where) away from
 * strangers, which the seed did not.
 */
import type { Endpoint } from '../protocol/endpoint.js';
import type { TcpConnection } from '../transport/tcp.js';
import type { ServerContext } from './context.js';

/** How many unclaimed list fetches one address may hold (retransmitted logins each grant one). */
const MAX_PENDING_PER_ADDRESS = 16;

interface Pending {
  count: number;
  expires: number;
}

/** Grants and serves classic list fetches. */
export class ListService {
  readonly #ctx: ServerContext;
  readonly #pending = new Map<string, Pending>();
  readonly #sweep: NodeJS.Timeout;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
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
    if (this.#claim(conn.remote.address)) {
      const list = ctx.directory.classicList();
      conn.onData((chunk) => this.#garbage(conn.remote, chunk.length));
      conn.endWith(list);
      ctx.counters.listsSent++;
      ctx.emit('list-sent', { to: conn.remote, users: ctx.directory.size, bytes: list.length });
      return;
    }
    conn.onData((chunk) => {
      this.#garbage(conn.remote, chunk.length);
      conn.destroy();
    });
  }

  /** Stops the expiry timer. */
  close(): void {
    clearInterval(this.#sweep);
  }

  #claim(address: string): boolean {
    const p = this.#pending.get(address);
    if (p === undefined || p.expires < Date.now()) return false;
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
