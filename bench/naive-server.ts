/**
 * The baseline: an index server that does what the seed does, written from docs/PROTOCOL.md's
 * classic section (our own code). Deliberately naive where the seed is:
 *
 * - every datagram leaves from a fresh UDP socket, created, used once and closed;
 * - each login is sent to every other online user, one datagram per recipient, at once;
 * - the list is built again for every TCP fetch, and anyone who connects gets it.
 *
 * The seed handles one login at a time and sends synchronously, one socket after another. Node's
 * sockets are asynchronous, so each announcement is a job in a queue, worked through in order with
 * at most {@link NAIVE_SEND_CONCURRENCY} fresh sockets open at a time. Two things are generous to
 * the baseline: sends overlap (64 at once), and `Accept` goes out at once instead of waiting its
 * turn behind earlier announcements (so clients do not time out and log in again).
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { encodeLengthPrefix } from '../src/protocol/classic/list.js';

/** Fresh sockets in flight at once. */
export const NAIVE_SEND_CONCURRENCY = 64;

/** What the naive server counted. */
export interface NaiveCounters {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  sendErrors: number;
  listsSent: number;
  listBytes: number;
  logins: number;
  logouts: number;
}

/** One announcement: `bytes` to the first `left` users of the map (those online when it was made) but `skip`. */
interface Job {
  readonly bytes: Buffer;
  readonly skip: string;
  readonly users: Iterator<[string, string]>;
  left: number;
}

/** The seed-like index server. */
export class NaiveServer {
  /** Online users: name → `IP:PORT` as the login claimed it. */
  readonly users = new Map<string, string>();
  readonly counters: NaiveCounters = { datagramsIn: 0, bytesIn: 0, datagramsOut: 0, bytesOut: 0, sendErrors: 0, listsSent: 0, listBytes: 0, logins: 0, logouts: 0 };
  #udp: Socket | null = null;
  #tcp: Server | null = null;
  #port = 0;
  readonly #jobs: Job[] = [];
  #jobHead = 0;
  #inFlight = 0;

  get port(): number {
    return this.#port;
  }

  /** Datagrams still to send. */
  get backlog(): number {
    let n = this.#inFlight;
    for (let i = this.#jobHead; i < this.#jobs.length; i++) n += (this.#jobs[i] as Job).left;
    return n;
  }

  /** Binds UDP and TCP on one port (0: a free one). */
  async start(host: string, port: number): Promise<void> {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => resolve());
    });
    this.#udp = udp;
    this.#port = udp.address().port;
    udp.on('message', (bytes, rinfo) => {
      this.counters.datagramsIn++;
      this.counters.bytesIn += bytes.length;
      this.#onDatagram(bytes.toString('utf16le'));
      void rinfo;
    });
    const tcp = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      // Built again for every fetch, as the seed does.
      let text = '';
      for (const [name, ep] of this.users) text += `${name},${ep};`;
      const body = Buffer.from(`${text}end`, 'utf8');
      const list = Buffer.concat([encodeLengthPrefix(body.length), body]);
      socket.end(list);
      this.counters.listsSent++;
      this.counters.listBytes += list.length;
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.#port, host, () => resolve());
    });
    this.#tcp = tcp;
  }

  async stop(): Promise<void> {
    this.#jobs.length = 0;
    this.#jobHead = 0;
    await Promise.all([
      new Promise<void>((resolve) => (this.#udp === null ? resolve() : this.#udp.close(() => resolve()))),
      new Promise<void>((resolve) => (this.#tcp === null ? resolve() : this.#tcp.close(() => resolve()))),
    ]);
  }

  #onDatagram(text: string): void {
    const first = text.indexOf(',');
    const last = text.lastIndexOf(',');
    if (first < 0 || last <= first) return;
    const command = text.slice(0, first);
    const name = text.slice(first + 1, last);
    const endpoint = text.slice(last + 1);
    if (command === 'login') {
      this.counters.logins++;
      this.users.delete(name); // a login again goes to the end of the map, as a new one
      this.#sendFresh(Buffer.from(`Accept,${this.#port}`, 'utf16le'), endpoint);
      this.#announce(text, name);
      this.users.set(name, endpoint);
    } else if (command === 'logout') {
      if (!this.users.delete(name)) return;
      this.counters.logouts++;
      this.#announce(text, name);
    }
  }

  /** Queues `text` for every user online now but `skip`. */
  #announce(text: string, skip: string): void {
    this.#jobs.push({ bytes: Buffer.from(text, 'utf16le'), skip, users: this.users.entries(), left: this.users.size });
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < NAIVE_SEND_CONCURRENCY && this.#jobHead < this.#jobs.length) {
      const job = this.#jobs[this.#jobHead] as Job;
      const next = job.left > 0 ? job.users.next() : undefined;
      if (next === undefined || next.done === true) {
        this.#jobs[this.#jobHead++] = undefined as unknown as Job;
        if (this.#jobHead > 1024 && this.#jobHead * 2 > this.#jobs.length) {
          this.#jobs.splice(0, this.#jobHead);
          this.#jobHead = 0;
        }
        continue;
      }
      job.left--;
      const [name, endpoint] = next.value;
      if (name !== job.skip) this.#sendFresh(job.bytes, endpoint);
    }
  }

  /** One datagram from a socket made for it and closed after it. */
  #sendFresh(bytes: Buffer, endpoint: string): void {
    const colon = endpoint.lastIndexOf(':');
    this.#inFlight++;
    const socket = createSocket('udp4');
    socket.on('error', () => this.counters.sendErrors++);
    socket.send(bytes, Number(endpoint.slice(colon + 1)), endpoint.slice(0, colon), (err) => {
      if (err) this.counters.sendErrors++;
      else {
        this.counters.datagramsOut++;
        this.counters.bytesOut += bytes.length;
      }
      socket.close();
      this.#inFlight--;
      this.#pump();
    });
  }
}
