/**
 * Errors of the reliability layer.
 *
 * Shaped like `QimError` (a stable string `code`, an optional `cause`). It is a separate class only
 * because `QimErrorCode` is a closed union owned by `src/errors.ts`; once these codes are added
 * there, this class can become a plain `QimError`. Bad options throw `QimError('ERR_BAD_OPTION')`
 * like the rest of the library.
 *
 * Nothing from the network throws: malformed acks and sequence numbers are counted and ignored.
 */
export class ReliabilityError extends Error {
  readonly code: ReliabilityErrorCode;

  constructor(code: ReliabilityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReliabilityError';
    this.code = code;
  }
}

/**
 * Stable codes:
 * - `ERR_QUEUE_FULL`: `send` while `maxQueued` messages already wait behind the window; the caller
 *   should push back on the user (the peer is slow or gone).
 * - `ERR_SEQ_EXHAUSTED`: the session has sent 2^32 − 1 messages; start a new session.
 */
export type ReliabilityErrorCode = 'ERR_QUEUE_FULL' | 'ERR_SEQ_EXHAUSTED';
