/**
 * Errors of the reliability layer are QimErrors with these stable codes:
 * - `ERR_QUEUE_FULL`: `send` while `maxQueued` messages already wait behind the window; the caller
 *   should push back on the user (the peer is slow or gone).
 * - `ERR_SEQ_EXHAUSTED`: the session has sent 2^32 - 1 messages; start a new session.
 *
 * Nothing from the network throws: malformed acks and sequence numbers are counted and ignored.
 */
export { QimError as ReliabilityError } from '../errors.js';

/** The codes the reliability layer throws. */
export type ReliabilityErrorCode = 'ERR_QUEUE_FULL' | 'ERR_SEQ_EXHAUSTED';
