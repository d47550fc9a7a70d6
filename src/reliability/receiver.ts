/**
 * The receiving half of reliable, ordered peer chat: a pure state machine. It hands payloads to
 * the app in seq order, each exactly once, buffers those that arrive early, and describes what it
 * has in an {@link Ack}.
 *
 * ```
 *   seq < next, or already buffered     → duplicate (dropped, counted)
 *   seq = next                          → delivered, then every buffered successor
 *   next < seq ≤ next + maxBuffered     → buffered (out of order)
 *   seq > next + maxBuffered            → dropped, tooFar (not acked, so the sender resends it)
 * ```
 *
 * Data messages carry the sender's floor (every seq below it is resolved at the sender); a floor
 * above `next` means the sender gave up the seqs in between, so the receiver hands over the
 * buffered ones among them, skips the rest, and moves on. Skip notices carry only a floor and go
 * to {@link ReliableReceiver.skipTo}.
 *
 * Everything here comes from the network: invalid seqs are counted and ignored, nothing throws.
 * When to send an ack is the caller's policy; sending `ack()` after every data message or skip
 * notice (duplicates included, since the previous ack may have been lost) is what the sender's
 * timing assumes.
 */
import { MAX_SEQ, isSeq, type Ack } from './ack.js';
import { resolveReceiverOptions, type ReceiverOptions } from './options.js';

/** What `receive` did with a message. */
export interface ReceiveResult {
  /** Payloads to hand to the app now, in order (possibly several, possibly none). */
  readonly deliver: Uint8Array[];
  /** The message was already delivered or buffered. */
  readonly duplicate: boolean;
  /** The message was too far ahead of the next expected seq and was dropped. */
  readonly tooFar: boolean;
}

/** Counters (growing) and gauges of one receiver; a fresh snapshot each time it is read. */
export interface ReceiverStats {
  /** Data messages received with a valid seq (duplicates and drops included). */
  readonly received: number;
  /** Payloads handed to the app. */
  readonly delivered: number;
  readonly duplicates: number;
  /** Messages buffered because an earlier seq was missing. */
  readonly outOfOrder: number;
  /** Messages dropped for being more than `maxBuffered` ahead. */
  readonly tooFar: number;
  /** Seqs skipped because the sender gave them up. */
  readonly skipped: number;
  /** Messages or floors with an impossible seq, ignored. */
  readonly invalid: number;
  /** Gauge: messages buffered now. */
  readonly buffered: number;
}

/** Reliable, ordered receiving with an out-of-order buffer. See the module comment. */
export class ReliableReceiver {
  readonly #o: ReceiverOptions;
  readonly #buffer = new Map<number, Uint8Array>();
  /** The next seq to hand to the app. */
  #next = 1;
  /** Highest buffered seq (meaningful only while the buffer is not empty). */
  #highestBuffered = 0;
  #received = 0;
  #delivered = 0;
  #duplicates = 0;
  #outOfOrder = 0;
  #tooFar = 0;
  #skipped = 0;
  #invalid = 0;

  /** `options`: limits, each defaulting to {@link DEFAULT_RECEIVER_OPTIONS}. */
  constructor(options: Partial<ReceiverOptions> = {}) {
    this.#o = resolveReceiverOptions(options);
  }

  /** The resolved options. */
  get options(): ReceiverOptions {
    return this.#o;
  }

  /** The next seq the app is waiting for. */
  get next(): number {
    return this.#next;
  }

  /**
   * Takes a data message. `floor` is the sender's floor carried by the message (default: none);
   * a floor above the message's own seq is impossible and is capped at it.
   */
  receive(seq: number, payload: Uint8Array, floor = 0): ReceiveResult {
    if (!isSeq(seq)) {
      this.#invalid++;
      return { deliver: [], duplicate: false, tooFar: false };
    }
    this.#received++;
    const deliver: Uint8Array[] = [];
    if (Number.isInteger(floor) && floor > this.#next) this.#skip(Math.min(floor, seq), deliver);
    if (seq < this.#next || this.#buffer.has(seq)) {
      this.#duplicates++;
      return this.#result(deliver, true, false);
    }
    if (seq - this.#next > this.#o.maxBuffered) {
      this.#tooFar++;
      return this.#result(deliver, false, true);
    }
    if (seq === this.#next) {
      deliver.push(payload);
      this.#next++;
      this.#drain(deliver);
    } else {
      this.#outOfOrder++;
      this.#buffer.set(seq, payload);
      if (this.#buffer.size === 1 || seq > this.#highestBuffered) this.#highestBuffered = seq;
    }
    return this.#result(deliver, false, false);
  }

  /**
   * Takes a skip notice: the sender has resolved every seq below `floor`. Buffered messages below
   * it are handed over in order, missing ones are skipped, then delivery continues from `floor`.
   */
  skipTo(floor: number): { deliver: Uint8Array[] } {
    const deliver: Uint8Array[] = [];
    if (!Number.isInteger(floor) || floor > MAX_SEQ + 1) {
      this.#invalid++;
      return { deliver };
    }
    if (floor > this.#next) this.#skip(floor, deliver);
    this.#delivered += deliver.length;
    return { deliver };
  }

  /**
   * The current ack: the cumulative point and up to `maxAckRanges` runs above it, lowest first
   * (see {@link Ack} for why lowest first).
   */
  ack(): Ack {
    const ranges: Array<[number, number]> = [];
    if (this.#buffer.size > 0) {
      let start = 0;
      // The buffer spans at most maxBuffered seqs, so this scan is bounded.
      for (let s = this.#next + 1; s <= this.#highestBuffered + 1; s++) {
        const has = this.#buffer.has(s);
        if (has && start === 0) start = s;
        else if (!has && start !== 0) {
          ranges.push([start, s - 1]);
          start = 0;
          if (ranges.length >= this.#o.maxAckRanges) break;
        }
      }
    }
    return { cumulative: this.#next - 1, ranges };
  }

  /** Messages held out of order, above a gap. */
  get buffered(): number {
    return this.#buffer.size;
  }

  /** Counters and gauges (a snapshot). */
  get stats(): ReceiverStats {
    return {
      received: this.#received,
      delivered: this.#delivered,
      duplicates: this.#duplicates,
      outOfOrder: this.#outOfOrder,
      tooFar: this.#tooFar,
      skipped: this.#skipped,
      invalid: this.#invalid,
      buffered: this.#buffer.size,
    };
  }

  /** Moves `next` up to `floor` (> next), handing over buffered seqs below it in order. */
  #skip(floor: number, deliver: Uint8Array[]): void {
    const below = [...this.#buffer.keys()].filter((s) => s < floor).sort((a, b) => a - b);
    for (const s of below) {
      const p = this.#buffer.get(s);
      this.#buffer.delete(s);
      if (p !== undefined) deliver.push(p);
    }
    this.#skipped += floor - this.#next - below.length;
    this.#next = floor;
    this.#drain(deliver);
  }

  #result(deliver: Uint8Array[], duplicate: boolean, tooFar: boolean): ReceiveResult {
    this.#delivered += deliver.length;
    return { deliver, duplicate, tooFar };
  }

  #drain(deliver: Uint8Array[]): void {
    for (let p = this.#buffer.get(this.#next); p !== undefined; p = this.#buffer.get(this.#next)) {
      this.#buffer.delete(this.#next);
      deliver.push(p);
      this.#next++;
    }
  }
}
