/**
 * Sequence numbers and acknowledgements shared by {@link ReliableSender} and
 * {@link ReliableReceiver}.
 *
 * Each direction of a conversation numbers its messages 1, 2, 3, … as unsigned 32-bit integers.
 * 0 is never a message: an ack with `cumulative: 0` means "nothing in order yet". Sequence numbers
 * do not wrap: a session can carry at most 2^32 − 1 messages per direction, after which
 * `ReliableSender.send` throws `ERR_SEQ_EXHAUSTED` and the session must be restarted (at one
 * message a millisecond that is 49 days of nonstop chat).
 */

/** The largest sequence number (u32). */
export const MAX_SEQ = 0xffff_ffff;

/** True for a valid message sequence number: an integer from 1 to {@link MAX_SEQ}. */
export function isSeq(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_SEQ;
}

/**
 * What a receiver has: every seq ≤ `cumulative`, plus the inclusive runs in `ranges`.
 *
 * `ranges` hold only seqs above `cumulative + 1` (the next expected seq is by definition missing),
 * sorted lowest first, disjoint and non-adjacent, at most `maxAckRanges` of them. Lowest first
 * because the lowest holes are the ones blocking in-order delivery: those are the holes the sender
 * must fill first (fast retransmit), and the receiver can stop scanning its buffer once it has
 * enough runs. Runs left out above the limit are simply not acknowledged yet; the worst they cost
 * is a spurious retransmission.
 *
 * An ack arrives from the network, so the sender treats every field as untrusted (see
 * `ReliableSender.onAck`).
 */
export interface Ack {
  readonly cumulative: number;
  readonly ranges: ReadonlyArray<readonly [start: number, end: number]>;
}

/** True when `ack` says `seq` was received. */
export function ackCovers(ack: Ack, seq: number): boolean {
  if (seq <= ack.cumulative) return true;
  for (const [start, end] of ack.ranges) if (seq >= start && seq <= end) return true;
  return false;
}
