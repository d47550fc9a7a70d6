/**
 * The sending half of reliable, ordered peer chat: a pure state machine. No sockets, no timers, no
 * clock: every call takes `now` (ms, from any monotonic clock) and returns what to put on the wire.
 *
 * ```
 *             send()                 window has room              ack covers it
 *   app ───────────────▶ queued ─────────────────────▶ in flight ───────────────▶ delivered
 *                          │                            │   ▲ │
 *                          │ deadline                   │   └─┘ timer (backoff) or fast retransmit
 *                          └────────────────────────────┴──────────────────────▶ failed
 *                                                         deadline
 * ```
 *
 * Driving it: call `send` for each message, `onAck` for each ack from the peer, and `poll` at
 * `nextWakeup()` (and right after `send`/`onAck`, which can make something due now). Put every
 * `transmit` entry on the wire as a data message carrying its `floor`, and a skip notice when
 * `skipTo` is not null.
 *
 * Each seq ends exactly once, in `onAck(...).delivered` or in `poll(...).failed`. "Delivered" means
 * the peer acknowledged it (buffered or handed to its app; it will be handed over in order).
 * "Failed" means no ack came by the deadline: the peer may still have it (the ack may have been
 * lost), which no protocol can rule out.
 *
 * **Giving up without stalling the peer.** A receiver delivers in order, so a message given up
 * would block every later one. Each data message therefore carries the sender's `floor`, the lowest
 * seq it has not resolved: every seq below it was acked or given up, and the receiver may skip the
 * ones it lacks. When a message fails, a separate skip notice (`skipTo`) is also sent, retried on
 * the retransmission timer until an ack's cumulative point passes the given-up seq, so messages
 * already buffered behind the gap reach the peer's app even if nothing more is ever sent. This is
 * PR-SCTP's FORWARD-TSN in miniature.
 */
import { MAX_SEQ, type Ack } from './ack.js';
import { ReliabilityError } from './errors.js';
import { resolveSenderOptions, type SenderOptions } from './options.js';
import { backoff, initialRtt, updateRtt, type RttState } from './rto.js';

/** One datagram to put on the wire now. */
export interface Transmit {
  readonly seq: number;
  readonly payload: Uint8Array;
  /** 1 for the first transmission, 2 for the first retransmission, … */
  readonly attempt: number;
  /** Every seq below this is resolved at the sender; the receiver may skip any it lacks. */
  readonly floor: number;
}

/** What `poll` asks the caller to do. */
export interface PollResult {
  /** Data messages to (re)transmit now, lowest seq first. */
  readonly transmit: Transmit[];
  /** Seqs given up at their deadline now, lowest first; each is reported once, ever. */
  readonly failed: number[];
  /** When not null, send a skip notice carrying this floor (see the module comment). */
  readonly skipTo: number | null;
}

/** What `onAck` learned. */
export interface AckResult {
  /** Seqs acknowledged for the first time, lowest first; each is reported once, ever. */
  readonly delivered: number[];
}

/** Counters (growing) and gauges of one sender; a fresh snapshot each time it is read. */
export interface SenderStats {
  /** Messages transmitted for the first time. */
  readonly sent: number;
  /** Retransmissions of any cause. */
  readonly retransmits: number;
  /** Retransmissions caused by later seqs being acked (a subset of `retransmits`). */
  readonly fastRetransmits: number;
  /** Retransmission timer expiries (the rest of `retransmits`). */
  readonly timeouts: number;
  readonly delivered: number;
  readonly failed: number;
  /** Skip notices asked for. */
  readonly skipNotices: number;
  /** Acks, or parts of acks, that made no sense (claimed unsent seqs, bad ranges); ignored. */
  readonly badAcks: number;
  /** Smoothed RTT in ms; null before the first sample. */
  readonly srtt: number | null;
  /** RTT variation in ms; null before the first sample. */
  readonly rttvar: number | null;
  /** Current base retransmission timeout in ms. */
  readonly rto: number;
  /** Gauge: messages admitted to the window and not yet resolved. */
  readonly inFlight: number;
  /** Gauge: messages waiting for the window. */
  readonly queued: number;
}

