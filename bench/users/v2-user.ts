/**
 * A lean qim-protocol user for the load generator: the exchanges of src/client/server-link.ts
 * (HELLO/COOKIE, a LOGIN signed with Ed25519, the control key from WELCOME, LIST-REQUEST over UDP,
 * PRESENCE batches applied by version, heartbeats, and a resync over TCP on a gap, falling back to
 * UDP) without the events, objects and checks a person's client needs. Thousands share a process.
 *
 * What it leaves out, on purpose: it does not check the WELCOME's signature nor that of each
 * PRESENCE (the server makes them all the same; the harness test runs the real client too).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { connect } from 'node:net';
import { sign, x25519, x25519KeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { controlKey, sessionMac } from '../../src/crypto/control.js';
import { defaultRetryDelay } from '../../src/client/server-link.js';
import { ListHold } from '../../src/client/list-hold.js';
import { decodeV2, encodeV2, loginSigned, MAX_DATAGRAM, SESSION_MAC_OFFSET } from '../../src/protocol/v2/messages.js';
import { frameDatagrams } from '../../src/protocol/v2/stream.js';
import { BaseUser, bindUserSocket, indexOfName, OneWaiter, newUserStats, wallMs, type UserOptions } from './common.js';
import { presenceCount, presenceHeader, scanPresence, type PresenceHeader } from './presence-scan.js';

const U = 0x75; // 'u': users of the run
const J = 0x6a; // 'j': churn joiners

/** Each step of the login waits this long before the attempt starts again (as ServerLink). */
const ATTEMPT_MS = 1000;
/** Times a LOGIN is sent before the attempt starts again from HELLO (as ServerLink). */
const LOGIN_SENDS = 5;
/** TCP fetches turned away (or left silent) before the list comes as datagrams (as ServerLink). */
const TCP_BUSY_TRIES = 12;
/** A TCP fetch that hears nothing this long is given up and tried again (as ServerLink's resyncMs). */
const RESYNC_SILENCE_MS = 15_000;

export interface V2UserOptions extends UserOptions {
  readonly identity: KeyPair;
  /** Send heartbeats (off for short-lived churn joiners). */
  readonly heartbeats: boolean;
}

type State = 'idle' | 'hello' | 'login' | 'online' | 'closed';

export class V2User extends BaseUser {
  readonly #o: V2UserOptions;
  #socket: Socket | null = null;
  #state: State = 'idle';
  #nonce = randomBytes(16);
  /** Made ahead (setup is not timed); each later attempt makes a fresh one, as ServerLink does. */
  #ephemeral: KeyPair = x25519KeyPair();
  #ephemeralUsed = false;
  #loginBytes: Buffer | null = null;
  #session: Buffer | null = null;
  #macKey: Buffer | null = null;
  #counter = 0;
  #version = -1;
  #heartbeatMs = 5000;
  #attempts = 0;
  #timer: NodeJS.Timeout | null = null;
  #beat: NodeJS.Timeout | null = null;
  #resyncing = false;
  /** A LIST-HOLD in force (as ServerLink): the list is fetched when it ends. */
  readonly #hold = new ListHold(() => this.#resync(false));
  readonly #parts = new Map<number, (Buffer | undefined)[]>();
  /** Deltas that came while the whole list was on its way (as ServerLink). */
  readonly #held = new Map<number, { to: number; parts: readonly Buffer[] }>();
  readonly #header: PresenceHeader = { fromVersion: 0, toVersion: 0, part: 0, parts: 0 };
  /** A UDP list fetch waiting for its snapshot (list-fetch scenario). */
  readonly #snapshot = new OneWaiter();

  constructor(options: V2UserOptions) {
    super(options);
    this.#o = options;
  }

  /** Binds the user's socket. */
  async bind(): Promise<void> {
    this.#socket = await bindUserSocket(this.#o.address, this.#o.recvBufferSize, (bytes) => this.#receive(bytes));
  }

  get online(): boolean {
    return this.#state === 'online';
  }

  start(): void {
    this.startedAt = wallMs();
    this.#hello();
  }

