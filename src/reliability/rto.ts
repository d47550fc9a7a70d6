/**
 * Retransmission timeout estimation per RFC 6298, as pure functions over an immutable state.
 *
 * ```
 * first sample R:   SRTT = R              RTTVAR = R / 2
 * later sample R:   RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|   (with the old SRTT)
 *                   SRTT   = 7/8·SRTT   + 1/8·R
 * RTO = clamp(SRTT + 4·RTTVAR, minRtoMs, maxRtoMs)
 * ```
 *
 * Callers apply Karn's rule (never feed a sample timed from a retransmitted message, whose ack
 * cannot be matched to one transmission) and per-message exponential backoff with {@link backoff}.
 */

/** The estimator's limits (a subset of the sender's options). */
export interface RtoLimits {
  /** RTO before any sample. */
  readonly initialRtoMs: number;
  /** Floor of the RTO. */
  readonly minRtoMs: number;
  /** Ceiling of the RTO, and of any backed-off timer. */
  readonly maxRtoMs: number;
}

/** The estimator's state. `srtt` and `rttvar` are null until the first sample. */
export interface RttState {
  readonly srtt: number | null;
  readonly rttvar: number | null;
  readonly rto: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/** The state before any sample: RTO = `initialRtoMs`. */
export function initialRtt(limits: RtoLimits): RttState {
  return { srtt: null, rttvar: null, rto: clamp(limits.initialRtoMs, limits) };
}

/** The state after one RTT sample (ms, negative samples count as 0). */
export function updateRtt(state: RttState, sampleMs: number, limits: RtoLimits): RttState {
  const r = Math.max(0, sampleMs);
  let srtt: number;
  let rttvar: number;
  if (state.srtt === null || state.rttvar === null) {
    srtt = r;
    rttvar = r / 2;
  } else {
    rttvar = (1 - BETA) * state.rttvar + BETA * Math.abs(state.srtt - r);
    srtt = (1 - ALPHA) * state.srtt + ALPHA * r;
  }
  return { srtt, rttvar, rto: clamp(srtt + K * rttvar, limits) };
}

/**
 * The timer for a message whose timer has already expired `timeouts` times: `rto · 2^timeouts`,
 * capped at `maxRtoMs`. Why per message: one lost message should not slow the others, and a
 * message that keeps failing (a dead path) backs off on its own until the deadline gives it up.
 */
export function backoff(rto: number, timeouts: number, maxRtoMs: number): number {
  // 2^31 already exceeds any sane maxRtoMs; capping the exponent avoids Infinity arithmetic.
  return Math.min(maxRtoMs, rto * 2 ** Math.min(timeouts, 31));
}

function clamp(rto: number, limits: RtoLimits): number {
  return Math.min(limits.maxRtoMs, Math.max(limits.minRtoMs, rto));
}
