/**
 * The qim protocol's server side (docs/PROTOCOL.md, "qim protocol (v2)"): return routability by
 * cookie, signed logins bound to their keys on first use, sessions with MAC'd heartbeats and
 * leases, and logouts only by the session's holder.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { controlKey, sessionMac, trailingMac } from '../crypto/control.js';
import { keyWithFingerprint, sign, verifyAsync, x25519, x25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { nameProblem } from '../protocol/names.js';
import {
  decodeV2,
  encodeV2,
  loginSigned,
  OfflineResult,
  SESSION_MAC_OFFSET,
  welcomeSigned,
  type Status,
  type V2Message,
} from '../protocol/v2/messages.js';
import type { DropReason } from '../protocol/result.js';
import type { AccountStore } from './accounts.js';
import type { OfflineStore } from './offline.js';
import { verifyPrekey } from '../crypto/offline.js';
import type { ServerContext } from './context.js';
import type { CookieJar } from './cookie.js';
import { announceVisibility, type PresenceHub, type Seen } from './presence.js';
import { RateLimiter } from './rate-limit.js';

/** REFUSED codes (docs/PROTOCOL.md). */
export const RefuseCode = { BadName: 1, KeyMismatch: 2, NameTaken: 3, ServerFull: 4, Stale: 5, UnknownSession: 6 } as const;

/** One logged-in qim user's session. */
interface Session {
  /** The session id, in hex (a string costs less to keep than a Buffer, and keys the session map). */
  readonly id: string;
  readonly name: string;
  readonly identity: Buffer;
  readonly macKey: Buffer;
  endpoint: Endpoint;
  counter: number;
  /**
   * The counter of the last list request over TCP, checked apart: a TCP request is made before its
   * connection opens, so datagrams sent meanwhile may reach the server first with later counters.
   */
  tcpCounter: number;
  expires: number;
  status: Status;
}


/** A WELCOME sent lately, kept for its LOGIN sent again. */
interface SentWelcome {
  readonly login: Buffer;
  readonly from: Endpoint;
  /** The signed datagram. */
  welcome: Buffer;
  fields: Msg<'welcome'>;
  readonly until: number;
}

/** What the v2 handler needs beyond the shared context. */
export interface V2Deps {
  readonly identity: KeyPair;
  readonly accounts: AccountStore;
  readonly offline: OfflineStore;
  readonly cookies: CookieJar;
  readonly presence: PresenceHub;
  readonly now: () => number;
}

type Msg<T extends V2Message['type']> = Extract<V2Message, { type: T }>;
type SessionMsg = Msg<'heartbeat'> | Msg<'logout'> | Msg<'list-request'> | Msg<'status'>;
type OfflineMsg = Msg<'prekey'> | Msg<'key-request'> | Msg<'offline-put'> | Msg<'offline-done'>;

/** Offline messages (and receipts) sent per login or heartbeat. */
const OFFLINE_BATCH = 16;
/** How often expired offline messages are forgotten. */
const OFFLINE_SWEEP_MS = 60_000;
/** How long a WELCOME is kept for a LOGIN sent again (a client sends one three times at most, 8 s apart at most). */
const WELCOME_REPEAT_MS = 30_000;

/** Handles every qim-protocol datagram that reaches the server. */
export class V2Handler {
  readonly #ctx: ServerContext;
  readonly #deps: V2Deps;
  readonly #sessions = new Map<string, Session>();
  readonly #byName = new Map<string, Session>();
  /** Newest login time accepted per name, so a replayed LOGIN cannot displace a newer session. */
  readonly #lastLogin = new Map<string, number>();
  /**
   * WELCOMEs sent lately, by name: a client whose WELCOME is slow (a busy server) or lost sends
   * the very same LOGIN again, and gets the same WELCOME back for the price of a hash.
   */
  readonly #welcomes = new Map<string, SentWelcome>();
  /** LOGINs whose signature is being checked, by the base64 of their hash. */
  readonly #checking = new Set<string>();
  #closed = false;
  /** HELLO and LOGIN per source address: the only messages anyone may send without a session. */
  readonly #limiter: RateLimiter;
  /** Relay bytes per user, and introductions per session. */
  readonly #relayBudget: RateLimiter;
  readonly #introductions: RateLimiter;
  /** Names with offline messages or receipts waiting (so heartbeats of the others cost no lookup). */
  readonly #mail = new Set<string>();
  #offlineSweep = 0;

