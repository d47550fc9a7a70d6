/**
 * `QimChatClient`: the client on the qim protocol. One UDP socket carries everything: the server
 * link (login, heartbeats, presence), encrypted reliable sessions with qim peers, and classic
 * `talk` with classic users, who appear in the list marked as classic and unencrypted.
 */
import { EventEmitter } from 'node:events';
import { QimError } from '../errors.js';
import { fingerprint, fingerprintBytes, formatFingerprint, type KeyPair } from '../crypto/keys.js';
import { classicTime, decodeClassic, encodeClassic, looksClassic } from '../protocol/classic/datagram.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { nameProblem } from '../protocol/names.js';
import { decodeV2, looksV2, OfflineResult, type Status, type V2Message } from '../protocol/v2/messages.js';
import { localAddressToward, resolveHost, UdpTransport } from '../transport/udp.js';
import { PeerSession, type PeerRoute } from './peer-session.js';
import { openOffline, prekeyPair, sealOffline, verifyPrekey } from '../crypto/offline.js';
import { randomBytes } from 'node:crypto';
import { ServerLink, type QimContact } from './server-link.js';

/** A contact as the chat UIs show it. */
export interface ChatContact {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly protocol: 'classic' | 'qim';
  /** The identity key's fingerprint (qim users); classic users have none and are unencrypted. */
  readonly fingerprint?: string;
  /** Classic users are always `online`. */
  readonly status: Status;
  /** The key differs from the one pinned for this name: nothing is sent until {@link QimChatClient.trust}. */
  readonly keyChanged?: boolean;
  /** How our session with them travels, once there is one. */
  readonly path?: PeerPath;
}

/**
 * How a peer session travels: `direct` (to the address they report, or one with no NAT in the
 * way), `punched` (to the public side of their NAT, opened by hole punching), or `relayed`
 * (through the server, end-to-end encrypted).
 */
export type PeerPath = 'direct' | 'punched' | 'relayed';

/** Where a client keeps the peer keys it pinned on first use (the profile store, per server). */
export interface PeerPins {
  get(name: string): Buffer | undefined;
  pin(name: string, key: Buffer): void;
}

export interface ChatMessage {
  readonly from: string;
  readonly text: string;
  readonly sentAt: string;
  readonly receivedAt: Date;
  readonly encrypted: boolean;
  /** Left at the server while we were offline (sentAt is then the sender's clock). */
  readonly offline?: boolean;
}

export interface QimChatEvents {
  state: ['online' | 'reconnecting' | 'closed'];
  list: [ChatContact[]];
  joined: [ChatContact];
  left: [{ name: string }];
  status: [{ name: string; status: Status }];
  path: [{ name: string; path: PeerPath }];
  message: [ChatMessage];
  /**
   * Delivery of a message sent with `send`: `sent` for classic (no acknowledgement exists);
   * `stored` when it was left at the server for someone offline (then `delivered` once they read it).
   */
  delivery: [{ to: string; id: number; state: 'delivered' | 'failed' | 'sent' | 'stored' }];
  typing: [{ from: string; typing: boolean }];
  warning: [
    {
      code: 'key-mismatch' | 'server-key-changed' | 'peer-key-changed' | 'unencrypted' | 'handshake-failed' | 'offline-failed' | 'offline-rejected';
      peer?: string;
      message: string;
    },
  ];
}

export interface QimChatOptions {
  readonly server: { readonly host: string; readonly port: number };
  readonly name: string;
  readonly identity: KeyPair;
  readonly host?: string;
  readonly port?: number;
  /** The server key pinned from an earlier run. */
  readonly serverKey?: Buffer;
  /** Peer keys pinned on first sight; without it, keys are checked against the server's list only. */
  readonly peerPins?: PeerPins;
  /** The ids of offline messages already shown (kept in the profile, so none is shown twice). */
  readonly seenOffline?: { has(id: number): boolean; add(id: number): void };
  /** The status to log in with (default online). */
  readonly status?: Status;
  /**
   * Try direct paths to peers (default true). False: everything goes through the server's relay,
   * so peers never learn this client's address (nor send to it directly).
   */
  readonly directPaths?: boolean;
  /** How long a new session tries direct paths alone before the relay joins in (default 2 s). */
  readonly relayAfterMs?: number;
  readonly clock?: () => Date;
}

