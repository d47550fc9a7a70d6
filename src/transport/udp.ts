/**
 * The UDP adapter: bytes in, bytes out, nothing else. The only file that touches `node:dgram`.
 *
 * One socket serves every send (the seed opened a fresh socket per datagram). Addresses handed to
 * the application are canonical (`canonicalAddress`), so an IPv4 peer seen through a dual-stack
 * socket is `127.0.0.1`, never `::ffff:127.0.0.1`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import { canonicalAddress, type Endpoint } from '../protocol/endpoint.js';

/** Options for {@link UdpTransport.bind}. */
export interface UdpBindOptions {
  /** Address or host name to bind; `::` binds every interface, IPv6 and IPv4 alike. */
  readonly host: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
  /** SO_RCVBUF in bytes, so a burst is not dropped by the kernel. */
  readonly recvBufferSize?: number;
  /** SO_SNDBUF in bytes. */
  readonly sendBufferSize?: number;
}

/** Receives each datagram with its canonical source endpoint. */
export type DatagramHandler = (bytes: Buffer, from: Endpoint) => void;

/** A bound UDP socket. */
export class UdpTransport {
  readonly #socket: Socket;
  readonly #dualStack: boolean;
  #handler: DatagramHandler = () => {};
  #onSendError: (err: Error) => void = () => {};
  #closed = false;
  // One callback for every send: no closure allocated per datagram on the hot path.
  readonly #sendDone = (err: Error | null): void => {
    if (err !== null) this.#onSendError(err);
  };

  private constructor(socket: Socket, dualStack: boolean) {
    this.#socket = socket;
    this.#dualStack = dualStack;
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const address = canonicalAddress(rinfo.address);
      if (address !== null) this.#handler(msg, { address, port: rinfo.port });
    });
    // A socket error (ICMP unreachable surfaced on some systems) must not end the process.
    socket.on('error', (err) => this.#onSendError(err));
  }

  /**
   * Binds a socket. `::` is tried as dual-stack and falls back to `0.0.0.0` on hosts without IPv6.
   */
  static async bind(options: UdpBindOptions): Promise<UdpTransport> {
    const host = await resolveHost(options.host);
    try {
      return await UdpTransport.#bindExact(host, options);
    } catch (err) {
      if (host === '::' && isAddressFamilyError(err)) return UdpTransport.#bindExact('0.0.0.0', options);
      throw err;
    }
  }

  static #bindExact(host: string, options: UdpBindOptions): Promise<UdpTransport> {
    const v4 = isIPv4(host);
    const socket = createSocket({
      type: v4 ? 'udp4' : 'udp6',
      ipv6Only: false,
      ...(options.recvBufferSize !== undefined ? { recvBufferSize: options.recvBufferSize } : {}),
      ...(options.sendBufferSize !== undefined ? { sendBufferSize: options.sendBufferSize } : {}),
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: host, port: options.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(new UdpTransport(socket, !v4));
      });
    });
  }

  /** Sets the receiver of every datagram (one handler: the layer above dispatches). */
  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /** Sets the receiver of send errors; they are counted, never thrown. */
  onError(handler: (err: Error) => void): void {
    this.#onSendError = handler;
  }

  /** Sends one datagram. Fire and forget: failures reach {@link onError}. */
  send(bytes: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    const address = this.#dualStack && isIPv4(to.address) ? `::ffff:${to.address}` : to.address;
    this.#socket.send(bytes, to.port, address, this.#sendDone);
  }

  /** The bound endpoint (canonical address; `::` or `0.0.0.0` when bound to all interfaces). */
  local(): Endpoint {
    const a = this.#socket.address();
    return { address: canonicalAddress(a.address) ?? a.address, port: a.port };
  }

  /** Closes the socket; idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/**
 * The local address this host uses to reach `host` (the route's source address), found by
 * connecting a UDP socket, which sends nothing. A client uses it as its default endpoint address.
 */
export async function localAddressToward(host: string, port: number): Promise<string> {
  const target = await resolveHost(host);
  const socket = createSocket(isIPv4(target) ? 'udp4' : 'udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, target, () => resolve());
    });
    const a = socket.address().address;
    return canonicalAddress(a) ?? a;
  } finally {
    socket.close();
  }
}

/** Resolves a host name to an address (IPv4 preferred, as the classic protocol's list is IPv4). */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch {
    return (await lookup(host)).address;
  }
}

function isAddressFamilyError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EINVAL';
}