interface Entry {
  readonly seq: number;
  readonly payload: Uint8Array;
  /** Absolute time after which the message is given up. */
  readonly deadline: number;
  /** Transmissions so far (0: admitted, not yet on the wire). */
  attempt: number;
  /** Timer expiries so far: the backoff exponent. */
  timeouts: number;
  /** When `poll` should (re)transmit it. */
  dueAt: number;
  /** Time of the latest transmission. */
  lastTxAt: number;
  /** Order of the latest transmission among all transmissions of this sender. */
  txOrder: number;
  /** Higher seqs, transmitted after this one's latest transmission, acked since then. */
  laterAcked: number;
  /** The next transmission is a fast retransmit (not a timer expiry). */
  fastPending: boolean;
}

/** Reliable, ordered sending with retransmission, windowing and deadlines. See the module comment. */
export class ReliableSender {
  readonly #o: SenderOptions;
  /** Admitted, unresolved entries by seq. Insertion order is seq order (admission is in order). */
  readonly #flight = new Map<number, Entry>();
  /** Entries waiting for the window, seq order; `#queue[#queueHead]` is the first. */
  #queue: Entry[] = [];
  #queueHead = 0;
  #nextSeq = 1;
  /** Lowest unresolved seq (or `#nextSeq` when none). */
  #floor = 1;
  #highestSent = 0;
  #txCounter = 0;
  /** Highest cumulative point the peer has acked. */
  #peerCumulative = 0;
  /** Highest seq given up. A skip notice is pending while it is above `#peerCumulative`. */
  #maxFailed = 0;
  #skipDueAt = 0;
  #skipTimeouts = 0;
  #lastNow = -Infinity;
  #rtt: RttState;
  #sent = 0;
  #retransmits = 0;
  #fastRetransmits = 0;
  #timeouts = 0;
  #delivered = 0;
  #failed = 0;
  #skipNotices = 0;
  #badAcks = 0;

  /** `options`: limits, each defaulting to {@link DEFAULT_SENDER_OPTIONS}. */
  constructor(options: Partial<SenderOptions> = {}) {
    this.#o = resolveSenderOptions(options);
    this.#rtt = initialRtt(this.#o);
  }

  /** The resolved options. */
  get options(): SenderOptions {
    return this.#o;
  }

  /**
   * Accepts a message and returns its seq. Nothing goes on the wire until `poll`.
   * Throws `ERR_QUEUE_FULL` when the window is full and `maxQueued` messages already wait, and
   * `ERR_SEQ_EXHAUSTED` after 2^32 − 1 messages; in both cases no seq is used up.
   * The payload is kept by reference: do not modify it afterwards.
   */
  send(payload: Uint8Array, now: number): number {
    now = this.#clock(now);
    if (this.#nextSeq > MAX_SEQ) {
      throw new ReliabilityError('ERR_SEQ_EXHAUSTED', `the session has used all ${MAX_SEQ} sequence numbers`);
    }
    const queued = this.#queue.length - this.#queueHead;
    const admitNow = queued === 0 && this.#nextSeq < this.#floor + this.#o.maxInFlight;
    if (!admitNow && queued >= this.#o.maxQueued) {
      throw new ReliabilityError('ERR_QUEUE_FULL', `${queued} messages already wait for the peer (maxQueued)`);
    }
    const entry: Entry = {
      seq: this.#nextSeq++,
      payload,
      deadline: now + this.#o.deadlineMs,
      attempt: 0,
      timeouts: 0,
      dueAt: now,
      lastTxAt: now,
      txOrder: 0,
      laterAcked: 0,
      fastPending: false,
    };
    if (admitNow) this.#flight.set(entry.seq, entry);
    else this.#queue.push(entry);
    return entry.seq;
  }