const CLASSIC_MAX_DATAGRAM = 8192;
/** The longest text left for someone offline (so that the sealed message fits one datagram). */
export const MAX_OFFLINE_TEXT = 700;

/** Why a message could not be left for someone offline, for the user. */
const OFFLINE_FAILURES = {
  unknown: 'NAME is offline and has no key on this server (never logged in with qim): the message was not sent',
  'key-changed': "NAME is offline and the server lists another key than the one you pinned for them: the message was not sent",
  full: "NAME is offline and their box on the server is full: the message was not sent",
  'no-answer': 'NAME is offline and the server did not answer: the message was not sent',
} as const;

/** How often a client on the wildcard address checks whether its own address changed. */
const ADDRESS_WATCH_MS = 2000;

export class QimChatClient extends EventEmitter<QimChatEvents> {
  #udp: UdpTransport | null = null;
  #link: ServerLink | null = null;
  #server: Endpoint | null = null;
  #self: Endpoint | null = null;
  readonly #sessions = new Map<string, PeerSession>();
  readonly #byIndex = new Map<number, PeerSession>();
  readonly #clock: () => Date;
  #watch: NodeJS.Timeout | null = null;
  /** Session message ids standing for offline ids (see #leave), and offline ids shown this run. */
  readonly #aliases = new Map<string, number>();
  readonly #seenOffline = new Set<number>();
  readonly #warnedClassic = new Set<string>();
  /** Names whose listed fingerprint differs from their pin's, with the fingerprint we warned about. */
  readonly #changed = new Map<string, Buffer>();
  /**
   * Contacts' keys learned this run, from their handshake or from the server: the online list
   * carries only fingerprints, and a key is used only while it matches the one listed.
   */
  readonly #keys = new Map<string, Buffer>();
  /** The last key hashed per contact, with its fingerprint (see #fingerprintOf). */
  readonly #hashed = new Map<string, { key: Buffer; fingerprint: Buffer }>();
  /** Messages waiting for a key lookup, per name. */
  readonly #keyWaits = new Map<string, number>();
  /** Key lookups at the server in flight, one per name. */
  readonly #fetching = new Map<string, Promise<Buffer | null>>();
  /** Fingerprints the user trusted over a pinned key (`trust`), until that key itself is pinned. */
  readonly #trusted = new Map<string, Buffer>();

  constructor(readonly options: QimChatOptions) {
    super();
    this.#clock = options.clock ?? (() => new Date());
  }

  get name(): string {
    return this.options.name;
  }

