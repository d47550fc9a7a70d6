/**
 * The TCP adapter: a listener with bounded connections and idle time, and a one-shot dialer.
 * The only file that touches `node:net`. Bytes only; what they mean is decided above.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { canonicalAddress, type Endpoint } from '../protocol/endpoint.js';
import { resolveHost } from './udp.js';

/** One accepted or dialled connection, reduced to what the layers above need. */
export interface TcpConnection {
  readonly remote: Endpoint;
  /** Called with each chunk as it arrives (chunks split anywhere). */
  onData(handler: (chunk: Buffer) => void): void;
  /** Called once when the peer ends or the connection fails or times out. */
  onClose(handler: () => void): void;
  /** Writes `bytes`, keeping the connection open. */
  write(bytes: Uint8Array): void;
  /**
   * Writes `bytes` and then closes our side. On an accepted connection the idle limit then grows
   * by the time `bytes` take at ANSWER_MIN_BYTES_PER_SECOND: Node counts a write as activity only
   * when it is handed to the kernel whole, and a reader draining a long answer slowly (a big list
   * over a slow link, or a busy machine) shows none for seconds while it reads.
   */
  endWith(bytes: Uint8Array): void;
  /** Closes at once. */
  destroy(): void;
}

/** Limits and addresses for {@link TcpListener.listen}. */
export interface TcpListenOptions {
  readonly host: string;
  readonly port: number;
  /** Connections open at once; further ones are closed on arrival and reported. */
  readonly maxConnections: number;
  /** A connection silent this long is closed and reported. */
  readonly idleMs: number;
}

/**
 * The slowest a peer may read an answer before its connection counts as idle: a 20,000-user list
 * (about 700 KB) may take 22 s more than the idle limit.
 */
export const ANSWER_MIN_BYTES_PER_SECOND = 32 * 1024;

/** Why the listener closed a connection on its own. */
export type TcpRejection = 'tcp-too-many' | 'tcp-idle';

/** A TCP listener. */
export class TcpListener {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens; `onConnection` gets each accepted connection, `onReject` each one closed by a limit. */
  static async listen(
    options: TcpListenOptions,
    onConnection: (conn: TcpConnection) => void,
    onReject: (reason: TcpRejection, remote: Endpoint) => void,
  ): Promise<TcpListener> {
    const server = createServer({ noDelay: true });
    const listener = new TcpListener(server);
    server.on('connection', (socket) => {
      const remote = remoteOf(socket);
      if (listener.#sockets.size >= options.maxConnections) {
        socket.destroy();
        onReject('tcp-too-many', remote);
        return;
      }
      listener.#sockets.add(socket);
      socket.once('close', () => listener.#sockets.delete(socket));
      socket.setTimeout(options.idleMs, () => {
        socket.destroy();
        onReject('tcp-idle', remote);
      });
      onConnection(wrap(socket, remote, options.idleMs));
    });
    const host = await resolveHost(options.host);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      server.once('error', fail);
      // `::` accepts IPv4 too (ipv6Only false); on hosts without IPv6 it falls back below.
      server.listen({ host, port: options.port, ipv6Only: false, exclusive: true, backlog: 4096 }, () => {
        server.off('error', fail);
        resolve();
      });
    }).catch(async (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      if (host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '0.0.0.0', port: options.port, backlog: 4096 }, () => resolve());
      });
    });
    server.on('error', () => {}); // accept errors (EMFILE) must not end the process
    return listener;
  }

  /** The bound port. */
  port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** Connections open now. */
  connections(): number {
    return this.#sockets.size;
  }

  /** Stops listening and closes every open connection. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Dials `host:port`; rejects after `timeoutMs` without a connection. */
export function dialTcp(host: string, port: number, timeoutMs: number): Promise<TcpConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(wrap(socket, remoteOf(socket)));
    });
  });
}

function remoteOf(socket: Socket): Endpoint {
  const raw = socket.remoteAddress ?? '';
  return { address: canonicalAddress(raw) ?? raw, port: socket.remotePort ?? 0 };
}

/** A connection; `idleMs` is an accepted one's idle limit (dialled ones have none). */
function wrap(socket: Socket, remote: Endpoint, idleMs?: number): TcpConnection {
  socket.on('error', () => socket.destroy());
  return {
    remote,
    onData: (handler) => socket.on('data', handler),
    onClose: (handler) => socket.once('close', handler),
    write: (bytes) => void socket.write(bytes),
    endWith: (bytes) => {
      if (idleMs !== undefined) socket.setTimeout(idleMs + Math.ceil((bytes.length * 1000) / ANSWER_MIN_BYTES_PER_SECOND));
      socket.end(bytes);
    },
    destroy: () => socket.destroy(),
  };
}
