/**
 * A path between one client and a server where the test decides when TCP answers arrive: it
 * forwards UDP both ways at once (from one socket of its own to the server, so the server sees the
 * path's address), and TCP through a connection of its own, holding what the server writes back
 * while `holdTcp` is set. Datagrams and TCP share the path's port number, as they share the
 * server's.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';

export class SlowPath {
  /** While set, the server's TCP answers (on connections made meanwhile) wait at the path until `release()`. */
  holdTcp = false;
  /** Datagrams the server sent the client, as they passed. */
  readonly toClient: Buffer[] = [];
  #client: RemoteInfo | null = null;
  readonly #held: (() => void)[] = [];

  private constructor(
    private readonly front: Socket,
    private readonly back: Socket,
    private readonly tcp: Server,
    private readonly serverPort: number,
  ) {
    front.on('message', (bytes, from) => {
      this.#client = from;
      back.send(bytes, serverPort, '127.0.0.1');
    });
    back.on('message', (bytes) => {
      this.toClient.push(bytes);
      if (this.#client !== null) front.send(bytes, this.#client.port, this.#client.address);
    });
    tcp.on('connection', (c) => this.#pipe(c));
  }

  static async open(serverPort: number): Promise<SlowPath> {
    for (let tries = 0; ; tries++) {
      const front = await bound();
      const back = await bound();
      const tcp = createServer();
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(front.address().port, '127.0.0.1', () => resolve());
        });
        return new SlowPath(front, back, tcp, serverPort);
      } catch (e) {
        // The TCP port of that number was taken: try another.
        front.close();
        back.close();
        if (tries >= 10) throw e;
      }
    }
  }

  get port(): number {
    return this.front.address().port;
  }

  /** Lets every held TCP answer through, and those that come later. */
  release(): void {
    this.holdTcp = false;
    for (const go of this.#held.splice(0)) go();
  }

  /** Stops taking TCP connections: from now on a connection to the path is refused. */
  refuseTcp(): Promise<void> {
    return new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  async close(): Promise<void> {
    this.front.close();
    this.back.close();
    if (this.tcp.listening) await this.refuseTcp();
  }

  #pipe(client: TcpSocket): void {
    const server = connect({ host: '127.0.0.1', port: this.serverPort });
    client.on('data', (c) => server.write(c));
    client.on('error', () => server.destroy());
    client.on('close', () => server.destroy());
    server.on('error', () => client.destroy());
    const chunks: Buffer[] = [];
    let ended = false;
    let passing = !this.holdTcp;
    const flush = (): void => {
      for (const c of chunks.splice(0)) client.write(c);
      if (ended) client.end();
    };
    if (!passing)
      this.#held.push(() => {
        passing = true;
        flush();
      });
    server.on('data', (c) => {
      chunks.push(c);
      if (passing) flush();
    });
    server.on('end', () => {
      ended = true;
      if (passing) flush();
    });
  }
}

function bound(): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}