  /**
   * What to do at `now`: gives up messages past their deadline, then returns every admitted
   * message whose timer is due (first transmissions, timer expiries, fast retransmits).
   */
  poll(now: number): PollResult {
    now = this.#clock(now);
    const failed: number[] = [];
    for (const e of this.#flight.values()) {
      if (e.deadline <= now) {
        this.#flight.delete(e.seq);
        failed.push(e.seq);
      }
    }
    // Queued entries only ever expire from the head: deadlines grow with seq (same `deadlineMs`,
    // non-decreasing clock), and in-flight seqs are all below queued ones, so `failed` stays sorted.
    for (let e = this.#queueFront(); e !== undefined && e.deadline <= now; e = this.#queueFront()) {
      this.#queueShift();
      failed.push(e.seq);
    }
    if (failed.length > 0) {
      this.#failed += failed.length;
      this.#maxFailed = Math.max(this.#maxFailed, failed[failed.length - 1] ?? 0);
      // Tell the peer at once; the gap may be holding back messages it already buffered.
      this.#skipDueAt = now;
      this.#skipTimeouts = 0;
    }
    this.#advance(now);

    const transmit: Transmit[] = [];
    for (const e of this.#flight.values()) {
      if (e.dueAt > now) continue;
      if (e.attempt === 0) {
        this.#sent++;
      } else {
        this.#retransmits++;
        if (e.fastPending) {
          // A fast retransmit answers a loss signal, not a timeout: no backoff.
          this.#fastRetransmits++;
        } else {
          this.#timeouts++;
          e.timeouts++;
        }
      }
      e.fastPending = false;
      e.attempt++;
      e.lastTxAt = now;
      e.txOrder = ++this.#txCounter;
      e.laterAcked = 0;
      e.dueAt = now + backoff(this.#rtt.rto, e.timeouts, this.#o.maxRtoMs);
      if (e.seq > this.#highestSent) this.#highestSent = e.seq;
      transmit.push({ seq: e.seq, payload: e.payload, attempt: e.attempt, floor: this.#floor });
    }

    let skipTo: number | null = null;
    if (this.#skipPending() && this.#skipDueAt <= now) {
      skipTo = this.#floor;
      this.#skipNotices++;
      // The notice is retried like a message (it can be lost too), backing off to maxRtoMs.
      this.#skipDueAt = now + backoff(this.#rtt.rto, this.#skipTimeouts++, this.#o.maxRtoMs);
    }
    return { transmit, failed, skipTo };
  }

  /**
   * Takes an ack from the peer. Untrusted: claims about seqs never sent are ignored and counted in
   * `badAcks`; nothing throws. Returns the seqs newly delivered. Can free room in the window, so
   * poll afterwards.
   */
  onAck(ack: Ack, now: number): AckResult {
    now = this.#clock(now);
    if (!Number.isInteger(ack.cumulative) || ack.cumulative < 0 || !Array.isArray(ack.ranges)) {
      this.#badAcks++;
      return { delivered: [] };
    }
    // The peer can legitimately ack up to the floor it was told (skipping given-up seqs).
    const bound = Math.max(this.#highestSent, this.#floor - 1);
    let cumulative = ack.cumulative;
    if (cumulative > bound) {
      this.#badAcks++;
      cumulative = bound;
    }
    if (cumulative > this.#peerCumulative) this.#peerCumulative = cumulative;

    const acked: Entry[] = [];
    for (const e of this.#flight.values()) {
      if (e.seq > cumulative) break;
      this.#take(e, acked);
    }
    for (const range of ack.ranges) {
      const [start, end] = range;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start > end) {
        this.#badAcks++;
        continue;
      }
      if (end > bound) this.#badAcks++;
      const lo = Math.max(start, cumulative + 1);
      const hi = Math.min(end, this.#highestSent);
      if (lo > hi || this.#flight.size === 0) continue;
      // Walk whichever is shorter: the range or the window (a hostile range may span 2^32).
      if (hi - lo + 1 <= this.#flight.size) {
        for (let s = lo; s <= hi; s++) {
          const e = this.#flight.get(s);
          if (e !== undefined) this.#take(e, acked);
        }
      } else {
        for (const e of this.#flight.values()) {
          if (e.seq > hi) break;
          if (e.seq >= lo) this.#take(e, acked);
        }
      }
    }
    if (acked.length === 0) {
      this.#advance(now);
      return { delivered: [] };
    }
    acked.sort((a, b) => a.seq - b.seq);
    this.#delivered += acked.length;
    this.#sampleRtt(acked, now);
    this.#detectLosses(acked, now);
    this.#advance(now);
    return { delivered: acked.map((e) => e.seq) };
  }

  /**
   * Absolute time at which `poll` has something to do (a transmission, a deadline, a skip notice),
   * or null when nothing is pending. A time at or before the last `now` means "poll now".
   */
  nextWakeup(): number | null {
    let t = Infinity;
    for (const e of this.#flight.values()) t = Math.min(t, e.dueAt, e.deadline);
    const head = this.#queueFront();
    if (head !== undefined) t = Math.min(t, head.deadline);
    if (this.#skipPending()) t = Math.min(t, this.#skipDueAt);
    return t === Infinity ? null : t;
  }

  /** True when every message sent so far is resolved and no skip notice is pending. */
  get idle(): boolean {
    return this.#flight.size === 0 && this.#queueFront() === undefined && !this.#skipPending();
  }

  /** Counters and gauges (a snapshot). */
  get stats(): SenderStats {
    return {
      sent: this.#sent,
      retransmits: this.#retransmits,
      fastRetransmits: this.#fastRetransmits,
      timeouts: this.#timeouts,
      delivered: this.#delivered,
      failed: this.#failed,
      skipNotices: this.#skipNotices,
      badAcks: this.#badAcks,
      srtt: this.#rtt.srtt,
      rttvar: this.#rtt.rttvar,
      rto: this.#rtt.rto,
      inFlight: this.#flight.size,
      queued: this.#queue.length - this.#queueHead,
    };
  }

  /** Why clamp: a clock stepping back must not reorder timers or un-expire a deadline. */
  #clock(now: number): number {
    if (now > this.#lastNow) this.#lastNow = now;
    return this.#lastNow;
  }

  #take(e: Entry, acked: Entry[]): void {
    // An entry admitted but never transmitted cannot have been received: the claim is bogus.
    if (e.attempt === 0) {
      this.#badAcks++;
      return;
    }
    this.#flight.delete(e.seq);
    acked.push(e);
  }

  /**
   * One RTT sample per ack, from the newly acked message transmitted last, and only if it was
   * transmitted once (Karn's rule: the ack of a retransmitted message cannot tell which copy it
   * answers). Why the latest one: it is most likely the arrival that triggered this ack, whereas
   * an older one may have waited in the peer's buffer or lost its own ack, inflating the sample.
   */
  #sampleRtt(acked: readonly Entry[], now: number): void {
    let best: Entry | undefined;
    for (const e of acked) {
      if (e.attempt === 1 && (best === undefined || e.txOrder > best.txOrder)) best = e;
    }
    if (best !== undefined) this.#rtt = updateRtt(this.#rtt, now - best.lastTxAt, this.#o);
  }

  /**
   * Fast retransmit (SACK-style): an unacked message whose latest copy was overtaken by
   * `fastRetransmitThreshold` higher seqs sent after it is presumed lost and resent at the next
   * poll rather than at its timer. Counting only seqs transmitted after its latest copy means a
   * fast retransmission is itself re-judged from scratch, instead of being resent on every later
   * ack.
   *
   * Why at once and not after a RACK-style reordering window (RFC 8985): we tried waiting until
   * SRTT·1.25 after the transmission. It removes the spurious resends caused by jitter when
   * messages leave a few ms apart, but the delayed retransmission then leaves after the new
   * messages its ack let into the window, so nothing sent after it can prove it lost again and a
   * second loss waits for the RTO; with a full window it stretched a simulated 20 s exchange to
   * 27–43 s. A spurious resend of a chat message costs one small datagram; a stall costs the user
   * a wait.
   */
  #detectLosses(acked: readonly Entry[], now: number): void {
    const highest = acked[acked.length - 1]?.seq ?? 0;
    for (const f of this.#flight.values()) {
      if (f.seq >= highest) break;
      if (f.attempt === 0) continue;
      for (const e of acked) if (e.seq > f.seq && e.txOrder > f.txOrder) f.laterAcked++;
      if (f.laterAcked >= this.#o.fastRetransmitThreshold && !f.fastPending && f.dueAt > now) {
        f.fastPending = true;
        f.dueAt = now;
      }
    }
  }

  /** Moves the floor past resolved seqs, then admits queued messages into the window. */
  #advance(now: number): void {
    for (;;) {
      const head = this.#queueFront();
      const limit = head?.seq ?? this.#nextSeq;
      while (this.#floor < limit && !this.#flight.has(this.#floor)) this.#floor++;
      if (head === undefined || head.seq >= this.#floor + this.#o.maxInFlight) return;
      this.#queueShift();
      head.dueAt = now;
      this.#flight.set(head.seq, head);
    }
  }

  #skipPending(): boolean {
    return this.#maxFailed > this.#peerCumulative;
  }

  #queueFront(): Entry | undefined {
    return this.#queue[this.#queueHead];
  }

  #queueShift(): void {
    this.#queueHead++;
    // Compact now and then so the array does not grow forever; amortised O(1).
    if (this.#queueHead >= 1024 && this.#queueHead * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}