  get endpoint(): Endpoint {
    if (this.#self === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    return this.#self;
  }

  /** The server's key, to pin for the next run. */
  get serverKey(): Buffer | null {
    return this.#link?.serverKey ?? null;
  }

  /** Our own key's fingerprint. */
  get fingerprint(): string {
    return fingerprint(this.options.identity.publicKey);
  }

  contacts(): ChatContact[] {
    return (this.#link?.contacts() ?? []).map((c) => this.#chatContact(c));
  }

  contact(name: string): ChatContact | undefined {
    const c = this.#link?.contact(name);
    return c === undefined ? undefined : this.#chatContact(c);
  }

  /** Our own status. */
  get status(): Status {
    return this.#link?.status ?? this.options.status ?? 'online';
  }

  /** Sets our status: `away`, `busy`, `invisible` (listed to nobody) or `online`. */
  setStatus(status: Status): void {
    if (this.#link === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    this.#link.setStatus(status);
  }

  /**
   * Accepts the key `name` now presents (after checking its fingerprint with them): pins it, and
   * lets messages flow again.
   */
  trust(name: string): void {
    const c = this.#link?.contact(name);
    if (c === undefined || c.protocol !== 'qim') throw new QimError('ERR_UNKNOWN_PEER', `${name} is not online`);
    this.#trusted.set(name, c.fingerprint);
    this.#changed.delete(name);
    // The pin takes the key itself: known already, or asked of the server now.
    const key = this.#keyFor(c);
    if (key !== undefined) this.#learn(c, key);
    else void this.#fetchKey(c).catch(() => null);
  }

  async login(): Promise<ChatContact[]> {
    const problem = nameProblem(this.options.name);
    if (problem !== null) throw new QimError('ERR_BAD_NAME', problem);
    const address = await resolveHost(this.options.server.host);
    this.#server = { address, port: this.options.server.port };
    // Without an explicit address the socket listens on every interface, so it outlives a change of
    // network; the address it reports is the one that reaches the server, watched for changes.
    const pinned = this.options.host;
    let own = pinned ?? (await localAddressToward(address, this.options.server.port));
    const udp = await UdpTransport.bind({ host: pinned ?? '::', port: this.options.port ?? 0, recvBufferSize: 1 << 20 });
    this.#udp = udp;
    this.#self = { address: own, port: udp.local().port };
    udp.onError(() => {});
    const link = new ServerLink(udp, {
      server: this.#server,
      name: this.options.name,
      identity: this.options.identity,
      endpoint: () => ({ address: own, port: udp.local().port }),
      ...(this.options.status !== undefined ? { status: this.options.status } : {}),
      ...(this.options.serverKey !== undefined ? { serverKey: this.options.serverKey } : {}),
    });
    this.#link = link;
    udp.onDatagram((bytes, from) => this.#receive(bytes, from));
    link.on('punch', ({ peer }) => this.#punched(peer));
    link.on('offline', (m) => void this.#received(m));
    link.on('receipt', ({ id, to }) => {
      this.emit('delivery', { to, id, state: 'delivered' });
      link.offlineDone(id);
    });
    link.on('relayed', ({ peer, inner }) => {
      const d = decodeV2(inner);
      if (d.ok) this.#peerDatagram(d.value, 'relay', peer);
    });
    link.on('joined', (c) => {
      this.#checkPin(c);
      // Someone we talk with moved (a new network, a NAT that forgot them): reach for the new address.
      this.#sessions.get(c.name)?.probe();
      this.emit('joined', this.#chatContact(c));
    });
    link.on('status', (s) => this.emit('status', s));
    // A peer leaving the list keeps its session: the list may only be catching up after a server
    // restart, and messages in flight still go straight to the peer or fail at their deadline.
    link.on('left', ({ name }) => this.emit('left', { name }));
    link.on('warning', (w) => this.emit('warning', { code: w.code, message: w.message }));
    link.on('state', (s) => {
      if (s === 'online' || s === 'reconnecting' || s === 'closed') this.emit('state', s);
    });
    const first = new Promise<void>((resolve) => link.once('list', () => resolve()));
    try {
      await link.connect();
      await Promise.race([first, new Promise((r) => setTimeout(r, 2000))]);
    } catch (err) {
      await this.close();
      throw err;
    }
    link.on('list', (list) => {
      for (const c of list) this.#checkPin(c);
      this.emit('list', list.map((c) => this.#chatContact(c)));
    });
    if (pinned === undefined) {
      const server = this.#server;
      this.#watch = setInterval(() => {
        void localAddressToward(server.address, server.port)
          .then((now) => {
            if (now === own || this.#link !== link) return;
            // A new network: log in again at once with the new address; peers follow our datagrams.
            own = now;
            this.#self = { address: now, port: udp.local().port };
            link.rejoin();
          })
          .catch(() => undefined); // no route right now (between networks): try again later
      }, ADDRESS_WATCH_MS);
      this.#watch.unref();
    }
    for (const c of link.contacts()) this.#checkPin(c);
    const list = this.contacts();
    this.emit('list', list);
    return list;
  }

  /** Sends a message; returns its id, which `delivery` events name. */
  send(to: string, text: string): number {
    const udp = this.#udp;
    if (udp === null || this.#link === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    const c = this.#link.contact(to);
    if (c === undefined) return this.#sendOffline(to, text);
    if (c.protocol === 'classic') {
      const bytes = encodeClassic({ kind: 'talk', time: classicTime(this.#clock()), sender: this.options.name, text });
      if (bytes.length > CLASSIC_MAX_DATAGRAM) throw new QimError('ERR_MESSAGE_TOO_LONG', 'message too long for a classic peer');
      udp.send(bytes, c.endpoint);
      this.#warnUnencrypted(to);
      const id = 0;
      queueMicrotask(() => this.emit('delivery', { to, id, state: 'sent' }));
      return id;
    }
    if (!this.#checkPin(c)) {
      throw new QimError('ERR_KEY_CHANGED', `${to}'s key changed: check their fingerprint (${formatFingerprint(c.fingerprint)}) with them, then trust it`);
    }
    const key = this.#keyFor(c);
    if (key !== undefined) return this.#sendSession(c, key, text);
    // A first conversation: their key comes from the server first (checked against the list). The
    // id given now is the one the new session will give (they count from 1, in order).
    const id = (this.#keyWaits.get(to) ?? 0) + 1;
    this.#keyWaits.set(to, id);
    void this.#fetchKey(c)
      .finally(() => this.#keyWaits.delete(to))
      .catch(() => null)
      .then((k) => {
        const now = this.#link?.contact(to);
        if (k === null || now === undefined || !fingerprintBytes(k).equals(now.fingerprint)) throw new QimError('ERR_UNKNOWN_PEER', `no key for ${to}`);
        const sid = this.#sendSession(now, k, text);
        if (sid !== id) this.#aliases.set(`${to}\n${sid}`, id);
      })
      .catch((err: unknown) => {
        this.emit('delivery', { to, id, state: 'failed' });
        this.emit('warning', { code: 'handshake-failed', peer: to, message: `no secure session with ${to} (${err instanceof Error ? err.message : String(err)})` });
      });
    return id;
  }

  /** The key of a listed qim contact, if known (learned this run, or pinned) and still the one listed. */
  #keyFor(c: QimContact): Buffer | undefined {
    for (const k of [this.#keys.get(c.name), this.options.peerPins?.get(c.name)]) {
      if (k !== undefined && this.#fingerprintOf(c.name, k).equals(c.fingerprint)) return k;
    }
    return undefined;
  }

  /** A contact's key's fingerprint, hashed once per key rather than at every message sent. */
  #fingerprintOf(name: string, key: Buffer): Buffer {
    const hashed = this.#hashed.get(name);
    if (hashed !== undefined && hashed.key.equals(key)) return hashed.fingerprint;
    const fingerprint = fingerprintBytes(key);
    this.#hashed.set(name, { key, fingerprint });
    return fingerprint;
  }

  /** Asks the server for a contact's key (once at a time per name); null unless it matches the list. */
  #fetchKey(c: QimContact): Promise<Buffer | null> {
    let p = this.#fetching.get(c.name);
    if (p === undefined) {
      const link = this.#link;
      p = (link === null ? Promise.resolve(null) : link.requestKey(c.name))
        .then((answer) => {
          const now = this.#link?.contact(c.name) ?? c;
          if (answer === null || !fingerprintBytes(answer.identity).equals(now.fingerprint)) return null;
          this.#learn(now, answer.identity);
          return answer.identity;
        })
        .finally(() => this.#fetching.delete(c.name));
      this.#fetching.set(c.name, p);
    }
    return p;
  }

  /** A contact's key, checked against the fingerprint listed: kept, and pinned if none was (or the user trusted it). */
  #learn(c: QimContact, key: Buffer): void {
    this.#keys.set(c.name, key);
    const pins = this.options.peerPins;
    if (pins === undefined) return;
    const pinned = pins.get(c.name);
    if (pinned === undefined || (!pinned.equals(key) && this.#trusted.get(c.name)?.equals(c.fingerprint) === true)) {
      pins.pin(c.name, key);
      this.#trusted.delete(c.name);
    }
  }

  #sendSession(c: QimContact, key: Buffer, text: string): number {
    let s = this.#sessions.get(c.name);
    // A session with a key they no longer have (a new device, trusted since) is of no use.
    if (s === undefined || s.state === 'failed' || !s.peerKey.equals(key)) {
      s = this.#open(c, PeerSession.initiate(this.#deps(c, key), this.#candidates(c.name)));
      // Ask the server to have them reach out too: it opens their NAT towards us (hole punching).
      if (this.#directPaths) this.#link?.introduce(c.name);
    }
    try {
      return s.send(text);
    } catch (err) {
      if (err instanceof QimError) throw err; // ERR_QUEUE_FULL: the caller should slow down
      throw new QimError('ERR_MESSAGE_TOO_LONG', err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Leaves a message for someone who is not online: sealed to their prekey, kept by the server
   * until they log in. Returns its id at once; `delivery` says `stored`, then `delivered` when they
   * have read it (maybe in a later run), or `failed` with a warning.
   */
  #sendOffline(to: string, text: string): number {
    const problem = nameProblem(to);
    if (problem !== null) throw new QimError('ERR_BAD_NAME', problem);
    if (Buffer.byteLength(text) > MAX_OFFLINE_TEXT) {
      throw new QimError('ERR_MESSAGE_TOO_LONG', `${to} is offline: a message kept for them holds at most ${MAX_OFFLINE_TEXT} bytes`);
    }
    const id = randomBytes(6).readUIntBE(0, 6);
    void this.#leave(to, text, id)
      .catch((): keyof typeof OFFLINE_FAILURES => 'no-answer') // e.g. logged out meanwhile
      .then((outcome) => {
        if (outcome === 'stored' || outcome === 'sent') return;
        this.emit('delivery', { to, id, state: 'failed' });
        this.emit('warning', { code: 'offline-failed', peer: to, message: OFFLINE_FAILURES[outcome].replace('NAME', to) });
      });
    return id;
  }

  async #leave(to: string, text: string, id: number): Promise<'stored' | 'sent' | keyof typeof OFFLINE_FAILURES> {
    const link = this.#link;
    if (link === null) return 'no-answer';
    const key = await link.requestKey(to);
    if (key === null) return 'unknown';
    const pinned = this.options.peerPins?.get(to);
    if (pinned !== undefined && !pinned.equals(key.identity)) return 'key-changed';
    if (!verifyPrekey(key.identity, to, key.prekey, key.signature)) return 'unknown';
    if (pinned === undefined) this.options.peerPins?.pin(to, key.identity);
    const sealed = sealOffline({ id, from: this.options.name, sender: this.options.identity, recipientIdentity: key.identity, prekey: key.prekey, sentAt: Date.now(), text });
    if (sealed === null) return 'unknown';
    const result = await link.putOffline(id, to, sealed);
    if (result === OfflineResult.Stored || result === OfflineResult.Duplicate) {
      this.emit('delivery', { to, id, state: 'stored' });
      return 'stored';
    }
    const c = link.contact(to);
    // They came online meanwhile: the key just fetched serves if it is the one now listed.
    if (result === OfflineResult.Online && c !== undefined && c.protocol === 'qim' && this.#checkPin(c) && fingerprintBytes(key.identity).equals(c.fingerprint)) {
      this.#learn(c, key.identity);
      this.#aliases.set(`${to}\n${this.#sendSession(c, key.identity, text)}`, id);
      return 'sent';
    }
    return result === OfflineResult.Full ? 'full' : result === null ? 'no-answer' : 'unknown';
  }

  /** A message left for us while we were away: opened, checked against its sender's key, shown once. */
  async #received(m: { id: number; from: string; storedAt: number; sealed: Buffer }): Promise<void> {
    const link = this.#link;
    if (link === null || this.#seenOffline.has(m.id) || this.options.seenOffline?.has(m.id) === true) {
      link?.offlineDone(m.id); // already shown: the server may forget it
      return;
    }
    this.#seenOffline.add(m.id);
    const opened = openOffline(m.id, m.sealed, prekeyPair(this.options.identity));
    const key = opened === null || opened.from !== m.from ? null : await link.requestKey(m.from);
    const pinned = this.options.peerPins?.get(m.from);
    const genuine =
      opened !== null && key !== null && (pinned === undefined || pinned.equals(key.identity)) && opened.verify(key.identity, this.options.identity.publicKey);
    if (!genuine) {
      this.#seenOffline.delete(m.id);
      // Not from who it claims (or not for us): never shown. Keep it at the server only if the key
      // lookup failed for want of an answer; anything else is dropped for good.
      if (key === null && opened !== null && opened.from === m.from && link.state === 'online') return;
      link.offlineDone(m.id);
      this.emit('warning', { code: 'offline-rejected', peer: m.from, message: `a message kept for you as from ${m.from} did not check out; it was dropped` });
      return;
    }
    if (pinned === undefined) this.options.peerPins?.pin(m.from, key.identity);
    this.options.seenOffline?.add(m.id);
    const at = new Date(opened.sentAt);
    this.emit('message', { from: m.from, text: opened.text, sentAt: classicTime(at), receivedAt: this.#clock(), encrypted: true, offline: true });
    link.offlineDone(m.id);
  }

  /** Tells `to` whether we are typing. */
  typing(to: string, on: boolean): void {
    const s = this.#sessions.get(to);
    if (s?.state === 'established') s.typing(on);
  }

  async logout(): Promise<void> {
    this.#link?.logout();
    await new Promise((r) => setImmediate(r));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#watch !== null) clearInterval(this.#watch);
    this.#watch = null;
    for (const s of this.#sessions.values()) s.close();
    this.#sessions.clear();
    this.#link?.close();
    await this.#udp?.close();
    this.#udp = null;
  }

  get #directPaths(): boolean {
    return this.options.directPaths ?? true;
  }

  #deps(c: QimContact, peerKey: Buffer) {
    const udp = this.#udp as UdpTransport;
    const name = c.name;
    return {
      identity: this.options.identity,
      name: this.options.name,
      peerKey,
      send: (bytes: Buffer, to: PeerRoute) => (to === 'relay' ? this.#link?.relay(name, bytes) : udp.send(bytes, to)),
      directCandidates: () => this.#direct(name),
      canRelay: () => this.#link?.state === 'online',
      now: Date.now,
    };
  }

  /** A peer's direct endpoints, as listed now: the one they report, and the one the server sees. */
  #direct(name: string): Endpoint[] {
    const c = this.#link?.contact(name);
    if (!this.#directPaths || c === undefined) return [];
    return sameEndpoint(c.privateEndpoint, c.endpoint) ? [c.endpoint] : [c.privateEndpoint, c.endpoint];
  }

  /** The routes a new handshake tries at each attempt: direct ones first, the relay after a while. */
  #candidates(name: string): () => PeerRoute[] {
    const started = Date.now();
    const relayAfter = this.options.relayAfterMs ?? 2000;
    return () => {
      const direct = this.#direct(name);
      return direct.length === 0 || Date.now() - started >= relayAfter ? [...direct, 'relay'] : direct;
    };
  }

  /** The server says `peer` is trying to reach us: reach out to them too, unless a session runs. */
  #punched(peer: string): void {
    const c = this.#link?.contact(peer);
    if (c === undefined || c.protocol !== 'qim' || !this.#directPaths || !this.#checkPin(c)) return;
    const s = this.#sessions.get(peer);
    if (s !== undefined && s.state !== 'failed') return;
    const key = this.#keyFor(c);
    if (key === undefined) {
      // Their key first; then reach out, unless a session started meanwhile.
      void this.#fetchKey(c)
        .catch(() => null)
        .then((k) => {
          const again = this.#sessions.get(peer);
          const now = this.#link?.contact(peer);
          if (k !== null && now !== undefined && (again === undefined || again.state === 'failed')) this.#open(now, PeerSession.initiate(this.#deps(now, k), this.#candidates(peer)));
        });
      return;
    }
    this.#open(c, PeerSession.initiate(this.#deps(c, key), this.#candidates(peer)));
  }

  /** What to call a route, for the user: straight, through a NAT, or relayed. */
  #pathOf(name: string, route: PeerRoute): PeerPath {
    if (route === 'relay') return 'relayed';
    const c = this.#link?.contact(name);
    if (c === undefined || sameEndpoint(route, c.privateEndpoint) || sameEndpoint(c.endpoint, c.privateEndpoint)) return 'direct';
    return 'punched';
  }

  #open(c: QimContact, s: PeerSession): PeerSession {
    const old = this.#sessions.get(c.name);
    old?.close();
    if (old !== undefined) this.#byIndex.delete(old.localIndex);
    this.#sessions.set(c.name, s);
    this.#byIndex.set(s.localIndex, s);
    s.on('message', (m) => {
      // The qim protocol carries no sender clock: the time shown is the arrival time.
      const at = this.#clock();
      this.emit('message', { from: c.name, text: m.text, sentAt: classicTime(at), receivedAt: at, encrypted: true });
    });
    s.on('delivery', (d) => {
      // A message first left for them offline, sent this way when they turned out to be online.
      const alias = this.#aliases.get(`${c.name}\n${d.id}`);
      if (alias !== undefined) this.#aliases.delete(`${c.name}\n${d.id}`);
      this.emit('delivery', { to: c.name, id: alias ?? d.id, state: d.state });
    });
    s.on('typing', (typing) => this.emit('typing', { from: c.name, typing }));
    const reportPath = (): void => {
      if (this.#sessions.get(c.name) === s && s.state === 'established') this.emit('path', { name: c.name, path: this.#pathOf(c.name, s.route) });
    };
    s.on('route', reportPath);
    s.on('state', reportPath);
    // A session that answered an INIT is established before anyone could listen to it.
    if (s.state === 'established') queueMicrotask(reportPath);
    s.on('failure', ({ error }) =>
      this.emit('warning', {
        code: error === 'key-mismatch' ? 'key-mismatch' : 'handshake-failed',
        peer: c.name,
        message:
          error === 'key-mismatch'
            ? `${c.name} answered with a key other than the one the server lists: a man in the middle, or a changed key`
            : `no secure session with ${c.name} (${error})`,
      }),
    );
    return s;
  }

  #receive(bytes: Buffer, from: Endpoint): void {
    const server = this.#server;
    if (looksV2(bytes)) {
      if (server !== null && sameEndpoint(from, server)) {
        this.#link?.receive(bytes);
        return;
      }
      const d = decodeV2(bytes);
      // A client that keeps its address from peers takes nothing from them directly either.
      if (d.ok && this.#directPaths) this.#peerDatagram(d.value, from);
      return;
    }
    if (!looksClassic(bytes)) return;
    const d = decodeClassic(bytes);
    if (!d.ok || d.value.kind !== 'talk') return;
    const talk = d.value;
    const c = this.#link?.contact(talk.sender);
    // Classic talk only from a classic contact, and only from its listed address.
    if (c === undefined || c.protocol !== 'classic' || c.endpoint.address !== from.address) return;
    this.#warnUnencrypted(talk.sender);
    this.emit('message', { from: talk.sender, text: talk.text, sentAt: talk.time, receivedAt: this.#clock(), encrypted: false });
  }

  /** Says once per contact and run that a classic conversation is in clear text. */
  #warnUnencrypted(name: string): void {
    if (this.#warnedClassic.has(name)) return;
    this.#warnedClassic.add(name);
    this.emit('warning', {
      code: 'unencrypted',
      peer: name,
      message: `${name} uses the classic protocol: what you say to each other travels unencrypted and unacknowledged`,
    });
  }

  /** A peer datagram, straight from `from` or relayed by the server from `relayedBy`. */
  #peerDatagram(m: V2Message, from: PeerRoute, relayedBy?: string): void {
    if (m.type === 'handshake-init') {
      if (relayedBy !== undefined && m.name !== relayedBy) return; // the server says who sent it
      const c = this.#link?.contact(m.name);
      if (c === undefined || c.protocol !== 'qim' || !this.#checkPin(c)) return;
      const existing = this.#sessions.get(c.name);
      // Our answer was lost and the peer asks again: the same answer, not a new session.
      if (existing?.answered(m.sender) === true) return existing.resendResponse();
      // The key the INIT presents must be the one the server lists for that name (by fingerprint),
      // and the one pinned, if any (checkPin holds: the pin's fingerprint is the one listed).
      const pinned = this.options.peerPins?.get(c.name);
      const listed = fingerprintBytes(m.identity).equals(c.fingerprint) && (pinned === undefined || pinned.equals(m.identity) || this.#trusted.has(c.name));
      if (!listed) {
        this.emit('warning', { code: 'key-mismatch', peer: c.name, message: `an INIT for ${c.name} was signed by another key` });
        return;
      }
      // Both sides started at once: the INIT of the lower key wins; the other side answers it.
      if (existing?.state === 'handshaking' && Buffer.compare(this.options.identity.publicKey, m.identity) < 0) return;
      const s = PeerSession.respond(this.#deps(c, m.identity), m, from);
      if (typeof s === 'string') {
        if (s === 'key-mismatch') this.emit('warning', { code: 'key-mismatch', peer: c.name, message: `an INIT for ${c.name} was signed by another key` });
        return;
      }
      if (existing?.state === 'handshaking') s.adopt(existing);
      this.#learn(c, m.identity); // its signature checked out
      this.#open(c, s);
    } else if (m.type === 'handshake-response') {
      this.#byIndex.get(m.receiver)?.onResponse(m, from);
    } else if (m.type === 'data') {
      this.#byIndex.get(m.receiver)?.onData(m, from);
    }
  }

  /**
   * Checks a listed qim user's fingerprint against its pin (the key itself is pinned when it is
   * first learned, see #learn); on a difference, warns once per new fingerprint and answers false
   * (no session, no message) until the user trusts it.
   */
  #checkPin(c: QimContact): boolean {
    const pins = this.options.peerPins;
    if (pins === undefined || c.protocol !== 'qim') return true;
    const pinned = pins.get(c.name);
    if (pinned === undefined || this.#fingerprintOf(c.name, pinned).equals(c.fingerprint) || this.#trusted.get(c.name)?.equals(c.fingerprint) === true) {
      this.#changed.delete(c.name);
      return true;
    }
    if (this.#changed.get(c.name)?.equals(c.fingerprint) !== true) {
      this.#changed.set(c.name, c.fingerprint);
      this.emit('warning', {
        code: 'peer-key-changed',
        peer: c.name,
        message: `${c.name}'s key changed from ${fingerprint(pinned)} to ${formatFingerprint(c.fingerprint)}: a new device, or someone else using the name. Check with them before trusting it.`,
      });
    }
    return false;
  }

  #chatContact(c: QimContact): ChatContact {
    if (c.protocol !== 'qim') return { name: c.name, endpoint: c.endpoint, protocol: 'classic', status: c.status };
    const s = this.#sessions.get(c.name);
    const contact: ChatContact = {
      name: c.name,
      endpoint: c.endpoint,
      protocol: 'qim',
      fingerprint: formatFingerprint(c.fingerprint),
      status: c.status,
      ...(s?.state === 'established' ? { path: this.#pathOf(c.name, s.route) } : {}),
    };
    return this.#changed.has(c.name) ? { ...contact, keyChanged: true } : contact;
  }
}
