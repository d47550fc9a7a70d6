/**
 * One encrypted, reliable conversation with one peer over the qim protocol: the handshake
 * (src/crypto/handshake.ts), then DATA datagrams sealed with ChaCha20-Poly1305, each carrying one
 * frame (src/protocol/v2/frames.ts) driven by the reliability state machines (src/reliability).
 *
 * Messages longer than one datagram are cut into fragments, each its own reliable payload, and
 * joined again on arrival (delivery is in order, so the fragments of a message arrive together).
 * A message is `delivered` when every fragment is acknowledged, `failed` when any is given up.
 *
 * States: handshaking → established, or → failed (timeout, bad signature, key mismatch).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { SecureChannel } from '../crypto/channel.js';
import { HandshakeInitiator, respondToHandshake, type HandshakeError } from '../crypto/handshake.js';
import type { KeyPair } from '../crypto/keys.js';
import type { Endpoint } from '../protocol/endpoint.js';
import { decodeFrame, encodeFrame, encodeMsgFrame, MAX_FRAGMENT_BYTES, MSG_PAYLOAD_AT } from '../protocol/v2/frames.js';
import { DATA_HEADER_BYTES, encodeV2, writeDataHeader, type V2Message } from '../protocol/v2/messages.js';
import { QimError } from '../errors.js';
import { ReliableReceiver, ReliableSender } from '../reliability/index.js';

export type PeerSessionState = 'handshaking' | 'established' | 'failed';

export interface PeerSessionEvents {
  state: [PeerSessionState];
  message: [{ text: string; id: number }];
  delivery: [{ id: number; state: 'delivered' | 'failed' }];
  typing: [boolean];
  /** The handshake failed; `key-mismatch` is a man in the middle or a changed key. */
  failure: [{ error: HandshakeError | 'timeout' }];
  /** The path changed: a direct endpoint, or the server's relay. */
  route: [PeerRoute];
}

/** Where a peer datagram goes or came from: straight to an endpoint, or through the server's relay. */
export type PeerRoute = Endpoint | 'relay';

/** How often an established session sends a PING (keeps NAT bindings; probes for a direct path). */
const KEEPALIVE_MS = 10_000;
/** A relayed datagram does not displace a direct path that delivered within this long. */
const DIRECT_FRESH_MS = 25_000;
/** A direct path silent this long while messages wait for acknowledgement is given up for the relay. */
const PATH_DEAD_MS = 4_000;
/**
 * Delayed ACKs (as TCP's): MSGs received in order are acknowledged together, once this many are
 * waiting (an eighth of the sender's default window, so a window never waits on the timer) or
 * ACK_DELAY_MS after the first of them, whichever comes first. A gap, a duplicate or a SKIP is
 * acknowledged at once: the sender's fast retransmit and its give-up logic feed on those.
 */
export const ACK_EVERY = 8;
/** Far below the sender's shortest retransmission timer (100 ms): no MSG is resent for it. */
export const ACK_DELAY_MS = 20;

function sameRoute(a: PeerRoute, b: PeerRoute): boolean {
  return a === 'relay' || b === 'relay' ? a === b : a.address === b.address && a.port === b.port;
}

/** What a session needs from its surroundings. */
export interface PeerSessionDeps {
  readonly identity: KeyPair;
  readonly name: string;
  /** The peer's identity key as the server lists it. */
  readonly peerKey: Buffer;
  /** Sends one datagram to the peer, straight or through the relay. */
  readonly send: (bytes: Buffer, to: PeerRoute) => void;
  /** The peer's direct endpoints, probed by PINGs while the session is relayed. */
  readonly directCandidates?: () => Endpoint[];
  /** PING interval (default 10 s). */
  readonly keepaliveMs?: number;
  /** True when the relay is there to fall back on (a direct path that dies moves to it). */
  readonly canRelay?: () => boolean;
  readonly now: () => number;
  /** Longest message accepted by `send`, in UTF-8 bytes. */
  readonly maxMessageBytes?: number;
  /** Handshake retransmission interval and how many tries. */
  readonly handshakeRetryMs?: number;
  readonly handshakeAttempts?: number;
}

