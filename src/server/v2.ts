/**
 * The qim protocol's server side (docs/PROTOCOL.md, "qim protocol (v2)"): return routability by
 * cookie, signed logins bound to their keys on first use, sessions with MAC'd heartbeats and
 * leases, and logouts only by the session's holder.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { controlKey, sessionMac, trailingMac } from '../crypto/control.js';
import { sign, verify, x25519, x25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { nameProblem } from '../protocol/names.js';
import {
  decodeV2,
  encodeV2,
  loginSigned,
  SESSION_MAC_OFFSET,
  welcomeSigned,
  type V2Message,
} from '../protocol/v2/messages.js';
import type { DropReason } from '../protocol/result.js';
import type { AccountStore } from './accounts.js';
import type { ServerContext } from './context.js';
import type { CookieJar } from './cookie.js';
import type { PresenceHub, PresenceRecipient } from './presence.js';
import { RateLimiter } from './rate-limit.js';

/** REFUSED codes (docs/PROTOCOL.md). */
export const RefuseCode = { BadName: 1, KeyMismatch: 2, NameTaken: 3, ServerFull: 4, Stale: 5, UnknownSession: 6 } as const;

/** One logged-in qim user's session. */
interface Session {
  readonly id: Buffer;
  readonly name: string;
  readonly identity: Buffer;
  readonly macKey: Buffer;
  endpoint: Endpoint;
  counter: number;
  expires: number;
}

/** What the v2 handler needs beyond the shared context. */
export interface V2Deps {
  readonly identity: KeyPair;
  readonly accounts: AccountStore;
  readonly cookies: CookieJar;
  readonly presence: PresenceHub;
  readonly now: () => number;
}

type Msg<T extends V2Message['type']> = Extract<V2Message, { type: T }>;

/** Handles every qim-protocol datagram that reaches the server. */
export class V2Handler {
  readonly #ctx: ServerContext;
  readonly #deps: V2Deps;
  readonly #sessions = new Map<string, Session>();
  readonly #byName = new Map<string, Session>();
  /** Newest login time accepted per name, so a replayed LOGIN cannot displace a newer session. */
  readonly #lastLogin = new Map<string, number>();
  /** HELLO and LOGIN per source address: the only messages anyone may send without a session. */
  readonly #limiter: RateLimiter;

