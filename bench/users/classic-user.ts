/**
 * A lean classic user for the load generator: `login,NAME,IP:PORT` from its own socket, the list
 * over TCP after `Accept` (from its own address, as the server grants it), then `login` and
 * `logout` datagrams. Works against qim's classic mode and against the naive server alike.
 *
 * Like QimClient it sends the login again after a second without `Accept`. Unlike it, it keeps
 * trying the list fetch when the server turns the connection away (qim allows 256 at once): in a
 * storm of thousands a real client would fail its login there; the benchmark wants the time until
 * everyone has the list.
 */
import type { Socket } from 'node:dgram';
import { connect } from 'node:net';
import { DotNetStringReader } from '../../src/protocol/classic/list.js';
import { BaseUser, bindUserSocket, countEntries, indexOfText, OneWaiter, newUserStats, wallMs, type UserOptions } from './common.js';

const LOGIN_RETRY_MS = 1000;
const FETCH_RETRY_MS = 100;

export type ClassicUserOptions = UserOptions;

type State = 'idle' | 'login' | 'fetching' | 'online' | 'closed';

export class ClassicUser extends BaseUser {
  readonly #o: ClassicUserOptions;
  #socket: Socket | null = null;
  #state: State = 'idle';
  #timer: NodeJS.Timeout | null = null;
  #endpoint = '';
  readonly #fetched = new OneWaiter();

  constructor(options: ClassicUserOptions) {
    super(options);
    this.#o = options;
  }

  async bind(): Promise<void> {
    const socket = await bindUserSocket(this.#o.address, this.#o.recvBufferSize, (bytes) => this.#receive(bytes));
    this.#socket = socket;
    this.#endpoint = `${this.#o.address}:${socket.address().port}`;
  }

  get online(): boolean {
    return this.#state === 'online';
  }

  start(): void {
    this.startedAt = wallMs();
    this.#login();
  }

  /**
   * Logs in again with the same name and endpoint, which qim answers with `Accept` and one more
   * list fetch (list-fetch scenario); resolves with the entries fetched, or -1 after `timeoutMs`.
   */
  fetchAgain(timeoutMs = 5000): Promise<number> {
    const done = this.#fetched.arm(timeoutMs);
    this.#login();
    return done;
  }

  logout(): void {
    if (this.#state === 'online' || this.#state === 'fetching') this.#sendText(`logout,${this.#o.name},${this.#endpoint}`);
    this.close();
  }

  close(): void {
    this.#state = 'closed';
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#socket?.close();
    this.#socket = null;
  }

  #sendText(text: string): void {
    this.#socket?.send(Buffer.from(text, 'utf16le'), this.#o.server.port, this.#o.server.address);
  }

  #login(): void {
    this.#state = 'login';
    this.loginSentAt = wallMs();
    this.#sendText(`login,${this.#o.name},${this.#endpoint}`);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#state !== 'login') return;
      this.stats.retries++;
      this.#login();
    }, LOGIN_RETRY_MS);
  }

  #receive(bytes: Buffer): void {
    this.stats.datagramsIn++;
    this.stats.bytesIn += bytes.length;
    const text = bytes.toString('utf16le');
    const first = text.indexOf(',');
    const command = text.slice(0, first);
    if (command === 'Accept') {
      if (this.#state !== 'login') return;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#state = 'fetching';
      this.#fetch(Number(text.slice(first + 1)));
      return;
    }
    if (command !== 'login' && command !== 'logout') return;
    const name = text.slice(first + 1, text.lastIndexOf(','));
    const up = command === 'login';
    const u = indexOfText(name, 'u');
    if (u >= 0) {
      if (up) this.list.add(u);
      else this.list.delete(u);
      this.#o.observer.onListChange?.(this);
      return;
    }
    const j = indexOfText(name, 'j');
    if (j >= 0) this.#o.observer.onJoiner?.(this, j, up);
  }

  /** Reads the list over TCP from our own address (the one the server granted). */
  #fetch(tcpPort: number): void {
    const reader = new DotNetStringReader();
    let text: string | null = null;
    const socket = connect({ host: this.#o.server.address, port: tcpPort, localAddress: this.#o.address });
    socket.on('data', (chunk: Buffer) => {
      const r = reader.push(chunk);
      if (r.status === 'done') text = r.text;
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.#state !== 'fetching') return;
      if (text === null) {
        // Turned away (too many connections): the grant still stands; try again shortly.
        this.stats.resyncTcp++;
        this.#timer = setTimeout(() => this.#fetch(tcpPort), FETCH_RETRY_MS * (1 + Math.random()));
        return;
      }
      this.stats.listsTcp++;
      this.#applyList(text);
    });
  }

  #applyList(text: string): void {
    this.#fetched.settle(countEntries(text));
    // Datagrams that came before the list were applied already; the list adds what they lacked.
    for (const entry of text.split(';')) {
      const u = indexOfText(entry.slice(0, entry.lastIndexOf(',')), 'u');
      if (u >= 0) this.list.add(u);
    }
    this.#state = 'online';
    this.onlineAt = wallMs();
    this.#o.observer.onOnline?.(this);
    this.#o.observer.onListChange?.(this);
  }
}
