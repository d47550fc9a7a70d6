/**
 * `QimServer`, the index server: knows who is online, hands each new user the list and tells
 * everyone when someone joins or leaves. Chat never passes through it.
 *
 * Composition only: sockets come from transport/, bytes are understood by protocol/, and each
 * protocol's rules live in their own handler.
 */
import { EventEmitter } from 'node:events';
import { QimError } from '../errors.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { DropReason } from '../protocol/result.js';
import { TcpListener, type TcpConnection } from '../transport/tcp.js';
import { UdpTransport } from '../transport/udp.js';
import { ClassicHandler } from './classic.js';
import type { ServerContext } from './context.js';
import { newServerCounters, type ServerCounters } from './counters.js';
import { Directory, type OnlineUser } from './directory.js';
import type { ServerEvents } from './events.js';
import { CookieJar } from './cookie.js';
import { ListService } from './list-service.js';
import { PresenceHub } from './presence.js';
import { V2Handler } from './v2.js';
import type { AccountStore } from './accounts.js';
import { ClusterLink, clusterAccounts } from './cluster/link.js';
import { looksV2 } from '../protocol/v2/messages.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';

/** Lifecycle of a server; changes only through {@link QimServer.start} and {@link QimServer.stop}. */
export type ServerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** How often to try again when port 0 gave a UDP port whose TCP twin is taken. */
const PORT_PAIR_ATTEMPTS = 20;

/** The index server. `await server.start()`, listen to its events, `await server.stop()`. */
export class QimServer extends EventEmitter<ServerEvents> {
  readonly options: ResolvedServerOptions;
  readonly directory = new Directory();
  readonly counters: ServerCounters = newServerCounters();
  #state: ServerState = 'new';
  #udp: UdpTransport | null = null;
  #tcp: TcpListener | null = null;
  #list: ListService | null = null;
  #expiry: NodeJS.Timeout | null = null;
  #presence: PresenceHub | null = null;
  #v2: V2Handler | null = null;
  #cluster: ClusterLink | null = null;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = resolveServerOptions(options);
  }

  get state(): ServerState {
    return this.#state;
  }

  /** The bound UDP endpoint (TCP uses the same port). Throws before {@link start}. */
  get endpoint(): Endpoint {
    if (this.#udp === null) throw new QimError('ERR_NOT_ONLINE', 'server is not running');
    return this.#udp.local();
  }

  /** Every online user. */
  users(): OnlineUser[] {
    return [...this.directory.users()];
  }

  /** Binds UDP and TCP on one port number and starts serving. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new QimError('ERR_CLOSED', `cannot start a server that is ${this.#state}`);
    this.#state = 'starting';
    const { host, port } = this.options;
    let pair: { udp: UdpTransport; tcp: TcpListener };
    try {
      pair = await this.#bindPair(host, port);
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    const { udp, tcp } = pair;
    this.#udp = udp;
    this.#tcp = tcp;
    const { backplane, instance } = this.options;
    const accounts = clusterAccounts(this.options.accounts, backplane);
    const ctx = this.#context(udp, tcp.port(), accounts);
    const classic = new ClassicHandler(ctx);
    const list = new ListService(ctx, (request, from, answer) => v2.tcpListRequest(request, from, answer));
    this.#list = list;
    const presence = new PresenceHub(ctx, this.options.identity, () => v2.recipients(), () => v2.sessionCount);
    this.#presence = presence;
    const v2: V2Handler = new V2Handler(ctx, {
      identity: this.options.identity,
      accounts,
      offline: this.options.offline,
      cookies: new CookieJar(this.options.limits.cookieRotateMs),
      presence,
      now: Date.now,
    });
    // Join the cluster (a lone server: its own in-memory backplane) before serving anyone, so that
    // the first login already sees the other instances' users.
    const cluster = new ClusterLink(ctx, backplane, instance, (name) => v2.evict(name), this.options.accounts);
    try {
      await cluster.start();
    } catch (err) {
      list.close();
      presence.close();
      await Promise.all([udp.close(), tcp.close()]);
      this.#state = 'stopped';
      throw new QimError('ERR_BAD_OPTION', `cannot join the cluster: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.#cluster = cluster;
    this.#v2 = v2;
    this.#expiry = setInterval(() => v2.expire(), Math.max(100, Math.floor(this.options.limits.heartbeatMs / 2)));
    this.#expiry.unref();
    udp.onError(() => this.counters.sendErrors++);
    udp.onDatagram((bytes, from) => {
      this.counters.datagramsIn++;
      this.counters.bytesIn += bytes.length;
      // The version byte 0x02 is never a UTF-16LE letter, so the first byte decides (docs/PROTOCOL.md).
      // Everything else goes to the classic decoder, which names the precise reason for garbage.
      if (looksV2(bytes)) v2.handle(bytes, from);
      else classic.handle(bytes, from);
    });
    this.#acceptTcp = (conn) => list.serve(conn);
    this.#state = 'running';
    const local = udp.local();
    this.emit('started', { udp: local, tcp: { address: local.address, port: tcp.port() } });
  }

  /** Stops serving, closes every socket, and reports the final counters. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#v2?.close();
    this.#list?.close();
    this.#presence?.close();
    if (this.#expiry !== null) clearInterval(this.#expiry);
    await this.#cluster?.stop();
    await Promise.all([this.#udp?.close(), this.#tcp?.close()]);
    this.#state = 'stopped';
    this.emit('stopped', { counters: this.counters });
  }

  // Set once the handlers exist; a connection that arrives before that is closed.
  #acceptTcp: (conn: TcpConnection) => void = (conn) => conn.destroy();

  async #bindPair(host: string, port: number): Promise<{ udp: UdpTransport; tcp: TcpListener }> {
    const { limits } = this.options;
    for (let attempt = 1; ; attempt++) {
      const udp = await UdpTransport.bind({
        host,
        port,
        recvBufferSize: limits.udpBufferBytes,
        sendBufferSize: limits.udpBufferBytes,
      });
      try {
        const tcp = await TcpListener.listen(
          { host, port: udp.local().port, maxConnections: limits.maxTcpConnections, idleMs: limits.tcpIdleMs },
          (conn) => this.#acceptTcp(conn),
          (reason, remote) => this.#drop(reason, remote, 0, 'tcp'),
        );
        return { udp, tcp };
      } catch (err) {
        await udp.close();
        const inUse = (err as { code?: unknown }).code === 'EADDRINUSE';
        if (port !== 0 || !inUse || attempt >= PORT_PAIR_ATTEMPTS) throw err;
      }
    }
  }

  #context(udp: UdpTransport, tcpPort: number, accounts: AccountStore): ServerContext {
    return {
      directory: this.directory,
      accounts,
      limits: this.options.limits,
      counters: this.counters,
      tcpPort,
      send: (bytes, to) => {
        this.counters.datagramsOut++;
        this.counters.bytesOut += bytes.length;
        udp.send(bytes, to);
      },
      drop: (reason, from, bytes, transport = 'udp') => this.#drop(reason, from, bytes, transport),
      expectListFetch: (address) => this.#list?.grant(address),
      announce: (kind, name, endpoint) => this.#presence?.announce(kind, name, endpoint),
      // The context's emit is typed per event; EventEmitter's own generic signature cannot see that.
      emit: (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    };
  }

  #drop(reason: DropReason, from: Endpoint, bytes: number, transport: 'udp' | 'tcp'): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
    this.emit('drop', { reason, from, bytes, transport });
  }
}