type Msg<T extends V2Message['type']> = Extract<V2Message, { type: T }>;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The associated data a DATA datagram is opened with (its header), written anew for each. */
const AAD = Buffer.alloc(DATA_HEADER_BYTES);

/** A Buffer view of bytes this session made itself (the receiver hands them back as Uint8Array). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

export class PeerSession extends EventEmitter<PeerSessionEvents> {
  readonly localIndex = randomBytes(4).readUInt32BE(0);
  #remoteIndex = 0;
  #state: PeerSessionState = 'handshaking';
  #channel: SecureChannel | null = null;
  #initiator: HandshakeInitiator | null = null;
  #initBytes: Buffer | null = null;
  #respBytes: Buffer | null = null;
  readonly #sender = new ReliableSender();
  readonly #receiver = new ReliableReceiver();
  /** Fragment seqs not yet resolved, per message id (the seq of its first fragment). */
  readonly #open = new Map<number, { pending: Set<number>; failed: boolean }>();
  readonly #messageOf = new Map<number, number>();
  #assembly: Buffer[] = [];
  #timer: NodeJS.Timeout | null = null;
  #queued: { id: number; bytes: Buffer }[] = [];
  #nextId = 1;
  #route: PeerRoute;
  /** When a datagram last authenticated on a direct path, and on any path. */
  #lastDirect = -Infinity;
  #lastHeard = 0;
  #keepalive: NodeJS.Timeout | null = null;
  /**
   * An ACK due now, sent once this turn of the event loop has handled what it read: one ACK for all
   * of it, and after any reply their delivery prompted (an echo goes out first).
   */
  #ackDue: NodeJS.Immediate | null = null;
  /** An ACK delayed (ACK_DELAY_MS) for MSGs received in order, and how many wait for it. */
  #ackLater: NodeJS.Timeout | null = null;
  #unacked = 0;
  /** Why the last RESP was rejected, reported if the handshake then times out. */
  #lastError: HandshakeError | null = null;

  private constructor(
    private readonly deps: PeerSessionDeps,
    route: PeerRoute,
  ) {
    super();
    this.#route = route;
  }

  get state(): PeerSessionState {
    return this.#state;
  }

  /** The current path: where the last authenticated datagram came from (relay: through the server). */
  get route(): PeerRoute {
    return this.#route;
  }

  /**
   * Starts a session as initiator: sends INIT and repeats it until RESP or the attempts run out.
   * `to` is one endpoint, or a function naming every route to try at each attempt (the client adds
   * the relay when the direct ones stay silent); the first RESP that authenticates fixes the path.
   */
  /** The identity key of the peer this session is with. */
  get peerKey(): Buffer {
    return this.deps.peerKey;
  }

  static initiate(deps: PeerSessionDeps, to: Endpoint | (() => PeerRoute[])): PeerSession {
    const candidates = typeof to === 'function' ? to : () => [to];
    const s = new PeerSession(deps, candidates()[0] ?? 'relay');
    s.#initiator = new HandshakeInitiator(deps.identity, deps.peerKey);
    const init = s.#initiator.init();
    s.#initBytes = encodeV2({ type: 'handshake-init', sender: s.localIndex, name: deps.name, ...init });
    let tries = 0;
    const attempt = (): void => {
      if (s.#state !== 'handshaking') return;
      if (tries++ >= (deps.handshakeAttempts ?? 10)) return s.#fail(s.#lastError ?? 'timeout');
      for (const route of candidates()) deps.send(s.#initBytes as Buffer, route);
      s.#timer = setTimeout(attempt, deps.handshakeRetryMs ?? 500);
    };
    attempt();
    return s;
  }

  /** Answers an INIT as responder; null (with the reason) when it does not check out. */
  static respond(deps: PeerSessionDeps, init: Msg<'handshake-init'>, from: PeerRoute): PeerSession | HandshakeError {
    const r = respondToHandshake(deps.identity, init, deps.peerKey);
    if (!r.ok) return r.error;
    const s = new PeerSession(deps, from);
    s.#remoteIndex = init.sender;
    s.#channel = new SecureChannel(r.value.keys.responderToInitiator, r.value.keys.initiatorToResponder);
    s.#respBytes = encodeV2({ type: 'handshake-response', sender: s.localIndex, receiver: init.sender, ...r.value.response });
    deps.send(s.#respBytes, from);
    s.#lastHeard = deps.now();
    if (from !== 'relay') s.#lastDirect = s.#lastHeard;
    s.#setState('established');
    return s;
  }

  /** The peer's index for this session (0 until known). */
  get remoteIndex(): number {
    return this.#remoteIndex;
  }

  /** True when this session answered the INIT the peer numbered `sender`. */
  answered(sender: number): boolean {
    return this.#respBytes !== null && this.#remoteIndex === sender;
  }

  /**
   * Takes over the messages still waiting in `other` (a handshake of ours that lost the race to
   * the peer's), keeping their ids, so nothing the user sent is dropped.
   */
  adopt(other: PeerSession): void {
    this.#nextId = Math.max(this.#nextId, other.#nextId);
    for (const q of other.#queued.splice(0)) this.#sendPayloads(q.id, q.bytes);
  }

  /** A repeated INIT from the same peer (our RESP was lost): answer again. */
  resendResponse(): void {
    if (this.#respBytes !== null) this.deps.send(this.#respBytes, this.#route);
  }

  /** The initiator receives the RESP (by the route `from`: the path the session then takes). */
  onResponse(m: Msg<'handshake-response'>, from: PeerRoute = this.#route): void {
    if (this.#state !== 'handshaking' || this.#initiator === null) return;
    const r = this.#initiator.finish(m);
    // A bad RESP may be corruption or someone else's forgery: it must not end the handshake (that
    // would let anyone who can send us a datagram cut us off). Keep trying; report it at the end.
    if (!r.ok) {
      this.#lastError = r.error;
      return;
    }
    this.#remoteIndex = m.sender;
    this.#channel = new SecureChannel(r.value.initiatorToResponder, r.value.responderToInitiator);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#arrived(from);
    this.#setState('established');
    for (const q of this.#queued.splice(0)) this.#sendPayloads(q.id, q.bytes);
    this.#pump();
  }

  /**
   * Sends a chat message; returns its id, which `delivery` events name. Before the handshake
   * completes the message waits. Throws RangeError past `maxMessageBytes`.
   */
  send(text: string): number {
    const bytes = Buffer.from(text, 'utf8');
    const max = this.deps.maxMessageBytes ?? 64 * 1024;
    if (bytes.length > max) throw new RangeError(`message of ${bytes.length} bytes exceeds ${max}`);
    if (this.#state === 'failed') throw new RangeError('session failed');
    if (this.#state === 'handshaking' && this.#queued.length >= this.#sender.options.maxQueued) {
      // The same back-pressure as after the handshake: the queue is bounded either way.
      throw new QimError('ERR_QUEUE_FULL', `${this.#queued.length} messages already wait for the handshake`);
    }
    const id = this.#nextId++;
    if (this.#state === 'handshaking') this.#queued.push({ id, bytes });
    else this.#sendPayloads(id, bytes);
    return id;
  }

  /** Tells the peer whether we are typing (best effort, not retransmitted). */
  typing(on: boolean): void {
    this.#seal(encodeFrame({ kind: 'typing', typing: on }));
  }

  /** An incoming DATA for this session. Returns false when it did not authenticate. */
  onData(m: Msg<'data'>, from: PeerRoute): boolean {
    if (this.#channel === null) return false;
    writeDataHeader(AAD, m.receiver, m.counter);
    const plain = this.#channel.open(m.counter, m.ciphertext, AAD);
    if (plain === null) return false;
    this.#arrived(from); // authenticated: the peer may have moved, or a direct path opened
    const f = decodeFrame(plain);
    if (!f.ok) return true;
    const frame = f.value;
    const now = this.deps.now();
    switch (frame.kind) {
      case 'msg': {
        // Part, parts and bytes, read in place: `plain` is this datagram's own buffer.
        const payload = plain.subarray(MSG_PAYLOAD_AT);
        const r = this.#receiver.receive(frame.seq, payload, frame.floor);
        // In order with nothing held above it: may wait. Anything else (a gap, a duplicate, a gap
        // just filled by a retransmission) the sender should know now.
        this.#ackSoon(r.duplicate || r.tooFar || r.deliver.length !== 1 || this.#receiver.buffered > 0);
        for (const p of r.deliver) this.#assemble(asBuffer(p), frame.seq);
        break;
      }
      case 'ack':
        for (const seq of this.#sender.onAck(frame.ack, now).delivered) this.#resolve(seq, false);
        this.#pump();
        break;
      case 'typing':
        this.emit('typing', frame.typing);
        break;
      case 'skip':
        this.#ackSoon(true);
        for (const p of this.#receiver.skipTo(frame.floor).deliver) this.#assemble(asBuffer(p), frame.floor);
        break;
      case 'ping':
        break; // its arrival was the point
    }
    return true;
  }

  /** Stops timers. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#ackDue !== null) clearImmediate(this.#ackDue);
    this.#ackDue = null;
    if (this.#ackLater !== null) clearTimeout(this.#ackLater);
    this.#ackLater = null;
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#keepalive = null;
  }

  /**
   * An authenticated datagram came by `from`. A direct one sets the path; a relayed one does only
   * when no direct datagram came lately (both may arrive while a direct path opens).
   */
  #arrived(from: PeerRoute): void {
    const now = this.deps.now();
    this.#lastHeard = now;
    if (from !== 'relay') this.#lastDirect = now;
    else if (this.#route !== 'relay' && now - this.#lastDirect <= DIRECT_FRESH_MS) return;
    if (sameRoute(this.#route, from)) return;
    this.#route = from;
    this.emit('route', from);
  }

  /** PINGs on the path (NAT bindings stay open), and straight to the peer while relayed (to find a direct path). */
  #ping(): void {
    if (this.#state !== 'established') return;
    this.#seal(encodeFrame({ kind: 'ping' }));
    if (this.#route === 'relay') this.probe();
  }

  /**
   * PINGs every direct endpoint the peer has now (its address changed): from behind a NAT, that
   * opens ours towards them, and a PING that arrives moves their side of the session to it.
   */
  probe(): void {
    if (this.#state !== 'established') return;
    const ping = encodeFrame({ kind: 'ping' });
    for (const ep of this.deps.directCandidates?.() ?? []) this.#seal(ping, ep);
  }

  /** Gives up a direct path that stopped answering while messages wait, for the relay. */
  #checkPath(now: number): void {
    if (this.#route === 'relay' || this.#sender.idle || this.deps.canRelay?.() !== true) return;
    if (now - this.#lastHeard < PATH_DEAD_MS) return;
    this.#route = 'relay';
    this.emit('route', 'relay');
    this.probe();
  }

  #sendPayloads(id: number, bytes: Buffer): void {
    const parts = Math.max(1, Math.ceil(bytes.length / MAX_FRAGMENT_BYTES));
    const now = this.deps.now();
    const pending = new Set<number>();
    for (let i = 0; i < parts; i++) {
      const chunk = bytes.subarray(i * MAX_FRAGMENT_BYTES, (i + 1) * MAX_FRAGMENT_BYTES);
      const payload = Buffer.alloc(4 + chunk.length);
      payload.writeUInt16BE(i, 0);
      payload.writeUInt16BE(parts, 2);
      chunk.copy(payload, 4);
      const seq = this.#sender.send(payload, now);
      pending.add(seq);
      this.#messageOf.set(seq, id);
    }
    this.#open.set(id, { pending, failed: false });
    this.#pump();
  }

  #pump(): void {
    if (this.#state !== 'established') return;
    const now = this.deps.now();
    this.#checkPath(now);
    const poll = this.#sender.poll(now);
    for (const t of poll.transmit) {
      // The payload (part u16, parts u16, bytes) as #sendPayloads made it; read, never copied.
      this.#seal(encodeMsgFrame(t.seq, t.floor, t.payload));
    }
    for (const seq of poll.failed) this.#resolve(seq, true);
    if (poll.skipTo !== null) this.#seal(encodeFrame({ kind: 'skip', floor: poll.skipTo }));
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const wake = this.#sender.nextWakeup();
    if (wake !== null && !this.#sender.idle) {
      this.#timer = setTimeout(() => this.#pump(), Math.max(1, wake - now));
      this.#timer.unref();
    }
  }

  #resolve(seq: number, failed: boolean): void {
    const id = this.#messageOf.get(seq);
    if (id === undefined) return;
    this.#messageOf.delete(seq);
    const m = this.#open.get(id);
    if (m === undefined) return;
    m.pending.delete(seq);
    if (failed && !m.failed) {
      m.failed = true;
      this.emit('delivery', { id, state: 'failed' });
    }
    if (m.pending.size === 0) {
      this.#open.delete(id);
      if (!m.failed) this.emit('delivery', { id, state: 'delivered' });
    }
  }

  #assemble(payload: Buffer, seq: number): void {
    const part = payload.readUInt16BE(0);
    const parts = payload.readUInt16BE(2);
    // A fragment out of step (an earlier one was given up by the sender) restarts the assembly.
    if (part !== this.#assembly.length) this.#assembly = [];
    if (part !== this.#assembly.length) return;
    this.#assembly.push(payload.subarray(4));
    if (this.#assembly.length < parts) return;
    const whole = parts === 1 ? (this.#assembly[0] as Buffer) : Buffer.concat(this.#assembly);
    this.#assembly = [];
    try {
      this.emit('message', { text: utf8.decode(whole), id: seq - parts + 1 });
    } catch {
      // Not UTF-8: the peer is broken or hostile; drop the message.
    }
  }

  /** Schedules the ACK for what was just received: at the end of this turn when `now`, or delayed. */
  #ackSoon(now: boolean): void {
    if (!now && ++this.#unacked < ACK_EVERY) {
      if (this.#ackLater === null) {
        this.#ackLater = setTimeout(() => this.#ack(), ACK_DELAY_MS);
        this.#ackLater.unref();
      }
      return;
    }
    this.#ackDue ??= setImmediate(() => this.#ack());
  }

  #ack(): void {
    if (this.#ackDue !== null) clearImmediate(this.#ackDue);
    if (this.#ackLater !== null) clearTimeout(this.#ackLater);
    this.#ackDue = null;
    this.#ackLater = null;
    this.#unacked = 0;
    this.#seal(encodeFrame({ kind: 'ack', ack: this.#receiver.ack() }));
  }

  #seal(frame: Buffer, to: PeerRoute = this.#route): void {
    if (this.#channel === null) return;
    const receiver = this.#remoteIndex;
    // The DATA datagram as encodeV2 would make it, sealed in place.
    this.deps.send(this.#channel.sealDatagram(frame, DATA_HEADER_BYTES, (out, counter) => writeDataHeader(out, receiver, counter)), to);
  }

  #fail(error: HandshakeError | 'timeout'): void {
    this.close();
    this.#setState('failed');
    this.emit('failure', { error });
    for (const q of this.#queued.splice(0)) this.emit('delivery', { id: q.id, state: 'failed' });
  }

  #setState(state: PeerSessionState): void {
    this.#state = state;
    if (state === 'established' && this.#keepalive === null) {
      this.#keepalive = setInterval(() => this.#ping(), this.deps.keepaliveMs ?? KEEPALIVE_MS);
      this.#keepalive.unref();
    }
    this.emit('state', state);
  }
}
