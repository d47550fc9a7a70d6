/**
 * A qim client's link to its server over the qim protocol: HELLO/COOKIE, a signed LOGIN, a
 * WELCOME checked against the server's pinned key, heartbeats, the versioned online list kept
 * current from PRESENCE batches, and logging in again with backoff when the server goes away.
 *
 * States (one field, every change through #setState):
 *
 *   new → connecting → online ⇄ reconnecting → closed
 *                 ↘────────────────────────────↗
 */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { QimError } from '../errors.js';
import { sign, verifier, verify, x25519, x25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { frameDatagrams, splitFrames } from '../protocol/v2/stream.js';
import { dialTcp } from '../transport/tcp.js';
import { prekeyPair, signPrekey } from '../crypto/offline.js';

const ZERO_KEY = Buffer.alloc(32);
/** The longest a login step waits for its answer. */
const MAX_ATTEMPT_MS = 8000;
/** Deltas kept while the whole list is on its way (a storm's worth of batches). */
const MAX_HELD_DELTAS = 64;
/**
 * Times a LOGIN is sent before the attempt starts again from HELLO (waiting 1, 2, 4, 8, 8 s: 23 s).
 * The server answered the HELLO, so it is there; a LOGIN not yet answered is most likely queued
 * behind a storm's, and a new one would cost the server a whole login more, where the same one
 * again costs it a hash (and the WELCOME of the first would be ignored).
 */
const LOGIN_SENDS = 5;
import {
  decodeV2,
  encodeV2,
  loginSigned,
  presenceSigned,
  SESSION_MAC_OFFSET,
  welcomeSigned,
  type PresenceEntry,
  type Status,
  type V2Message,
} from '../protocol/v2/messages.js';
import { controlKey, sessionMac, trailingMac } from '../crypto/control.js';
import { ListHold } from './list-hold.js';
import type { UdpTransport } from '../transport/udp.js';

/** Lifecycle of the link. */
export type LinkState = 'new' | 'connecting' | 'online' | 'reconnecting' | 'closed';

/** A user in the qim online list. */
export interface QimContact {
  readonly name: string;
  readonly protocol: 'classic' | 'qim';
  readonly status: Status;
  /**
   * Their identity key's fingerprint (the first 16 bytes of its SHA-256; zeros for classic users).
   * The key itself comes from the peer's handshake or from the server ({@link ServerLink.requestKey}),
   * and must match it.
   */
  readonly fingerprint: Buffer;
  /** Where the server sees them (behind a NAT: its public side). */
  readonly endpoint: Endpoint;
  /** Where they say they are (their own network's address; the same as `endpoint` without a NAT). */
  readonly privateEndpoint: Endpoint;
}

export interface LinkEvents {
  state: [LinkState];
  list: [QimContact[]];
  joined: [QimContact];
  left: [{ name: string }];
  /** A listed user changed status (away, busy, back online). */
  status: [{ name: string; status: Status }];
  /** The server asks us to reach out to `peer`, who is trying to reach us (a hole punch). */
  punch: [{ peer: string; observed: Endpoint; privateEndpoint: Endpoint }];
  /** A peer datagram that came through the server's relay from `peer`. */
  relayed: [{ peer: string; inner: Buffer }];
  /** A sealed message someone left for us while we were away. */
  offline: [{ id: number; from: string; storedAt: number; sealed: Buffer }];
  /** A message we left for `to` was delivered to them. */
  receipt: [{ id: number; to: string }];
  /** The server's key differs from the one pinned: refuse to trust it. */
  warning: [{ code: 'server-key-changed'; message: string }];
}

/** Options of {@link ServerLink}. */
export interface LinkOptions {
  readonly server: Endpoint;
  readonly name: string;
  readonly identity: KeyPair;
  readonly status?: Status;
  /** The server key pinned from an earlier login; the link refuses any other. */
  readonly serverKey?: Buffer;
  /** Each login attempt waits this long for an answer. */
  readonly attemptMs?: number;
  /** Heartbeats missed in a row before the server counts as lost. */
  readonly missedHeartbeats?: number;
  /** Reconnect policy: the delay before attempt `n` (1-based), or null to give up. */
  readonly retryDelay?: (attempt: number) => number | null;
  /** How long a resync over TCP may wait (to connect, then for each next read) before it fails. */
  readonly resyncMs?: number;
  /** The endpoint to report in LOGIN (default: the socket's own address). */
  readonly endpoint?: () => Endpoint;
  /** The first wait before a TCP fetch turned away is tried again (default 100 ms; it doubles, up to 16 times this). */
  readonly tcpRetryMs?: number;
}

/** A resync answer larger than this is refused (about 100,000 users). */
const MAX_RESYNC_BYTES = 16 << 20;

/**
 * Fetches over TCP that a busy server may turn away (or leave silent) before the list is asked for
 * as datagrams: about 15 s to a minute in all. Not sooner: a list as datagrams costs a busy server
 * hundreds of sends where TCP costs it one write, and every client falling back at once is how a
 * storm of 20,000 turned into 60,000 lists as datagrams (docs/LIMITS.md).
 */
const TCP_BUSY_TRIES = 12;

/** A TCP answer of no bytes at all: the server turned the connection away. */
const EMPTY = Buffer.alloc(0);

type Msg<T extends V2Message['type']> = Extract<V2Message, { type: T }>;

/** Exponential backoff from 250 ms to 10 s with ±20% jitter, forever. */
export function defaultRetryDelay(attempt: number): number {
  const base = Math.min(10_000, 250 * 2 ** Math.min(attempt - 1, 6));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** The link. It sends on a socket owned by the client and is fed the qim datagrams that arrive. */
export class ServerLink extends EventEmitter<LinkEvents> {
  #state: LinkState = 'new';
  #session: Buffer | null = null;
  #macKey: Buffer | null = null;
  #counter = 0;
  #version = 0;
  #heartbeatMs = 5000;
  #lastAck = 0;
  #serverKey: Buffer | null;
  #observed: Endpoint | null = null;
  /** How to tell this session's PRESENCE datagrams: the server's epoch and signature. */
  #presence: { epoch: Buffer; key: Buffer; verify: (message: Uint8Array, signature: Uint8Array) => boolean } | null = null;
  readonly #list = new Map<string, QimContact>();
  readonly #parts = new Map<string, Msg<'presence'>[]>();
  /** Deltas that came while the whole list was on its way, by their first version: applied after it. */
  readonly #held = new Map<number, { to: number; entries: PresenceEntry[] }>();
  #timer: NodeJS.Timeout | null = null;
  #pending: ((m: V2Message) => boolean) | null = null;
  /** Waiting requests (key lookups, offline puts), by what answers them. */
  readonly #answers = new Map<string, (m: V2Message) => void>();
  #status: Status;
  /** The counter of a STATUS the server has not confirmed yet (0: none). */
  #statusCounter = 0;
  #resyncing = false;
  /** A LIST-HOLD in force (the server is in a login storm): the list is fetched when it ends. */
  readonly #hold = new ListHold((again) => {
    if (!again) this.resyncs.held++;
    return this.#resync(false);
  });
  /** Login attempts that failed in a row (each waits twice as long as the one before). */
  #failures = 0;
  /**
   * Resyncs done over TCP, and those that fell back to UDP; lists fetched when a hold ended; TCP
   * answers that were the batches since our version rather than the whole list (for tests and
   * diagnostics).
   */
  readonly resyncs = { tcp: 0, udp: 0, held: 0, caughtUp: 0 };

  constructor(
    private readonly udp: UdpTransport,
    private readonly options: LinkOptions,
  ) {
    super();
    this.#serverKey = options.serverKey ?? null;
    this.#status = options.status ?? 'online';
  }

  /** Our own status, as we last set it. */
  get status(): Status {
    return this.#status;
  }

  /**
   * Changes our status: sent at once when online (and again with each heartbeat until the server
   * confirms it), and carried by every later LOGIN.
   */
  setStatus(status: Status): void {
    this.#status = status;
    if (this.#state === 'online') this.#sendStatus();
  }

  get state(): LinkState {
    return this.#state;
  }

  /** The server's identity key (pinned after the first WELCOME). */
  get serverKey(): Buffer | null {
    return this.#serverKey;
  }

  /** Our address as the server sees it. */
  get observed(): Endpoint | null {
    return this.#observed;
  }

  /** The list version we hold. */
  get version(): number {
    return this.#version;
  }

  /** One contact by name (O(1): the per-datagram checks use it). */
  contact(name: string): QimContact | undefined {
    return name === this.options.name ? undefined : this.#list.get(name);
  }

  contacts(): QimContact[] {
    return [...this.#list.values()].filter((c) => c.name !== this.options.name);
  }

  /** Logs in (trying `attempts` times); resolves once online with the list requested. */
  async connect(attempts = 3): Promise<void> {
    if (this.#state !== 'new') throw new QimError('ERR_CLOSED', `cannot connect from state ${this.#state}`);
    this.#setState('connecting');
    for (let i = 1; ; i++) {
      try {
        await this.#login();
        return;
      } catch (err) {
        this.#failures++;
        if (i >= attempts || (err instanceof QimError && err.code === 'ERR_LOGIN_REFUSED')) {
          this.close();
          throw err;
        }
      }
    }
  }

  /** Feeds one qim datagram from the server's address. */
  receive(bytes: Buffer): void {
    const d = decodeV2(bytes);
    if (!d.ok) return;
    const m = d.value;
    if (this.#pending?.(m) === true) return;
    if (m.type === 'heartbeat-ack') this.#onAck(m, bytes);
    else if (m.type === 'presence') this.#onPresence(m, bytes);
    else if (m.type === 'list-hold') this.#onHold(m, bytes);
    else if (m.type === 'punch' || m.type === 'relayed' || m.type === 'key-answer' || m.type === 'offline-ack' || m.type === 'offline-deliver' || m.type === 'offline-receipt') {
      if (this.#macKey === null || !timingSafeEqual(trailingMac(this.#macKey, bytes), m.mac)) return;
      if (m.type === 'punch') this.emit('punch', { peer: m.peer, observed: m.observed, privateEndpoint: m.privateEndpoint });
      else if (m.type === 'relayed') this.emit('relayed', { peer: m.peer, inner: m.inner });
      else if (m.type === 'key-answer') this.#answers.get(`key:${m.peer}`)?.(m);
      else if (m.type === 'offline-ack') this.#answers.get(`put:${m.id}`)?.(m);
      else if (m.type === 'offline-deliver') this.emit('offline', { id: m.id, from: m.from, storedAt: m.storedAt, sealed: m.sealed });
      else this.emit('receipt', { id: m.id, to: m.to });
    }
    // The server no longer knows our session (it restarted): log in again now. A forged one can
    // only cause a login that succeeds.
    else if (m.type === 'refused' && m.code === 6 && this.#state === 'online') void this.#reconnect();
  }

  /**
   * The identity key bound to `peer` on this server, its prekey and the prekey's signature (null
   * when the server knows no key for the name, or does not answer).
   */
  async requestKey(peer: string): Promise<{ identity: Buffer; prekey: Buffer; signature: Buffer } | null> {
    const answer = await this.#ask<Msg<'key-answer'>>(`key:${peer}`, () =>
      this.#macd({ type: 'key-request', session: this.#sessionId(), counter: ++this.#counter, peer, mac: Buffer.alloc(16) }),
    );
    if (answer === null || answer.identity.equals(ZERO_KEY)) return null;
    return { identity: answer.identity, prekey: answer.prekey, signature: answer.signature };
  }

  /** Leaves a sealed message for `to`; resolves with the server's result (null: no answer). */
  async putOffline(id: number, to: string, sealed: Buffer): Promise<number | null> {
    const ack = await this.#ask<Msg<'offline-ack'>>(`put:${id}`, () =>
      this.#macd({ type: 'offline-put', session: this.#sessionId(), counter: ++this.#counter, id, to, sealed, mac: Buffer.alloc(16) }),
    );
    return ack?.result ?? null;
  }

  /** Tells the server an offline message (or a receipt) `id` has reached us: it may forget it. */
  offlineDone(id: number): void {
    if (this.#state !== 'online') return;
    this.udp.send(this.#macd({ type: 'offline-done', session: this.#sessionId(), counter: ++this.#counter, id, mac: Buffer.alloc(16) }), this.options.server);
  }

  /** Sends the datagram `make` builds (a fresh counter each time) until `key` is answered, three tries. */
  async #ask<T>(key: string, make: () => Buffer): Promise<T | null> {
    const wait = this.options.attemptMs ?? 1000;
    for (let attempt = 0; attempt < 3 && this.#state === 'online'; attempt++) {
      const answer = await new Promise<T | null>((resolve) => {
        const timer = setTimeout(() => {
          this.#answers.delete(key);
          resolve(null);
        }, wait);
        this.#answers.set(key, (m) => {
          clearTimeout(timer);
          this.#answers.delete(key);
          resolve(m as T);
        });
        this.udp.send(make(), this.options.server);
      });
      if (answer !== null) return answer;
    }
    return null;
  }

  #sessionId(): Buffer {
    if (this.#session === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    return this.#session;
  }

  /** Encodes `m` and MACs it (over all but its last 16 bytes) with the control key. */
  #macd(m: V2Message): Buffer {
    if (this.#macKey === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    const out = encodeV2(m);
    trailingMac(this.#macKey, out).copy(out, out.length - 16);
    return out;
  }

  /** Asks the server to introduce us to `peer`, who then reaches out to us too (hole punching). */
  introduce(peer: string): void {
    if (this.#state !== 'online') return;
    this.udp.send(this.#macd({ type: 'introduce', session: this.#sessionId(), counter: ++this.#counter, peer, mac: Buffer.alloc(16) }), this.options.server);
  }

  /** Sends one peer datagram to `peer` through the server's relay (dropped when not online). */
  relay(peer: string, inner: Buffer): void {
    if (this.#state !== 'online') return;
    this.udp.send(this.#macd({ type: 'relay', session: this.#sessionId(), peer, inner, mac: Buffer.alloc(16) }), this.options.server);
  }

  /** Logs in again now (our address changed): the session moves, and everyone hears where we are. */
  rejoin(): void {
    if (this.#state === 'online') void this.#reconnect();
  }

  /** Logs out and stops. */
  logout(): void {
    if (this.#state === 'online') this.udp.send(this.#sessionBytes('logout'), this.options.server);
    this.close();
  }

  /** Stops without telling the server. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#hold.end();
    this.#pending = null;
    if (this.#state !== 'closed') this.#setState('closed');
  }

  /**
   * Waits for the first message `match` accepts after sending `bytes`, for `attemptMs`, doubled
   * for each attempt that failed in a row (up to 8 s, ±20%): a server swamped by a login storm is
   * not made busier by everyone asking again every second.
   */
  /**
   * Sends `bytes` and waits for the answer `match` picks; without one, sends the same bytes again
   * (`sends` in all, each wait twice the one before), then gives up.
   */
  #exchange<T extends V2Message>(bytes: Buffer, match: (m: V2Message) => m is T, sends = 1): Promise<T> {
    const base = (this.options.attemptMs ?? 1000) * 2 ** Math.min(this.#failures, 3);
    let wait = Math.round(Math.min(MAX_ATTEMPT_MS, base) * (this.#failures === 0 ? 1 : 0.8 + Math.random() * 0.4));
    let waited = 0;
    return new Promise((resolve, reject) => {
      let sent = 1;
      const expire = (): void => {
        waited += wait;
        if (sent < sends && this.#pending !== null) {
          sent++;
          wait = Math.min(MAX_ATTEMPT_MS, wait * 2);
          timer = setTimeout(expire, wait);
          this.udp.send(bytes, this.options.server);
          return;
        }
        this.#pending = null;
        reject(new QimError('ERR_LOGIN_TIMEOUT', `no answer from the server within ${waited} ms`));
      };
      let timer = setTimeout(expire, wait);
      this.#pending = (m) => {
        if (!match(m)) return false;
        clearTimeout(timer);
        this.#pending = null;
        resolve(m);
        return true;
      };
      this.udp.send(bytes, this.options.server);
    });
  }

  async #login(): Promise<void> {
    const nonce = randomBytes(16);
    const cookie = await this.#exchange(encodeV2({ type: 'hello', nonce }), (m): m is Msg<'cookie'> => m.type === 'cookie' && m.nonce.equals(nonce));
    const ephemeral = x25519KeyPair();
    const local = this.options.endpoint?.() ?? this.udp.local();
    const login: Msg<'login'> = {
      type: 'login',
      cookie: cookie.cookie,
      nonce,
      identity: this.options.identity.publicKey,
      ephemeral: ephemeral.publicKey,
      time: Date.now(),
      status: this.#status,
      name: this.options.name,
      endpoint: local,
      signature: Buffer.alloc(64),
    };
    const loginBytes = encodeV2({ ...login, signature: sign(this.options.identity, loginSigned(login)) });
    // The server answered HELLO, so it is there: a LOGIN without an answer is sent again as it is
    // (a busy server answers a repeat from its last WELCOME, where a new login would cost it anew).
    const answer = await this.#exchange(loginBytes, (m): m is Msg<'welcome'> | Msg<'refused'> => m.type === 'welcome' || m.type === 'refused', LOGIN_SENDS);
    if (answer.type === 'refused') throw new QimError('ERR_LOGIN_REFUSED', `server refused the login: ${answer.reason}`);
    const signed = Buffer.concat([welcomeSigned(answer), createHash('sha256').update(loginBytes).digest()]);
    if (!verify(answer.serverIdentity, signed, answer.signature)) throw new QimError('ERR_LOGIN_TIMEOUT', 'WELCOME with a bad signature');
    if (this.#serverKey !== null && !this.#serverKey.equals(answer.serverIdentity)) {
      this.emit('warning', { code: 'server-key-changed', message: 'the server presented a different key than before; refusing it' });
      throw new QimError('ERR_LOGIN_REFUSED', 'the server key changed');
    }
    const shared = x25519(ephemeral, answer.serverEphemeral);
    if (shared === null) throw new QimError('ERR_LOGIN_TIMEOUT', 'WELCOME with a bad key');
    this.#serverKey = answer.serverIdentity;
    const verifyPresence = this.#presence?.key.equals(answer.serverIdentity) === true ? this.#presence.verify : verifier(answer.serverIdentity);
    if (verifyPresence === null) throw new QimError('ERR_LOGIN_TIMEOUT', 'WELCOME with a bad key');
    this.#presence = { epoch: answer.epoch, key: answer.serverIdentity, verify: verifyPresence };
    this.#session = answer.session;
    this.#macKey = controlKey(shared, loginBytes);
    this.#counter = 0;
    this.#failures = 0;
    this.#statusCounter = 0;
    this.#observed = answer.observed;
    this.#heartbeatMs = answer.heartbeatMs;
    this.#lastAck = Date.now();
    this.#setState('online');
    // Our prekey, so that others can leave us sealed messages while we are away.
    const prekey = prekeyPair(this.options.identity).publicKey;
    const signature = signPrekey(this.options.identity, this.options.name, prekey);
    this.udp.send(this.#macd({ type: 'prekey', session: answer.session, counter: ++this.#counter, prekey, signature, mac: Buffer.alloc(16) }), this.options.server);
    // The list is fetched whole after every login (deltas from before it may be gone), over TCP as
    // a resync is: one cached write for the server however long the list, nothing to lose. In a
    // login storm the WELCOME names the hold instead, and the list is fetched when it settles.
    this.#version = -1;
    this.#held.clear();
    this.#hold.reset();
    if (answer.holdWaitMs > 0) this.#hold.take(answer.listVersion, answer.holdWaitMs, answer.holdSpreadMs);
    else this.#resync(false);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), this.#heartbeatMs);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#state !== 'online') return;
    const missed = this.options.missedHeartbeats ?? 3;
    if (Date.now() - this.#lastAck > this.#heartbeatMs * (missed + 0.5)) {
      void this.#reconnect();
      return;
    }
    this.udp.send(this.#sessionBytes('heartbeat'), this.options.server);
    if (this.#statusCounter !== 0) this.#sendStatus();
    this.#schedule();
  }

  #sendStatus(): void {
    if (this.#session === null || this.#macKey === null) return;
    const out = this.#macd({ type: 'status', session: this.#session, counter: ++this.#counter, status: this.#status, mac: Buffer.alloc(16) });
    this.#statusCounter = this.#counter;
    this.udp.send(out, this.options.server);
  }

  /**
   * Fetches the whole list over TCP (after a login, or a gap was seen: `counted`): reliable and
   * unbounded by datagram loss, however long the list. Falls back to a LIST-REQUEST over UDP if
   * TCP fails. Single-flight.
   */
  #resync(counted = true): boolean {
    if (this.#resyncing) return false;
    if (this.#state !== 'online') return true;
    this.#resyncing = true;
    let fetched = false;
    void this.#fetchWithRetries()
      .then((ok) => {
        fetched = ok;
        if (ok) {
          if (counted) this.resyncs.tcp++;
        } else if (this.#state === 'online') {
          if (counted) this.resyncs.udp++;
          this.udp.send(this.#sessionBytes('list-request'), this.options.server);
        }
      })
      .finally(() => {
        this.#resyncing = false;
        this.#hold.fetchEnded(fetched ? this.#version : null);
      });
    return true;
  }

  /**
   * The list over TCP, tried again a moment later if it fails: a busy server turns connections
   * away past its limit (closed before a byte) or is slow to answer, and such a fetch waits twice
   * as long each time (100 to 400 ms, then 200 to 800, … up to 1.6 to 6.4 s) up to TCP_BUSY_TRIES;
   * any other failure (no connection, bad bytes) is tried once more. False when it never came: the
   * caller asks over UDP.
   */
  async #fetchWithRetries(): Promise<boolean> {
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      const result = await this.#fetchOverTcp();
      if (result === 'ok') return true;
      if (result === 'failed') failures++;
      if (this.#state !== 'online' || attempt >= TCP_BUSY_TRIES || failures >= 2) return false;
      const base = (this.options.tcpRetryMs ?? 100) * 2 ** Math.min(attempt - 1, 4);
      await new Promise((r) => setTimeout(r, base + Math.random() * base * 3));
    }
  }

  /** One fetch of the list over TCP: `busy` when the server closed the connection before a byte, or said nothing for `resyncMs`. */
  async #fetchOverTcp(): Promise<'ok' | 'busy' | 'failed'> {
    const macKey = this.#macKey;
    if (macKey === null) return 'failed';
    // The version we have: the server answers with the batches since, or the whole list.
    const asked = Math.max(0, this.#version);
    const request = frameDatagrams([this.#sessionBytes('list-request')]);
    const { address, port } = this.options.server;
    const wait = this.options.resyncMs ?? 15_000;
    let conn;
    try {
      conn = await dialTcp(address, port, wait);
    } catch {
      return 'failed';
    }
    const stream = await new Promise<Buffer | null | 'silent'>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      // A silence, not a total: a long list from a busy server may take longer while it flows.
      const silent = () => {
        conn.destroy();
        resolve('silent');
      };
      let timer = setTimeout(silent, wait);
      conn.onData((chunk) => {
        clearTimeout(timer);
        timer = setTimeout(silent, wait);
        size += chunk.length;
        if (size > MAX_RESYNC_BYTES) conn.destroy();
        else chunks.push(chunk);
      });
      conn.onClose(() => {
        clearTimeout(timer);
        resolve(size > 0 && size <= MAX_RESYNC_BYTES ? Buffer.concat(chunks) : size === 0 ? EMPTY : null);
      });
      conn.write(request);
    });
    // The session may have changed while we waited: only its own key's answer counts.
    if (stream === null || this.#macKey !== macKey) return 'failed';
    if (stream === EMPTY || stream === 'silent') return 'busy';
    const frames = splitFrames(stream);
    if (frames === null || frames.length === 0) return 'failed';
    if (frames.length === 1) {
      // A login storm: the list will come when it settles.
      const d = decodeV2(frames[0] as Buffer);
      if (d.ok && d.value.type === 'list-hold') return this.#onHold(d.value, frames[0] as Buffer) ? 'ok' : 'failed';
    }
    // The whole list (a batch from version 0), or the batches since the version we asked from:
    // each complete, in order, each following on from the one before.
    const batches: { from: number; to: number; entries: PresenceEntry[] }[] = [];
    let parts: Msg<'presence'>[] = [];
    for (const bytes of frames) {
      const d = decodeV2(bytes);
      if (!d.ok || d.value.type !== 'presence' || !this.#fromServer(d.value, bytes)) return 'failed';
      const p = d.value;
      const first = parts[0] ?? p;
      if (p.part !== parts.length || p.parts !== first.parts || p.fromVersion !== first.fromVersion || p.toVersion !== first.toVersion) return 'failed';
      parts.push(p);
      if (parts.length < p.parts) continue;
      const last = batches.at(-1);
      const follows = last === undefined ? p.fromVersion === 0 || p.fromVersion === asked : p.fromVersion === last.to;
      if (!follows || p.toVersion < p.fromVersion) return 'failed';
      batches.push({ from: p.fromVersion, to: p.toVersion, entries: parts.flatMap((q) => q.entries) });
      parts = [];
    }
    if (parts.length > 0 || batches.length === 0) return 'failed';
    const [first, ...rest] = batches as [(typeof batches)[0], ...typeof batches];
    if (first.from === 0) {
      if (rest.length > 0) return 'failed';
      this.#replace(first.entries, first.to);
      return 'ok';
    }
    // Catching up: batches we have already (a delta over UDP overtook the answer) are skipped.
    for (const b of batches) {
      if (b.to <= this.#version) continue;
      if (b.from !== this.#version) return 'failed';
      this.#applyBatch(b.entries, b.to);
    }
    this.resyncs.caughtUp++;
    this.#caughtUp();
    return 'ok';
  }

  /** Single-flight: one reconnect loop at a time, driven by the retry policy. */
  async #reconnect(): Promise<void> {
    this.#setState('reconnecting');
    const delay = this.options.retryDelay ?? defaultRetryDelay;
    for (let attempt = 1; this.#state === 'reconnecting'; attempt++) {
      const ms = delay(attempt);
      if (ms === null) {
        this.close();
        return;
      }
      await new Promise<void>((resolve) => {
        this.#timer = setTimeout(resolve, ms);
      });
      if (this.#state !== 'reconnecting') return;
      try {
        await this.#login();
        return;
      } catch {
        // Not back yet (or refused after a warning): wait and try again, as the policy says.
        this.#failures++;
      }
    }
  }

  #onAck(m: Msg<'heartbeat-ack'>, bytes: Buffer): void {
    if (this.#macKey === null || this.#session === null || !m.session.equals(this.#session)) return;
    if (!timingSafeEqual(sessionMac(this.#macKey, bytes), m.mac)) return;
    this.#lastAck = Date.now();
    if (m.counter === this.#statusCounter) this.#statusCounter = 0;
    // The server is ahead and no batch is on its way: a delta was lost. Fetch the whole list.
    // (Not while a hold is in force: being behind is what a hold means.)
    if (m.listVersion > this.#version && this.#parts.size === 0 && !this.#hold.active) this.#resync();
  }

  /** A PRESENCE or LIST-HOLD of this run of our server: its epoch, signed by its key. */
  #fromServer(m: Msg<'presence'> | Msg<'list-hold'>, bytes: Buffer): boolean {
    const p = this.#presence;
    return p !== null && m.epoch.equals(p.epoch) && p.verify(presenceSigned(bytes), m.signature);
  }

  #onPresence(m: Msg<'presence'>, bytes: Buffer): void {
    if (!this.#fromServer(m, bytes)) return;
    const key = `${m.fromVersion}-${m.toVersion}`;
    const parts = this.#parts.get(key) ?? [];
    if (!parts.some((p) => p.part === m.part)) parts.push(m);
    this.#parts.set(key, parts);
    if (parts.length < m.parts) return;
    this.#parts.delete(key);
    const entries = parts.sort((a, b) => a.part - b.part).flatMap((p) => p.entries);
    if (m.fromVersion === 0) {
      this.#replace(entries, m.toVersion);
    } else if (m.fromVersion === this.#version) {
      this.#applyBatch(entries, m.toVersion);
    } else if (this.#version < 0 || this.#resyncing || this.#hold.active) {
      // The whole list is on its way (over TCP, which may come after a later delta over UDP), or
      // will be once a hold ends: this delta is the settle, and may follow on from that list.
      if (this.#held.size < MAX_HELD_DELTAS) this.#held.set(m.fromVersion, { to: m.toVersion, entries });
      if (m.fromVersion > this.#version) this.#hold.settle();
    } else if (m.fromVersion > this.#version) {
      this.#resync();
    }
  }

  /**
   * A LIST-HOLD (from the server, and ahead of our list): deltas stop until the list settles, and
   * then we fetch it once (a LIST-HOLD with no wait is the settle). True when it is the server's.
   */
  #onHold(m: Msg<'list-hold'>, bytes: Buffer): boolean {
    if (this.#state !== 'online' || !this.#fromServer(m, bytes)) return false;
    if (m.version > this.#version) this.#hold.take(m.version, m.waitMs, m.spreadMs);
    return true;
  }

  #replace(entries: PresenceEntry[], version: number): void {
    if (version < this.#version) return;
    const next = new Map<string, QimContact>();
    for (const e of entries) if (e.op === 'upsert') next.set(e.name, contactOf(e));
    const first = this.#version < 0 && this.#list.size === 0;
    const self = this.options.name;
    for (const name of this.#list.keys()) if (!next.has(name) && name !== self) this.emit('left', { name });
    if (!first) {
      for (const [name, c] of next) {
        if (name === self) continue;
        const old = this.#list.get(name);
        if (old === undefined || !sameContact(old, c)) this.emit('joined', c);
        else if (old.status !== c.status) this.emit('status', { name, status: c.status });
      }
    }
    this.#list.clear();
    for (const [name, c] of next) this.#list.set(name, c);
    this.#version = version;
    this.emit('list', this.contacts());
    this.#caughtUp();
  }

  /** The list is at least as new as the version asked for: deltas that came first but follow on from it. */
  #caughtUp(): void {
    this.#hold.covered(this.#version);
    for (let d = this.#held.get(this.#version); d !== undefined; d = this.#held.get(this.#version)) {
      this.#held.delete(this.#version);
      this.#applyBatch(d.entries, d.to);
    }
    this.#held.clear();
  }

  /** A batch that follows on from our version: its changes, in order; our version is then its last. */
  #applyBatch(entries: readonly PresenceEntry[], to: number): void {
    for (const e of entries) this.#apply(e);
    this.#version = to;
  }

  #apply(e: PresenceEntry): void {
    if (e.op === 'remove') {
      if (this.#list.delete(e.name) && e.name !== this.options.name) this.emit('left', { name: e.name });
      return;
    }
    const c = contactOf(e);
    const old = this.#list.get(e.name);
    this.#list.set(e.name, c);
    if (e.name === this.options.name) return;
    if (old === undefined || !sameContact(old, c)) this.emit('joined', c);
    else if (old.status !== c.status) this.emit('status', { name: e.name, status: c.status });
  }

  #sessionBytes(type: 'heartbeat' | 'logout' | 'list-request'): Buffer {
    if (this.#session === null || this.#macKey === null) throw new QimError('ERR_NOT_ONLINE', 'not logged in');
    const out = encodeV2({ type, session: this.#session, counter: ++this.#counter, listVersion: Math.max(0, this.#version), mac: Buffer.alloc(16) });
    sessionMac(this.#macKey, out).copy(out, SESSION_MAC_OFFSET);
    return out;
  }

  #setState(state: LinkState): void {
    this.#state = state;
    this.emit('state', state);
  }
}

/** Same person at the same place with the same key (a status change is not a new join). */
function sameContact(a: QimContact, b: QimContact): boolean {
  return a.protocol === b.protocol && a.fingerprint.equals(b.fingerprint) && sameEndpoint(a.endpoint, b.endpoint);
}

function contactOf(e: Extract<PresenceEntry, { op: 'upsert' }>): QimContact {
  return { name: e.name, protocol: e.protocol, status: e.status, fingerprint: e.fingerprint, endpoint: e.endpoint, privateEndpoint: e.privateEndpoint };
}