  logout(): void {
    if (this.#state === 'online') this.#send(this.#sessionBytes(0x08));
    this.close();
  }

  close(): void {
    this.#state = 'closed';
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#beat !== null) clearTimeout(this.#beat);
    this.#hold.end();
    this.#socket?.close();
    this.#socket = null;
  }

  #send(bytes: Uint8Array): void {
    this.#socket?.send(bytes, this.#o.server.port, this.#o.server.address);
  }

  #hello(): void {
    this.#state = 'hello';
    this.#nonce = randomBytes(16);
    this.#send(encodeV2({ type: 'hello', nonce: this.#nonce }));
    this.#arm();
  }

  /** Restarts the login after ATTEMPT_MS without an answer; after three attempts, backs off. */
  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#restart(), this.#attemptMs());
  }

  /** The attempt failed: start again from HELLO (as ServerLink: each attempt that fails in a row waits twice as long, up to 8 s, ±20%). */
  #restart(): void {
    if (this.#state !== 'hello' && this.#state !== 'login') return;
    this.stats.retries++;
    const attempt = ++this.#attempts;
    const delay = attempt < 3 ? 0 : defaultRetryDelay(attempt - 2);
    this.#timer = setTimeout(() => this.#hello(), delay);
  }

  #receive(bytes: Buffer): void {
    this.stats.datagramsIn++;
    this.stats.bytesIn += bytes.length;
    if (bytes[0] !== 0x02) return;
    switch (bytes[1]) {
      case 0x02: // COOKIE
        if (this.#state === 'hello' && bytes.length === 34 && bytes.subarray(2, 18).equals(this.#nonce)) this.#login(bytes.subarray(18, 34));
        return;
      case 0x04: // WELCOME
      case 0x05: // REFUSED
        if (this.#state === 'login') this.#welcome(bytes);
        else if (bytes[1] === 0x05 && bytes[2] === 6 && this.#state === 'online') this.#hello(); // unknown session
        return;
      case 0x07: // HEARTBEAT-ACK: the list version it carries reveals a lost delta (not in a hold)
        if (this.#state === 'online' && bytes.length === 38 && bytes.readUInt32BE(18) > this.#version && this.#parts.size === 0 && !this.#hold.active) this.#resync();
        return;
      case 0x09:
        if (this.#state === 'online') this.#presence(bytes);
        return;
      case 0x16: // LIST-HOLD
        if (this.#state === 'online') this.#onHold(bytes);
        return;
      default:
    }
  }

  #login(cookie: Buffer): void {
    this.#state = 'login';
    if (this.#ephemeralUsed) this.#ephemeral = x25519KeyPair();
    this.#ephemeralUsed = true;
    const login = {
      type: 'login' as const,
      cookie: Buffer.from(cookie),
      nonce: this.#nonce,
      identity: this.#o.identity.publicKey,
      ephemeral: this.#ephemeral.publicKey,
      time: Date.now(),
      status: 'online' as const,
      name: this.#o.name,
      endpoint: { address: this.#o.address, port: this.#socket?.address().port ?? 0 },
      signature: Buffer.alloc(64),
    };
    this.#loginBytes = encodeV2({ ...login, signature: sign(this.#o.identity, loginSigned(login)) });
    this.loginSentAt = wallMs();
    this.#send(this.#loginBytes);
    this.#resendLogin(1, this.#attemptMs());
  }

  /** As ServerLink: the same LOGIN up to LOGIN_SENDS times, each wait twice the last, then HELLO again. */
  #resendLogin(sent: number, wait: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#state !== 'login' || this.#loginBytes === null) return;
      if (sent >= LOGIN_SENDS) return this.#restart();
      this.stats.retries++;
      this.#send(this.#loginBytes);
      this.#resendLogin(sent + 1, Math.min(8000, wait * 2));
    }, wait);
  }

  #attemptMs(): number {
    return Math.min(8000, ATTEMPT_MS * 2 ** Math.min(this.#attempts, 3)) * (this.#attempts === 0 ? 1 : 0.8 + Math.random() * 0.4);
  }

  #welcome(bytes: Buffer): void {
    const d = decodeV2(bytes);
    if (!d.ok || this.#loginBytes === null) return;
    if (d.value.type === 'refused') {
      // Refused (e.g. a stale login after a retry): try again as the client would.
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#state = 'hello';
      this.stats.retries++;
      this.#timer = setTimeout(() => this.#hello(), defaultRetryDelay(1));
      return;
    }
    if (d.value.type !== 'welcome') return;
    const shared = x25519(this.#ephemeral, d.value.serverEphemeral);
    if (shared === null) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#session = d.value.session;
    this.#macKey = controlKey(shared, this.#loginBytes);
    this.#heartbeatMs = d.value.heartbeatMs;
    this.#counter = 0;
    this.#version = -1;
    this.#parts.clear();
    this.#held.clear();
    this.#hold.reset();
    this.#state = 'online';
    this.onlineAt = wallMs();
    this.#o.observer.onOnline?.(this);
    // The list over TCP, as ServerLink fetches it after WELCOME; in a storm, when the hold it names settles.
    if (d.value.holdWaitMs > 0 && this.#hold.take(d.value.listVersion, d.value.holdWaitMs, d.value.holdSpreadMs)) this.stats.holds++;
    else this.#resync(false);
    if (this.#o.heartbeats) this.#heartbeat();
  }

  #heartbeat(): void {
    if (this.#beat !== null) clearTimeout(this.#beat);
    this.#beat = setTimeout(() => {
      if (this.#state !== 'online') return;
      this.#send(this.#sessionBytes(0x06));
      this.#heartbeat();
    }, this.#heartbeatMs);
    this.#beat.unref();
  }

  /** A session message (HEARTBEAT 06, LOGOUT 08, LIST-REQUEST 0a) with the next counter, naming our list version (or `version`). */
  #sessionBytes(type: number, version = this.#version): Buffer {
    const out = Buffer.alloc(38);
    out[0] = 0x02;
    out[1] = type;
    (this.#session as Buffer).copy(out, 2);
    out.writeUIntBE(++this.#counter, 12, 6);
    out.writeUInt32BE(Math.max(0, version), 18);
    sessionMac(this.#macKey as Buffer, out).copy(out, SESSION_MAC_OFFSET);
    return out;
  }

  #presence(bytes: Buffer): void {
    const h = this.#header;
    if (!presenceHeader(bytes, h)) return;
    let batch: (Buffer | undefined)[];
    if (h.parts === 1) batch = [bytes];
    else {
      const key = h.fromVersion * 0x1_0000_0000 + h.toVersion;
      let parts = this.#parts.get(key);
      if (parts === undefined) {
        parts = new Array<Buffer | undefined>(h.parts);
        this.#parts.set(key, parts);
      }
      parts[h.part] = bytes;
      for (const p of parts) if (p === undefined) return;
      this.#parts.delete(key);
      batch = parts;
    }
    this.#batch(h.fromVersion, h.toVersion, batch as Buffer[]);
  }

  #batch(from: number, to: number, parts: readonly Buffer[]): void {
    if (from === 0) {
      if (to < this.#version) return;
      this.#replace(parts, to);
      // As ServerLink: deltas that came before the list but follow on from it.
      for (let d = this.#held.get(this.#version); d !== undefined; d = this.#held.get(this.#version)) {
        this.#held.delete(this.#version);
        for (const p of d.parts) this.#apply(p);
        this.#version = d.to;
      }
      this.#held.clear();
    } else if (from === this.#version) {
      for (const p of parts) this.#apply(p);
      this.#version = to;
    } else if (this.#version < 0 || this.#resyncing || this.#hold.active) {
      if (this.#held.size < 64) this.#held.set(from, { to, parts });
      if (from > this.#version) this.#hold.settle();
    } else if (from > this.#version) {
      this.#resync();
    }
  }

  /**
   * Applies a catch-up answer (batches following on from each other, each complete) as deltas,
   * skipping those a UDP delta already brought; false when it is not one.
   */
  #catchUp(frames: readonly Buffer[]): boolean {
    const h = this.#header;
    const batches: { from: number; to: number; parts: Buffer[] }[] = [];
    for (let i = 0; i < frames.length; ) {
      const f = frames[i] as Buffer;
      if (!presenceHeader(f, h) || h.part !== 0 || i + h.parts > frames.length) return false;
      const last = batches.at(-1);
      if (last !== undefined && last.to !== h.fromVersion) return false;
      batches.push({ from: h.fromVersion, to: h.toVersion, parts: frames.slice(i, i + h.parts) as Buffer[] });
      i += h.parts;
    }
    for (const b of batches) {
      if (b.to <= this.#version) continue;
      if (b.from !== this.#version) return false;
      this.#batch(b.from, b.to, b.parts);
    }
    return true;
  }

  /** As ServerLink: a LIST-HOLD (version, wait, spread) ahead of our list is taken. */
  #onHold(bytes: Buffer): boolean {
    if (bytes.length !== 82) return false;
    const version = bytes.readUInt32BE(10);
    if (version > this.#version && this.#hold.take(version, bytes.readUInt16BE(14), bytes.readUInt16BE(16))) this.stats.holds++;
    return true;
  }

  #replace(parts: readonly Buffer[], version: number): void {
    this.#hold.covered(version);
    if (this.#snapshot.waiting) this.#snapshot.settle(entryCount(parts));
    this.list.clear();
    for (const p of parts) this.#apply(p);
    this.#version = version;
    this.#o.observer.onListChange?.(this);
  }

  #apply(bytes: Buffer): void {
    let changed = false;
    scanPresence(bytes, (upsert, at, len) => {
      const u = indexOfName(bytes, at, len, U);
      if (u >= 0) {
        if (upsert) this.list.add(u);
        else this.list.delete(u);
        changed = true;
        return;
      }
      const j = indexOfName(bytes, at, len, J);
      if (j >= 0) this.#o.observer.onJoiner?.(this, j, upsert);
    });
    if (changed) this.#o.observer.onListChange?.(this);
  }

  /**
   * Fetches the whole list once (list-fetch scenario) over TCP or UDP; resolves with the number of
   * entries received, or -1 when it failed or timed out.
   */
  fetchList(over: 'tcp' | 'udp', timeoutMs = 5000): Promise<number> {
    if (this.#state !== 'online') return Promise.resolve(-1);
    const request = this.#sessionBytes(0x0a, 0); // version 0: the whole list, whatever we have
    if (over === 'udp') {
      const done = this.#snapshot.arm(timeoutMs, () => this.#parts.clear());
      this.#send(request);
      return done;
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: this.#o.server.address, port: this.#o.server.port, localAddress: this.#o.address, noDelay: true });
      const timer = setTimeout(() => socket.destroy(), timeoutMs);
      socket.on('connect', () => socket.write(frameDatagrams([request])));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        clearTimeout(timer);
        const frames = framesOf(chunks);
        const h = this.#header;
        if (frames === null || frames[0] === undefined || !presenceHeader(frames[0], h) || frames.length !== h.parts) return resolve(-1);
        resolve(entryCount(frames));
      });
    });
  }

  /**
   * The whole list over TCP (single-flight; after WELCOME, or on a gap: `counted`); on failure a
   * LIST-REQUEST over UDP, as ServerLink.
   */
  #resync(counted = true, attempt = 1, failures = 0): boolean {
    if (this.#resyncing) return false;
    if (this.#state !== 'online') return true;
    this.#resyncing = true;
    const macKey = this.#macKey;
    const asked = Math.max(0, this.#version);
    const request = frameDatagrams([this.#sessionBytes(0x0a)]);
    const chunks: Buffer[] = [];
    const socket = connect({ host: this.#o.server.address, port: this.#o.server.port, localAddress: this.#o.address, noDelay: true });
    let timedOut = false;
    let connected = false;
    const silent = () => {
      timedOut = true;
      socket.destroy();
    };
    let timer = setTimeout(silent, RESYNC_SILENCE_MS); // a silence, as ServerLink
    socket.on('connect', () => {
      connected = true;
      socket.write(request);
    });
    socket.on('data', (c: Buffer) => {
      clearTimeout(timer);
      timer = setTimeout(silent, RESYNC_SILENCE_MS);
      chunks.push(c);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(timer);
      this.#resyncing = false;
      if (this.#state !== 'online') return;
      if (this.#macKey !== macKey) return this.#resync(false); // logged in again meanwhile: fetch for the new session
      const frames = framesOf(chunks);
      const first = frames?.[0];
      const h = this.#header;
      if (frames?.length === 1 && first?.[1] === 0x16 && this.#onHold(first)) return this.#hold.fetchEnded(this.#version); // a storm: the list comes when it settles
      if (frames !== null && first !== undefined && presenceHeader(first, h) && h.fromVersion === 0 && frames.length === h.parts) {
        if (counted) this.stats.resyncTcp++;
        this.stats.listsTcp++;
        this.#batch(0, h.toVersion, frames);
        return this.#hold.fetchEnded(this.#version);
      }
      // As ServerLink: the batches since the version asked from, each applied as a delta.
      if (frames !== null && first !== undefined && presenceHeader(first, h) && h.fromVersion === asked && this.#catchUp(frames)) {
        if (counted) this.stats.resyncTcp++;
        this.stats.catchUpsTcp++;
        this.#hold.covered(this.#version);
        return this.#hold.fetchEnded(this.#version);
      }
      // As ServerLink: turned away (closed before a byte) or left silent, up to TCP_BUSY_TRIES times,
      // waiting twice as long each time; another failure (no connection, bad bytes) once more; then
      // the list as datagrams.
      const busy = (connected && chunks.length === 0) || timedOut;
      if (timedOut) chunks.length === 0 ? this.stats.fetchesSilent++ : this.stats.fetchesStalled++;
      const failed = busy ? failures : failures + 1;
      if (attempt < TCP_BUSY_TRIES && failed < 2) {
        const base = 100 * 2 ** Math.min(attempt - 1, 4);
        setTimeout(() => this.#resync(counted, attempt + 1, failed), base + Math.random() * base * 3);
      } else {
        this.#hold.fetchEnded(null); // the list is on its way as datagrams
        this.stats.resyncUdp++; // every list asked for as datagrams, after a login or a hold too
        this.#send(this.#sessionBytes(0x0a));
      }
    });
    return true;
  }
}

/** Entries in the PRESENCE datagrams of one batch. */
function entryCount(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += presenceCount(p);
  return n;
}

/**
 * The frames of a TCP answer that came as `chunks`, without joining them first (the load generator
 * reads thousands of whole lists in a storm): a view where a frame lies within one chunk, a copy
 * where it straddles two. Null when the stream is not exactly a sequence of frames.
 */
export function framesOf(chunks: readonly Buffer[]): Buffer[] | null {
  const out: Buffer[] = [];
  let c = 0;
  let at = 0;
  const skipSpent = (): void => {
    while (c < chunks.length && at === (chunks[c] as Buffer).length) {
      c++;
      at = 0;
    }
  };
  const take = (n: number): Buffer | null => {
    skipSpent();
    const chunk = chunks[c];
    if (chunk === undefined) return null;
    if (at + n <= chunk.length) {
      at += n;
      return chunk.subarray(at - n, at);
    }
    const joined = Buffer.allocUnsafe(n);
    for (let got = 0; got < n; ) {
      skipSpent();
      const ch = chunks[c];
      if (ch === undefined) return null;
      const k = Math.min(n - got, ch.length - at);
      ch.copy(joined, got, at, at + k);
      got += k;
      at += k;
    }
    return joined;
  };
  for (;;) {
    skipSpent();
    if (c >= chunks.length) return out;
    const head = take(2);
    const len = head === null ? 0 : head.readUInt16BE(0);
    if (len === 0 || len > MAX_DATAGRAM) return null;
    const frame = take(len);
    if (frame === null) return null;
    out.push(frame);
  }
}