  constructor(ctx: ServerContext, deps: V2Deps) {
    this.#ctx = ctx;
    this.#deps = deps;
    this.#limiter = new RateLimiter(ctx.limits.handshakesPerSecond, ctx.limits.handshakeBurst, ctx.limits.maxUsers, deps.now);
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
        this.#session(m, bytes, from);
        return;
      default:
        this.#ctx.drop('unexpected', from, bytes.length);
    }
  }

  /** Every qim session, as a presence recipient. */
  *recipients(): Iterable<PresenceRecipient> {
    for (const s of this.#sessions.values()) yield this.#recipient(s);
  }

  #recipient(s: Session): PresenceRecipient {
    return { endpoint: s.endpoint, mac: (bytes) => trailingMac(s.macKey, bytes) };
  }

  /** Removes every session whose lease ran out, telling the others. Called on a timer. */
  expire(): void {
    const now = this.#deps.now();
    for (const s of this.#sessions.values()) {
      if (s.expires <= now) this.#end(s, 'expired');
    }
  }

  #login(m: Msg<'login'>, bytes: Buffer, from: Endpoint): void {
    const ctx = this.#ctx;
    if (!this.#deps.cookies.check(from, m.nonce, m.cookie)) {
      ctx.drop('bad-cookie', from, bytes.length);
      return;
    }
    if (!verify(m.identity, loginSigned(m), m.signature)) {
      ctx.drop('bad-signature', from, bytes.length);
      return;
    }
    const problem = nameProblem(m.name, ctx.limits.maxNameLength);
    if (problem !== null) return this.#refuse(m.name, from, RefuseCode.BadName, problem, 'bad-name');
    const bound = this.#deps.accounts.keyFor(m.name);
    if (bound !== undefined && !bound.equals(m.identity)) {
      return this.#refuse(m.name, from, RefuseCode.KeyMismatch, 'name belongs to another key', 'key-mismatch');
    }
    const last = this.#lastLogin.get(m.name);
    if (last !== undefined && m.time <= last) {
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
    this.#deps.accounts.bind(m.name, m.identity);
    this.#lastLogin.set(m.name, m.time);
    const previous = this.#byName.get(m.name);
    // The same key again (a restart, a new network): the new session replaces the old one.
    if (previous !== undefined) this.#forget(previous);
    const session: Session = {
      id: randomBytes(8),
      name: m.name,
      identity: m.identity,
      macKey: controlKey(shared, bytes),
      endpoint: from,
      counter: 0,
      expires: this.#deps.now() + ctx.limits.leaseMs,
    };
    this.#sessions.set(session.id.toString('hex'), session);
    this.#byName.set(m.name, session);
    const moved = previous !== undefined && !sameEndpoint(previous.endpoint, from);
    if (moved && previous !== undefined) ctx.announce('logout', m.name, previous.endpoint);
    ctx.directory.add({ name: m.name, endpoint: from, protocol: 'qim', since: Date.now(), identity: m.identity });
    if (previous === undefined) {
      ctx.counters.logins++;
      ctx.emit('login', { name: m.name, endpoint: from, protocol: 'qim' });
    }
    if (previous === undefined || moved) ctx.announce('login', m.name, from);

    const welcome: Msg<'welcome'> = {
      type: 'welcome',
      session: session.id,
      leaseMs: ctx.limits.leaseMs,
      heartbeatMs: ctx.limits.heartbeatMs,
      listVersion: this.#deps.presence.version,
      observed: from,
      serverIdentity: this.#deps.identity.publicKey,
      serverEphemeral: ephemeral.publicKey,
      signature: Buffer.alloc(64),
    };
    // The signature binds the answer to this very LOGIN: a WELCOME cannot be replayed to another.
    const signed = Buffer.concat([welcomeSigned(welcome), createHash('sha256').update(bytes).digest()]);
    this.#ctx.send(encodeV2({ ...welcome, signature: sign(this.#deps.identity, signed) }), from);
  }

  #session(m: Msg<'heartbeat'> | Msg<'logout'> | Msg<'list-request'>, bytes: Buffer, from: Endpoint): void {
    const ctx = this.#ctx;
    const s = this.#sessions.get(m.session.toString('hex'));
    if (s === undefined) {
      ctx.drop('not-logged-in', from, bytes.length);
      // After a restart the server knows no session: say so (in fewer bytes than the heartbeat, to
      // the source only) so the client logs in again at once instead of waiting out its timeouts.
      if (m.type === 'heartbeat') ctx.send(encodeV2({ type: 'refused', code: RefuseCode.UnknownSession, reason: '' }), from);
      return;
    }
    if (!timingSafeEqual(sessionMac(s.macKey, bytes), m.mac)) {
      ctx.drop('bad-mac', from, bytes.length);
      return;
    }
    if (m.counter <= s.counter) {
      ctx.drop('replayed', from, bytes.length);
      return;
    }
    s.counter = m.counter;
    if (m.type === 'logout') {
      this.#end(s, 'logout');
      return;
    }
    if (m.type === 'list-request') {
      this.#deps.presence.sendSnapshot(this.#recipient(s));
      return;
    }
    // A valid MAC from a new address: the user's network changed; follow it (as WireGuard does).
    s.endpoint = from;
    s.expires = this.#deps.now() + ctx.limits.leaseMs;
    // The ack carries the list version, so a client that missed a delta sees the gap.
    const listVersion = this.#deps.presence.version;
    const ack: Msg<'heartbeat-ack'> = { type: 'heartbeat-ack', session: s.id, counter: m.counter, listVersion, mac: Buffer.alloc(16) };
    const out = encodeV2(ack);
    sessionMac(s.macKey, out).copy(out, SESSION_MAC_OFFSET);
    this.#ctx.send(out, from);
  }

  #end(s: Session, reason: 'logout' | 'expired'): void {
    this.#forget(s);
    const ctx = this.#ctx;
    ctx.directory.remove(s.name);
    if (reason === 'logout') ctx.counters.logouts++;
    else ctx.counters.expired++;
    ctx.emit('logout', { name: s.name, endpoint: s.endpoint, reason });
    ctx.announce('logout', s.name, s.endpoint);
  }

  #forget(s: Session): void {
    this.#sessions.delete(s.id.toString('hex'));
    if (this.#byName.get(s.name) === s) this.#byName.delete(s.name);
  }

  #refuse(name: string, to: Endpoint, code: number, message: string, reason: DropReason): void {
    this.#ctx.counters.refused++;
    this.#ctx.emit('refused', { name, endpoint: to, reason, message });
    this.#ctx.send(encodeV2({ type: 'refused', code, reason: message }), to);
  }
}
