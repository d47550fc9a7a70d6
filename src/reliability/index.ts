/**
 * The reliability layer: pure state machines for acknowledged, ordered, deduplicated peer chat.
 * No sockets, timers or clocks; callers pass `now` and move the bytes (see sender.ts for how to
 * drive it).
 */
export { MAX_SEQ, ackCovers, isSeq, type Ack } from './ack.js';
export { ReliabilityError, type ReliabilityErrorCode } from './errors.js';
export {
  DEFAULT_RECEIVER_OPTIONS,
  DEFAULT_SENDER_OPTIONS,
  resolveReceiverOptions,
  resolveSenderOptions,
  type ReceiverOptions,
  type SenderOptions,
} from './options.js';
export { backoff, initialRtt, updateRtt, type RtoLimits, type RttState } from './rto.js';
export {
  ReliableSender,
  type AckResult,
  type PollResult,
  type SenderStats,
  type Transmit,
} from './sender.js';
export { ReliableReceiver, type ReceiveResult, type ReceiverStats } from './receiver.js';
export { DeliveryTracker, canTransition, type DeliveryState } from './delivery-state.js';