  constructor(ctx: ServerContext, deps: V2Deps) {
    this.#ctx = ctx;
    this.#deps = deps;
    const { limits } = ctx;
    this.#limiter = new RateLimiter(limits.handshakesPerSecond, limits.handshakeBurst, limits.maxUsers, deps.now);
    this.#relayBudget = new RateLimiter(limits.relayBytesPerSecond, limits.relayBurstBytes, limits.maxUsers, deps.now);
    this.#introductions = new RateLimiter(limits.introductionsPerSecond, 4 * limits.introductionsPerSecond, limits.maxUsers, deps.now);
  }

  handle(bytes: Buffer, from: Endpoint): void {
    const decoded = decodeV2(bytes);
    if (!decoded.ok) {
      this.#ctx.drop(decoded.reason, from, bytes.length);
      return;
    }
    const m = decoded.value;
    if ((m.type === 'hello' || m.type === 'login') && !this.#limiter.take(from.address)) {
      this.#ctx.drop('rate-limited', from, bytes.length);
      return;
    }
    switch (m.type) {
      case 'hello':
        // Stateless, and smaller than the HELLO: nothing to amplify, nothing to exhaust.
        this.#ctx.send(encodeV2({ type: 'cookie', nonce: m.nonce, cookie: this.#deps.cookies.issue(from, m.nonce) }), from);
        return;
      case 'login':
        this.#login(m, bytes, from);
        return;
      case 'heartbeat':
      case 'logout':
      case 'list-request':
      case 'status':
        this.#session(m, bytes, from);
        return;
      case 'introduce':
        this.#introduce(m, bytes, from);
        return;
      case 'prekey':
      case 'key-request':
      case 'offline-put':
      case 'offline-done':
        // The store may be remote (Redis): answers go out when it has answered. A store that
        // fails answers nothing; the client asks again.
        this.#offline(m, bytes, from).catch(() => this.#ctx.drop('unexpected', from, bytes.length));
        return;
      case 'relay':
        this.#relay(m, bytes, from);
        return;
      default:
        this.#ctx.drop('unexpected', from, bytes.length);
    }
  }

  /**
   * A LIST-REQUEST that came over TCP (docs/PROTOCOL.md, "Resync over TCP"): `answer` gets the
   * batches since the request's version, or the snapshot (now, or when the batch gathering now
   * goes out); false when it is not a valid request of a live session (dropped and counted). TCP
   * already proved the address, so the answer may be any size.
   */
  tcpListRequest(bytes: Buffer, from: Endpoint, answer: (datagrams: readonly Buffer[]) => void): boolean {
    const decoded = decodeV2(bytes);
    if (!decoded.ok || decoded.value.type !== 'list-request') {
      this.#ctx.drop(decoded.ok ? 'unexpected' : decoded.reason, from, bytes.length, 'tcp');
      return false;
    }
    const s = this.#authenticate(decoded.value, bytes, from, 'tcp');
    if (s === undefined) return false;
    this.#deps.presence.whenSnapshot(answer, s.endpoint, decoded.value.listVersion);
    return true;
  }

