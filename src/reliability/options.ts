/**
 * Every limit of the reliability layer, with its default and the reason for it.
 *
 * | option | default | bounds | past it |
 * | --- | --- | --- | --- |
 * | `maxInFlight` | 64 | span of seqs sent but not yet resolved | later messages wait in the queue |
 * | `maxQueued` | 4,096 | messages waiting behind the window | `send` throws `ERR_QUEUE_FULL` |
 * | `deadlineMs` | 30,000 | time from `send` to giving up (`Infinity`: never) | reported in `failed` |
 * | `initialRtoMs` | 500 | retransmission timer before any RTT sample | — |
 * | `minRtoMs` | 100 | floor of the retransmission timer | — |
 * | `maxRtoMs` | 5,000 | ceiling of the timer, backoff included | — |
 * | `fastRetransmitThreshold` | 3 | later seqs acked before a hole is resent early | — |
 * | `maxBuffered` | 1,024 | out-of-order messages held, ahead of the next expected | dropped, `tooFar` |
 * | `maxAckRanges` | 16 | runs listed in an ack above `cumulative` | higher runs not acked yet |
 *
 * Memory: a sender holds at most `maxInFlight + maxQueued` payloads, a receiver at most
 * `maxBuffered`. Keep `maxInFlight <= maxBuffered` so a well-behaved sender never overruns its
 * peer's buffer (the window is a span of seqs, so the receiver never sees a seq more than
 * `maxInFlight - 1` past its next expected one once it has applied the sender's floor).
 */
import { QimError } from '../errors.js';

/** Limits of {@link ReliableSender}. */
export interface SenderOptions {
  /** Seqs from the lowest unresolved one that may be on the wire at once (the window). */
  readonly maxInFlight: number;
  /** Messages accepted by `send` but waiting for the window. */
  readonly maxQueued: number;
  /** Time from `send` after which an unacknowledged message is given up; `Infinity` disables. */
  readonly deadlineMs: number;
  /** RTO before the first RTT sample. */
  readonly initialRtoMs: number;
  /** Lowest RTO. */
  readonly minRtoMs: number;
  /** Highest RTO, and highest backed-off timer. */
  readonly maxRtoMs: number;
  /** Acks of later-sent, higher seqs that trigger an early retransmission of a hole. */
  readonly fastRetransmitThreshold: number;
}

/** Limits of {@link ReliableReceiver}. */
export interface ReceiverOptions {
  /** Out-of-order messages buffered; a seq further than this past the next expected is dropped. */
  readonly maxBuffered: number;
  /** Runs listed in an ack above the cumulative point. */
  readonly maxAckRanges: number;
}

/**
 * Defaults of {@link SenderOptions}. Why these numbers:
 * - `maxInFlight` 64: chat messages are small, so 64 in flight is a few tens of KB, yet enough to
 *   keep a 200 ms path busy at 300 messages a second, far beyond any typist or paste.
 * - `maxQueued` 4,096: a long paste or a burst while the peer is away is held; past that the
 *   caller must push back instead of growing memory without bound.
 * - `deadlineMs` 30 s: past half a minute the user is better told "not delivered" than left
 *   waiting; the UI can offer to resend.
 * - `initialRtoMs` 500 ms (RFC 6298 says 1 s): chat peers are mostly within a continent (RTT under
 *   200 ms) and a message lost on its first try should reappear in half a second; Karn's rule and
 *   backoff protect a slower path from the estimate being too short.
 * - `minRtoMs` 100 ms (RFC 6298 says 1 s): messages are tiny, so a spurious retransmission costs
 *   one small datagram, while a 1 s floor would make every loss visible to the user. 100 ms stays
 *   above scheduling jitter and an immediate-ack peer's processing time.
 * - `maxRtoMs` 5 s (RFC 6298 allows 60 s): with a 30 s deadline this still leaves at least five
 *   attempts, and after a short outage the next attempt comes within seconds.
 * - `fastRetransmitThreshold` 3: as TCP's three duplicate acks; fewer would resend on mere
 *   reordering.
 */
export const DEFAULT_SENDER_OPTIONS: SenderOptions = Object.freeze({
  maxInFlight: 64,
  maxQueued: 4096,
  deadlineMs: 30_000,
  initialRtoMs: 500,
  minRtoMs: 100,
  maxRtoMs: 5000,
  fastRetransmitThreshold: 3,
});

/**
 * Defaults of {@link ReceiverOptions}: `maxBuffered` 1,024 covers a peer with a window up to 16
 * times ours; `maxAckRanges` 16 keeps an ack under 140 bytes (16 × 8 bytes of ranges) while
 * describing more holes than a 64-message window at realistic loss will have.
 */
export const DEFAULT_RECEIVER_OPTIONS: ReceiverOptions = Object.freeze({
  maxBuffered: 1024,
  maxAckRanges: 16,
});

/** Applies defaults and checks ranges; throws `QimError('ERR_BAD_OPTION')` naming the option. */
export function resolveSenderOptions(o: Partial<SenderOptions> = {}): SenderOptions {
  const r: SenderOptions = { ...DEFAULT_SENDER_OPTIONS, ...o };
  positiveInteger('maxInFlight', r.maxInFlight);
  nonNegativeInteger('maxQueued', r.maxQueued);
  positiveInteger('fastRetransmitThreshold', r.fastRetransmitThreshold);
  if (!(r.deadlineMs > 0)) bad(`deadlineMs must be positive (or Infinity), got ${String(r.deadlineMs)}`);
  for (const key of ['initialRtoMs', 'minRtoMs', 'maxRtoMs'] as const) {
    if (!Number.isFinite(r[key]) || r[key] <= 0) bad(`${key} must be a positive number, got ${String(r[key])}`);
  }
  if (r.minRtoMs > r.maxRtoMs) bad(`minRtoMs (${r.minRtoMs}) must not exceed maxRtoMs (${r.maxRtoMs})`);
  return Object.freeze(r);
}

/** Applies defaults and checks ranges; throws `QimError('ERR_BAD_OPTION')` naming the option. */
export function resolveReceiverOptions(o: Partial<ReceiverOptions> = {}): ReceiverOptions {
  const r: ReceiverOptions = { ...DEFAULT_RECEIVER_OPTIONS, ...o };
  positiveInteger('maxBuffered', r.maxBuffered);
  positiveInteger('maxAckRanges', r.maxAckRanges);
  return Object.freeze(r);
}

function positiveInteger(key: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) bad(`${key} must be a positive integer, got ${String(value)}`);
}

function nonNegativeInteger(key: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) bad(`${key} must be a non-negative integer, got ${String(value)}`);
}

function bad(message: string): never {
  throw new QimError('ERR_BAD_OPTION', message);
}
