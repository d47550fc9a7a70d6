/**
 * A raw UDP socket that plays the other side in tests: sends exact bytes, and queues what it
 * receives so a test can wait for the next datagram that matches.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';

/** One received datagram. */
export interface Received {
  readonly bytes: Buffer;
  /** The bytes read as UTF-16LE (what classic datagrams are). */
  readonly text: string;
  readonly from: { address: string; port: number };
}

/** A raw UDP peer bound to `address` (any 127.x.y.z works on Linux loopback). */
export class RawPeer {
  readonly socket: Socket;
  readonly received: Received[] = [];
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (bytes, rinfo) => {
      this.received.push({ bytes, text: bytes.toString('utf16le'), from: { address: rinfo.address, port: rinfo.port } });
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    });
  }

  static async bind(address = '127.0.0.1', port = 0): Promise<RawPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    return new RawPeer(socket);
  }

  get address(): string {
    return this.socket.address().address;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** `ADDRESS:PORT` of this socket, as classic writes endpoints. */
  get endpoint(): string {
    return `${this.address}:${this.port}`;
  }

  /** Sends bytes, or a string as UTF-16LE. */
  send(data: string | Uint8Array, port: number, address = '127.0.0.1'): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf16le') : data;
    return new Promise((resolve, reject) => this.socket.send(bytes, port, address, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Resolves with (and removes) the first queued datagram that matches, waiting for it if need be.
   * Datagrams before it stay queued. Rejects after `timeoutMs` listing what did arrive.
   */
  async next(match: (r: Received) => boolean = () => true, timeoutMs = 5000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(match);
      if (i >= 0) return this.received.splice(i, 1)[0] as Received;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching datagram within ${timeoutMs} ms; queued: ${JSON.stringify(this.received.map((r) => r.text))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next datagram whose UTF-16LE text starts with `prefix`. */
  nextText(prefix: string, timeoutMs?: number): Promise<Received> {
    return this.next((r) => r.text.startsWith(prefix), timeoutMs);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/**
 * Connects to a TCP port (optionally from a given local address), writes `send` if given, and
 * resolves with every byte received until the server closes.
 */
export function tcpExchange(port: number, opts: { localAddress?: string; send?: Uint8Array; host?: string } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port, host: opts.host ?? '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    socket.on('connect', () => {
      if (opts.send) socket.write(opts.send);
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => ((err as { code?: string }).code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Logs a raw peer in with the classic flow and returns the list text it fetched. */
export async function rawLogin(peer: RawPeer, name: string, serverPort: number): Promise<string> {
  await peer.send(`login,${name},${peer.endpoint}`, serverPort);
  const accept = await peer.nextText('Accept,');
  const tcpPort = Number(accept.text.slice('Accept,'.length));
  const raw = await tcpExchange(tcpPort, { localAddress: peer.address, host: accept.from.address });
  // Skip the 7-bit length prefix: bytes with the high bit set, then one without.
  let at = 0;
  while ((raw[at] ?? 0) & 0x80) at++;
  return raw.subarray(at + 1).toString('utf8');
}