  /** qim sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Where every qim session is (presence recipients). */
  *recipients(): Iterable<Endpoint> {
    for (const s of this.#sessions.values()) yield s.endpoint;
  }

  /** Removes every session whose lease ran out, telling the others. Called on a timer. */
  expire(): void {
    const now = this.#deps.now();
    if (now - this.#offlineSweep >= OFFLINE_SWEEP_MS) {
      this.#offlineSweep = now;
      void Promise.resolve(this.#deps.offline.expire(now - this.#ctx.limits.offlineKeepMs)).catch(() => undefined);
    }
    for (const s of this.#sessions.values()) {
      if (s.expires <= now) this.#end(s, 'expired');
    }
    for (const [name, w] of this.#welcomes) if (w.until <= now) this.#welcomes.delete(name);
  }

  /**
   * A LOGIN (docs/PROTOCOL.md, "Sessions"). The costliest check runs off the event loop: the
   * signature is checked on libuv's thread pool, so a storm's logins use every core and the loop
   * keeps serving heartbeats, lists and presence meanwhile (the WELCOME's signature, 35-39 µs
   * with libsodium, costs less on the loop than a trip to the pool would). Everything that
   * depends on state (names, keys, the directory) is checked when the signature has been, so a
   * login checked in parallel with another for the same name still meets the newer state.
   */
  #login(m: Msg<'login'>, bytes: Buffer, from: Endpoint): void {
    const ctx = this.#ctx;
    const loginHash = createHash('sha256').update(bytes).digest();
    const repeat = this.#welcomes.get(m.name);
    if (repeat !== undefined && repeat.login.equals(loginHash) && sameEndpoint(repeat.from, from)) {
      ctx.counters.loginRepeats++;
      if (repeat.fields.holdWaitMs > 0 && !this.#deps.presence.holding) {
        // The hold it named has settled since (its settle went out): a WELCOME that still named it
        // would have the client wait it out. Signed again without it.
        repeat.fields = { ...repeat.fields, holdWaitMs: 0, holdSpreadMs: 0 };
        repeat.welcome = this.#signWelcome(repeat.fields, repeat.login);
      }
      ctx.send(repeat.welcome, from);
      return;
    }
    const key = loginHash.toString('base64');
    if (this.#checking.has(key)) {
      // The same LOGIN again while its signature is checked (a slow server, a client resending).
      ctx.counters.loginRepeats++;
      return;
    }
    if (!this.#deps.cookies.check(from, m.nonce, m.cookie)) {
      ctx.drop('bad-cookie', from, bytes.length);
      return;
    }
    if (this.#checking.size >= ctx.limits.maxLoginsChecking) {
      ctx.drop('busy', from, bytes.length);
      return;
    }
    this.#checking.add(key);
    verifyAsync(m.identity, loginSigned(m), m.signature)
      .then((ok) => {
        this.#checking.delete(key);
        if (this.#closed) return;
        if (!ok) return ctx.drop('bad-signature', from, bytes.length);
        this.#admit(m, bytes, from, loginHash);
      })
      // A fault met while admitting one login is counted; the server goes on serving the others.
      .catch(() => ctx.drop('unexpected', from, bytes.length));
  }

  /** A LOGIN whose signature holds: the checks that depend on state, then the session and its WELCOME. */
  #admit(m: Msg<'login'>, bytes: Buffer, from: Endpoint, loginHash: Buffer): void {
    const ctx = this.#ctx;
    const problem = nameProblem(m.name, ctx.limits.maxNameLength);
    if (problem !== null) return this.#refuse(m.name, from, RefuseCode.BadName, problem, 'bad-name');
    const bound = this.#deps.accounts.keyFor(m.name);
    if (bound !== undefined && !bound.equals(m.identity)) {
      return this.#refuse(m.name, from, RefuseCode.KeyMismatch, 'name belongs to another key', 'key-mismatch');
    }
    const last = this.#lastLogin.get(m.name);
    if (last !== undefined && m.time <= last) {
      // Also the same LOGIN checked twice at once from two addresses: the first one won.
      return this.#refuse(m.name, from, RefuseCode.Stale, 'login older than the current one', 'stale');
    }
    const holder = ctx.directory.byName(m.name);
    if (holder !== undefined && holder.protocol === 'classic') {
      return this.#refuse(m.name, from, RefuseCode.NameTaken, 'name taken', 'name-taken');
    }
    if (holder === undefined && ctx.directory.size >= ctx.limits.maxUsers) {
      return this.#refuse(m.name, from, RefuseCode.ServerFull, 'server full', 'server-full');
    }
    const ephemeral = x25519KeyPair();
    const shared = x25519(ephemeral, m.ephemeral);
    if (shared === null) {
      ctx.drop('bad-key', from, bytes.length);
      return;
    }
    // Kept for the whole session (see keyWithFingerprint).
    const { key: identity, fingerprint } = keyWithFingerprint(bound ?? m.identity);
    this.#deps.accounts.bind(m.name, identity);
    this.#lastLogin.set(m.name, m.time);
    const previous = this.#byName.get(m.name);
    // The same key again (a restart, a new network): the new session replaces the old one.
    if (previous !== undefined) this.#forget(previous);
    const before: Seen = previous === undefined ? undefined : { endpoint: previous.endpoint, status: previous.status, privateEndpoint: holder?.privateEndpoint };
    const session: Session = {
      id: randomBytes(8).toString('hex'),
      name: m.name,
      identity,
      macKey: controlKey(shared, bytes),
      endpoint: from,
      counter: 0,
      tcpCounter: 0,
      expires: this.#deps.now() + ctx.limits.leaseMs,
      status: m.status,
    };
    this.#sessions.set(session.id, session);
    this.#byName.set(m.name, session);
    ctx.directory.add({ name: m.name, endpoint: from, privateEndpoint: m.endpoint, protocol: 'qim', since: Date.now(), identity, fingerprint, status: m.status });
    if (previous === undefined) {
      ctx.counters.logins++;
      ctx.emit('login', { name: m.name, endpoint: from, protocol: 'qim' });
    }
    announceVisibility(ctx, m.name, before, { endpoint: from, status: m.status, privateEndpoint: m.endpoint });

    const hold = this.#deps.presence.holdTerms;
    const welcome: Msg<'welcome'> = {
      type: 'welcome',
      session: Buffer.from(session.id, 'hex'),
      leaseMs: ctx.limits.leaseMs,
      heartbeatMs: ctx.limits.heartbeatMs,
      listVersion: this.#deps.presence.version,
      epoch: this.#deps.presence.epoch,
      observed: from,
      serverIdentity: this.#deps.identity.publicKey,
      serverEphemeral: ephemeral.publicKey,
      // In a storm the client waits for the settle instead of asking for the list now (and being
      // answered with a LIST-HOLD over a TCP connection of its own).
      holdWaitMs: hold?.waitMs ?? 0,
      holdSpreadMs: hold?.spreadMs ?? 0,
      signature: Buffer.alloc(64),
    };
    const sent: SentWelcome = { login: loginHash, from, welcome: this.#signWelcome(welcome, loginHash), fields: welcome, until: this.#deps.now() + WELCOME_REPEAT_MS };
    this.#welcomes.set(m.name, sent);
    ctx.send(sent.welcome, from);
    // Offline messages follow the WELCOME (before it, the client has no session to take them in).
    void this.#flushOffline(session).catch(() => undefined);
  }

  /**
   * A WELCOME with `fields`, signed. The signature covers the LOGIN's hash too: a WELCOME answers
   * that very LOGIN and cannot be replayed to another.
   */
  #signWelcome(fields: Msg<'welcome'>, loginHash: Buffer): Buffer {
    return encodeV2({ ...fields, signature: sign(this.#deps.identity, Buffer.concat([welcomeSigned(fields), loginHash])) });
  }

  /** Stops answering: logins still being checked are dropped when their check finishes. */
  close(): void {
    this.#closed = true;
  }

  #session(m: SessionMsg, bytes: Buffer, from: Endpoint): void {
    const s = this.#authenticate(m, bytes, from, 'udp');
    if (s === undefined) return;
    if (m.type === 'logout') {
      this.#end(s, 'logout');
      return;
    }
    if (m.type === 'list-request') {
      this.#deps.presence.sendSnapshot(s.endpoint, m.listVersion);
      return;
    }
    if (m.type === 'status') this.#setStatus(s, m.status);
    else if (!sameEndpoint(s.endpoint, from)) this.#move(s, from);
    s.expires = this.#deps.now() + this.#ctx.limits.leaseMs;
    // The ack carries the list version, so a client that missed a delta sees the gap; it also
    // confirms a STATUS (same counter).
    if (m.type === 'heartbeat' && this.#mail.has(s.name)) void this.#flushOffline(s).catch(() => undefined);
    const listVersion = this.#deps.presence.version;
    const ack: Msg<'heartbeat-ack'> = { type: 'heartbeat-ack', session: m.session, counter: m.counter, listVersion, mac: Buffer.alloc(16) };
    const out = encodeV2(ack);
    sessionMac(s.macKey, out).copy(out, SESSION_MAC_OFFSET);
    this.#ctx.send(out, from);
  }

  /** The live session a session message belongs to, if its MAC holds and its counter is new. */
  #authenticate(m: SessionMsg | Msg<'introduce'> | OfflineMsg, bytes: Buffer, from: Endpoint, transport: 'udp' | 'tcp'): Session | undefined {
    const ctx = this.#ctx;
    const s = this.#sessions.get(m.session.toString('hex'));
    if (s === undefined) {
      ctx.drop('not-logged-in', from, bytes.length, transport);
      // After a restart the server knows no session: say so (in fewer bytes than the heartbeat, to
      // the source only) so the client logs in again at once instead of waiting out its timeouts.
      if (m.type === 'heartbeat') ctx.send(encodeV2({ type: 'refused', code: RefuseCode.UnknownSession, reason: '' }), from);
      return undefined;
    }
    const fixedLayout = m.type === 'heartbeat' || m.type === 'logout' || m.type === 'list-request';
    const mac = fixedLayout ? sessionMac(s.macKey, bytes) : trailingMac(s.macKey, bytes);
    if (!timingSafeEqual(mac, m.mac)) {
      ctx.drop('bad-mac', from, bytes.length, transport);
      return undefined;
    }
    // The session speaks: its WELCOME arrived, and need not be kept for a LOGIN sent again.
    this.#welcomes.delete(s.name);
    if (transport === 'tcp') {
      if (m.counter <= s.tcpCounter) {
        ctx.drop('replayed', from, bytes.length, transport);
        return undefined;
      }
      s.tcpCounter = m.counter;
      return s;
    }
    if (m.counter <= s.counter) {
      ctx.drop('replayed', from, bytes.length, transport);
      return undefined;
    }
    s.counter = m.counter;
    return s;
  }

  /**
   * A valid HEARTBEAT from a new address: the user's network changed (or their NAT's binding did).
   * Follow it, as WireGuard does, and tell everyone where they are now.
   */
  #move(s: Session, to: Endpoint): void {
    const ctx = this.#ctx;
    const before = s.endpoint;
    s.endpoint = to;
    const user = ctx.directory.byName(s.name);
    if (user === undefined || user.instance !== undefined) return;
    ctx.directory.add({ ...user, endpoint: to });
    announceVisibility(ctx, s.name, { endpoint: before, status: s.status }, { endpoint: to, status: s.status });
  }

  /** A user asks to be introduced to a peer: the peer is told to reach out too (a hole punch). */
  #introduce(m: Msg<'introduce'>, bytes: Buffer, from: Endpoint): void {
    const s = this.#authenticate(m, bytes, from, 'udp');
    if (s === undefined) return;
    if (!this.#introductions.take(s.id)) return this.#ctx.drop('rate-limited', from, bytes.length);
    const peer = this.#byName.get(m.peer);
    const self = this.#ctx.directory.byName(s.name);
    if (peer === undefined || peer === s || peer.status === 'invisible' || self === undefined) return this.#ctx.drop('unknown-peer', from, bytes.length);
    this.#sendMacd(peer, { type: 'punch', peer: s.name, observed: s.endpoint, privateEndpoint: self.privateEndpoint ?? s.endpoint, mac: Buffer.alloc(16) });
  }

  /**
   * Carries one peer datagram between two online users who have no direct path. Ciphertext only:
   * the inner datagram is end-to-end encrypted and authenticated, and the server cannot read it.
   */
  #relay(m: Msg<'relay'>, bytes: Buffer, from: Endpoint): void {
    const ctx = this.#ctx;
    const s = this.#sessions.get(m.session.toString('hex'));
    if (s === undefined) return ctx.drop('not-logged-in', from, bytes.length);
    if (!timingSafeEqual(trailingMac(s.macKey, bytes), m.mac)) return ctx.drop('bad-mac', from, bytes.length);
    const peer = this.#byName.get(m.peer);
    if (peer === undefined || peer === s) return ctx.drop('unknown-peer', from, bytes.length);
    if (!this.#relayBudget.take(s.name, bytes.length)) return ctx.drop('relay-limit', from, bytes.length);
    ctx.counters.relayed++;
    ctx.counters.relayedBytes += m.inner.length;
    this.#sendMacd(peer, { type: 'relayed', peer: s.name, inner: m.inner, mac: Buffer.alloc(16) });
  }

  /** Prekeys, key lookups and offline messages: each from a live session, MAC'd, counter checked. */
  async #offline(m: OfflineMsg, bytes: Buffer, from: Endpoint): Promise<void> {
    const s = this.#authenticate(m, bytes, from, 'udp');
    if (s === undefined) return;
    const { offline } = this.#deps;
    switch (m.type) {
      case 'prekey':
        if (!verifyPrekey(s.identity, s.name, m.prekey, m.signature)) return this.#ctx.drop('bad-signature', from, bytes.length);
        await offline.setPrekey(s.name, m.prekey, m.signature);
        return;
      case 'key-request': {
        const identity = this.#deps.accounts.keyFor(m.peer);
        const pk = identity === undefined ? undefined : await offline.prekey(m.peer);
        this.#sendMacd(s, {
          type: 'key-answer',
          peer: m.peer,
          identity: identity ?? Buffer.alloc(32),
          prekey: pk?.prekey ?? Buffer.alloc(32),
          signature: pk?.signature ?? Buffer.alloc(64),
          mac: Buffer.alloc(16),
        });
        return;
      }
      case 'offline-put': {
        let result: number;
        if (this.#deps.accounts.keyFor(m.to) === undefined || (await offline.prekey(m.to)) === undefined) result = OfflineResult.Unknown;
        else if (this.#ctx.directory.byName(m.to) !== undefined) result = OfflineResult.Online;
        else {
          const stored = await offline.put({ id: m.id, to: m.to, from: s.name, sealed: m.sealed, storedAt: this.#deps.now() }, this.#ctx.limits.offlinePerRecipient);
          if (stored === 'stored') this.#mail.add(m.to);
          result = stored === 'stored' ? OfflineResult.Stored : stored === 'full' ? OfflineResult.Full : OfflineResult.Duplicate;
        }
        this.#sendMacd(s, { type: 'offline-ack', id: m.id, result, mac: Buffer.alloc(16) });
        return;
      }
      case 'offline-done': {
        const done = await offline.take(s.name, m.id);
        if (done === undefined) {
          await offline.takeReceipt(s.name, m.id); // the sender heard of a delivery
          return;
        }
        await offline.addReceipt(done.from, { id: done.id, to: s.name });
        this.#mail.add(done.from);
        const sender = this.#byName.get(done.from);
        if (sender !== undefined) this.#sendMacd(sender, { type: 'offline-receipt', id: done.id, to: s.name, mac: Buffer.alloc(16) });
        return;
      }
    }
  }

  /** Sends what waits for `s`: its offline messages and the receipts of its own, a batch at a time. */
  async #flushOffline(s: Session): Promise<void> {
    const { offline } = this.#deps;
    const [waiting, receipts] = await Promise.all([offline.waiting(s.name, OFFLINE_BATCH), offline.receipts(s.name, OFFLINE_BATCH)]);
    if (waiting.length === 0 && receipts.length === 0) {
      this.#mail.delete(s.name);
      return;
    }
    this.#mail.add(s.name); // more may wait: the next heartbeat brings the next batch
    for (const m of waiting) {
      this.#sendMacd(s, { type: 'offline-deliver', id: m.id, from: m.from, storedAt: m.storedAt, sealed: m.sealed, mac: Buffer.alloc(16) });
    }
    for (const r of receipts) this.#sendMacd(s, { type: 'offline-receipt', id: r.id, to: r.to, mac: Buffer.alloc(16) });
  }

  /** Sends a message ending in a MAC under `s`'s control key. */
  #sendMacd(s: Session, m: V2Message): void {
    const out = encodeV2(m);
    trailingMac(s.macKey, out).copy(out, out.length - 16);
    this.#ctx.send(out, s.endpoint);
  }

  #setStatus(s: Session, status: Status): void {
    const before = s.status;
    if (before === status) return;
    s.status = status;
    this.#ctx.directory.setStatus(s.name, status);
    this.#ctx.emit('status', { name: s.name, status, before });
    announceVisibility(this.#ctx, s.name, { endpoint: s.endpoint, status: before }, { endpoint: s.endpoint, status });
  }

  /**
   * Forgets the session of `name` without a word: the user logged in on another instance of the
   * cluster, which now serves (and announces) them.
   */
  evict(name: string): void {
    const s = this.#byName.get(name);
    if (s !== undefined) this.#forget(s);
  }

  #end(s: Session, reason: 'logout' | 'expired'): void {
    this.#forget(s);
    this.#welcomes.delete(s.name);
    const ctx = this.#ctx;
    ctx.directory.remove(s.name, reason);
    if (reason === 'logout') ctx.counters.logouts++;
    else ctx.counters.expired++;
    ctx.emit('logout', { name: s.name, endpoint: s.endpoint, reason });
    announceVisibility(ctx, s.name, { endpoint: s.endpoint, status: s.status }, undefined);
  }

  #forget(s: Session): void {
    this.#sessions.delete(s.id);
    if (this.#byName.get(s.name) === s) this.#byName.delete(s.name);
  }

  #refuse(name: string, to: Endpoint, code: number, message: string, reason: DropReason): void {
    this.#ctx.counters.refused++;
    this.#ctx.emit('refused', { name, endpoint: to, reason, message });
    this.#ctx.send(encodeV2({ type: 'refused', code, reason: message }), to);
  }
}
