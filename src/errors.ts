/**
 * The one error type qim throws. `code` is stable and documented (README, "Error codes");
 * `cause` carries the underlying error when there is one.
 *
 * Bad input from the network is never thrown: it is dropped and counted with a {@link DropReason}.
 * A QimError means a caller asked for something impossible (bad option, unknown peer, closed client).
 */
export class QimError extends Error {
  readonly code: QimErrorCode;

  constructor(code: QimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QimError';
    this.code = code;
  }
}

/** Stable error codes; each is described in the README. */
export type QimErrorCode =
  | 'ERR_BAD_OPTION'
  | 'ERR_BAD_NAME'
  | 'ERR_BAD_ENDPOINT'
  | 'ERR_MESSAGE_TOO_LONG'
  | 'ERR_LOGIN_REFUSED'
  | 'ERR_LOGIN_TIMEOUT'
  | 'ERR_LIST_FETCH'
  | 'ERR_UNKNOWN_PEER'
  | 'ERR_KEY_CHANGED'
  | 'ERR_NOT_ONLINE'
  | 'ERR_CLOSED'
  | 'ERR_QUEUE_FULL'
  | 'ERR_SEQ_EXHAUSTED';
