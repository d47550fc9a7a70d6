/**
 * `QimClient`: logs in to an index server, keeps the online list current, and chats straight with
 * peers over UDP. This is the classic protocol, so it can log in to a server built as the seed
 * describes and talk with the seed's clients.
 *
 * Hardened where compatibility allows: list changes are taken only from the server's address, and
 * a `talk` only from the address its sender is listed at. Bad datagrams are dropped and reported.
 */
import { EventEmitter } from 'node:events';
import { QimError } from '../errors.js';
import { classicTime, decodeClassic, encodeClassic } from '../protocol/classic/datagram.js';
import { DotNetStringReader, parseList } from '../protocol/classic/list.js';
import { formatEndpoint, sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { nameProblem } from '../protocol/names.js';
import type { DropReason } from '../protocol/result.js';
import { dialTcp } from '../transport/tcp.js';
import { localAddressToward, resolveHost, UdpTransport } from '../transport/udp.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';

/** Someone in the online list. */
export interface Contact {
  readonly name: string;
  readonly endpoint: Endpoint;
  /** The protocol the contact speaks; classic contacts are never encrypted. */
  readonly protocol: 'classic';
}

/** A chat message that arrived. */
export interface IncomingMessage {
  readonly from: string;
  readonly text: string;
  /** The sender's clock as the sender wrote it (free text in classic: `14:05:33`, `6:19:01 AM`). */
  readonly sentAt: string;
  readonly receivedAt: Date;
}

/** Lifecycle of a client: `new → logging-in → online → closed` (or `logging-in → closed`). */
export type ClientState = 'new' | 'logging-in' | 'online' | 'closed';

/** Everything a client reports. */
export interface ClientEvents {
  state: [ClientState];
  /** The whole list, once after login (self excluded). */
  list: [Contact[]];
  joined: [Contact];
  left: [{ name: string; endpoint: Endpoint }];
  message: [IncomingMessage];
  /** A datagram that was dropped, and why. */
  drop: [{ reason: DropReason; from: Endpoint; bytes: number }];
}

/** A classic-protocol client. */
export class QimClient extends EventEmitter<ClientEvents> {
  readonly options: ResolvedClientOptions;
  #state: ClientState = 'new';
  #udp: UdpTransport | null = null;
  #self: Endpoint | null = null;
  #serverAddress = '';
  readonly #contacts = new Map<string, Contact>();
  #awaitAccept: ((d: { tcpPort: number; from: Endpoint } | { refused: string }) => void) | null = null;
  /**
   * Datagrams that arrive between `Accept` and the end of the list fetch. The server's list is a
   * snapshot taken when our TCP connection arrives, so a join announced meanwhile must be applied
   * after the list, not dropped, or this client would never see that user.
   */
  #early: { bytes: Buffer; from: Endpoint }[] | null = null;

  constructor(options: ClientOptions) {
    super();
    this.options = resolveClientOptions(options);
  }

  get state(): ClientState {
    return this.#state;
  }

  get name(): string {
    return this.options.name;
  }

  /** The endpoint peers reach this client on. Throws before login. */
  get endpoint(): Endpoint {
    if (this.#self === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    return this.#self;
  }

  /** The online list (self excluded), in the order the server gave it. */
  contacts(): Contact[] {
    return [...this.#contacts.values()];
  }

  /** One contact by name. */
  contact(name: string): Contact | undefined {
    return this.#contacts.get(name);
  }

  /**
   * Logs in: binds the chat port, sends `login` (repeated a few times, since UDP may lose it),
   * waits for `Accept`, and fetches the list over TCP. Resolves with the list.
   */
  async login(): Promise<Contact[]> {
    if (this.#state !== 'new') throw new QimError('ERR_CLOSED', `cannot log in from state ${this.#state}`);
    const problem = nameProblem(this.options.name, this.options.limits.maxNameLength);
    if (problem !== null) throw new QimError('ERR_BAD_NAME', problem);
    this.#setState('logging-in');
    try {
      const { server, limits } = this.options;
      this.#serverAddress = await resolveHost(server.host);
      const serverEp: Endpoint = { address: this.#serverAddress, port: server.port };
      const wanted = this.options.host;
      const bindHost = wanted ?? (await localAddressToward(this.#serverAddress, server.port));
      const udp = await UdpTransport.bind({ host: bindHost, port: this.options.port });
      this.#udp = udp;
      udp.onDatagram((bytes, from) => this.#receive(bytes, from));
      udp.onError(() => {});
      const bound = udp.local();
      // A wildcard bind cannot be advertised: peers need an address they can send to.
      const advertised = bound.address === '::' || bound.address === '0.0.0.0'
        ? await localAddressToward(this.#serverAddress, server.port)
        : bound.address;
      this.#self = { address: advertised, port: bound.port };

      const loginBytes = encodeClassic({ kind: 'login', name: this.options.name, endpoint: this.#self });
      const answer = await new Promise<{ tcpPort: number; from: Endpoint } | { refused: string }>(
        (resolve, reject) => {
          let tries = 0;
          const attempt = (): void => {
            if (tries++ >= limits.loginAttempts) {
              this.#awaitAccept = null;
              reject(new QimError('ERR_LOGIN_TIMEOUT', `no answer from ${formatEndpoint(serverEp)} after ${limits.loginAttempts} tries`));
              return;
            }
            udp.send(loginBytes, serverEp);
            timer = setTimeout(attempt, limits.loginRetryMs);
          };
          let timer: NodeJS.Timeout | undefined;
          this.#awaitAccept = (d) => {
            clearTimeout(timer);
            this.#awaitAccept = null;
            resolve(d);
          };
          attempt();
        },
      );
      if ('refused' in answer) throw new QimError('ERR_LOGIN_REFUSED', `server refused the login: ${answer.refused}`);
      this.#early = [];
      const entries = await this.#fetchList(answer.from.address, answer.tcpPort);
      for (const e of entries) {
        if (e.name === this.options.name) continue;
        this.#contacts.set(e.name, { name: e.name, endpoint: e.endpoint, protocol: 'classic' });
      }
      this.#setState('online');
      const list = this.contacts();
      this.emit('list', list);
      const early = this.#early;
      this.#early = null;
      for (const d of early) this.#receive(d.bytes, d.from);
      return list;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Sends a chat message straight to `to`. Classic gives no acknowledgement: it leaves this host,
   * nothing more is known.
   */
  send(to: string, text: string): void {
    const udp = this.#udp;
    if (this.#state !== 'online' || udp === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    const peer = this.#contacts.get(to);
    if (peer === undefined) throw new QimError('ERR_UNKNOWN_PEER', `${to} is not online`);
    const bytes = encodeClassic({
      kind: 'talk',
      time: classicTime(this.options.clock()),
      sender: this.options.name,
      text,
    });
    if (bytes.length > this.options.limits.maxDatagramBytes) {
      throw new QimError('ERR_MESSAGE_TOO_LONG', `message is ${bytes.length} bytes on the wire; the limit is ${this.options.limits.maxDatagramBytes}`);
    }
    udp.send(bytes, peer.endpoint);
  }

  /** Tells the server we leave, then closes. Safe to call in any state. */
  async logout(): Promise<void> {
    if (this.#state === 'online' && this.#udp !== null && this.#self !== null) {
      const bytes = encodeClassic({ kind: 'logout', name: this.options.name, endpoint: this.#self });
      await new Promise<void>((resolve) => {
        // Wait for the datagram to leave before the socket closes.
        this.#udp?.send(bytes, { address: this.#serverAddress, port: this.options.server.port });
        setImmediate(resolve);
      });
    }
    await this.close();
  }

  /** Closes the chat port without telling the server (the server will still list us). */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#awaitAccept = null;
    this.#early = null;
    await this.#udp?.close();
    this.#udp = null;
    this.#setState('closed');
  }

  async #fetchList(address: string, port: number): Promise<{ name: string; endpoint: Endpoint }[]> {
    const { limits } = this.options;
    let conn;
    try {
      conn = await dialTcp(address, port, limits.listTimeoutMs);
    } catch (err) {
      throw new QimError('ERR_LIST_FETCH', `cannot reach the list service at ${address}:${port}`, { cause: err });
    }
    const text = await new Promise<string>((resolve, reject) => {
      const reader = new DotNetStringReader(limits.maxListBytes);
      const timer = setTimeout(() => {
        conn.destroy();
        reject(new QimError('ERR_LIST_FETCH', `list not received within ${limits.listTimeoutMs} ms`));
      }, limits.listTimeoutMs);
      const settle = (state: ReturnType<DotNetStringReader['push']>): void => {
        if (state.status === 'more') return;
        clearTimeout(timer);
        conn.destroy();
        if (state.status === 'done') resolve(state.text);
        else reject(new QimError('ERR_LIST_FETCH', `bad list from the server (${state.reason})`));
      };
      conn.onData((chunk) => settle(reader.push(chunk)));
      conn.onClose(() => settle(reader.end()));
    });
    const parsed = parseList(text);
    if (!parsed.ok) throw new QimError('ERR_LIST_FETCH', `bad list from the server (${parsed.reason})`);
    return parsed.value;
  }

  #receive(bytes: Buffer, from: Endpoint): void {
    if (this.#early !== null) {
      if (this.#early.length < this.options.limits.maxEarlyDatagrams) this.#early.push({ bytes, from });
      else this.#drop('unexpected', from, bytes.length);
      return;
    }
    const decoded = decodeClassic(bytes, this.options.limits.maxDatagramBytes);
    if (!decoded.ok) {
      this.#drop(decoded.reason, from, bytes.length);
      return;
    }
    const d = decoded.value;
    const fromServer = from.address === this.#serverAddress;
    switch (d.kind) {
      case 'accept':
      case 'refuse':
        if (!fromServer || this.#awaitAccept === null) {
          this.#drop(fromServer ? 'unexpected' : 'spoofed-source', from, bytes.length);
          return;
        }
        this.#awaitAccept(d.kind === 'accept' ? { tcpPort: d.tcpPort, from } : { refused: d.reason });
        return;
      case 'login':
      case 'logout':
        if (!fromServer) {
          this.#drop('spoofed-source', from, bytes.length);
          return;
        }
        if (this.#state !== 'online' || d.name === this.options.name) {
          this.#drop('unexpected', from, bytes.length);
          return;
        }
        if (d.kind === 'login') this.#joined(d.name, d.endpoint);
        else this.#left(d.name);
        return;
      case 'talk': {
        const peer = this.#contacts.get(d.sender);
        if (this.#state !== 'online' || peer === undefined) {
          this.#drop('unknown-sender', from, bytes.length);
          return;
        }
        // The seed sends from a throwaway socket, so only the address can be checked, not the port.
        if (peer.endpoint.address !== from.address) {
          this.#drop('spoofed-source', from, bytes.length);
          return;
        }
        this.emit('message', { from: d.sender, text: d.text, sentAt: d.time, receivedAt: this.options.clock() });
      }
    }
  }

  #joined(name: string, endpoint: Endpoint): void {
    const known = this.#contacts.get(name);
    if (known !== undefined && sameEndpoint(known.endpoint, endpoint)) return;
    if (known === undefined && this.#contacts.size >= this.options.limits.maxContacts) return;
    const contact: Contact = { name, endpoint, protocol: 'classic' };
    this.#contacts.set(name, contact);
    this.emit('joined', contact);
  }

  #left(name: string): void {
    const known = this.#contacts.get(name);
    if (known === undefined) return;
    this.#contacts.delete(name);
    this.emit('left', { name, endpoint: known.endpoint });
  }

  #drop(reason: DropReason, from: Endpoint, bytes: number): void {
    this.emit('drop', { reason, from, bytes });
  }

  #setState(state: ClientState): void {
    this.#state = state;
    this.emit('state', state);
  }
}
