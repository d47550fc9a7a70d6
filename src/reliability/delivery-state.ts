/**
 * Delivery status of outgoing messages, for the UI (a tick, a cross).
 *
 * ```
 *              ack (onAck delivered)
 *   sending ────────────────────────▶ delivered
 *      │
 *      └────────────────────────────▶ failed
 *              deadline (poll failed)
 * ```
 *
 * Nothing else: a settled message never changes again. {@link ReliableSender} reports each seq
 * once, in `delivered` or `failed`, so a refused transition means a caller bug or a stale report
 * (for example an ack processed after the message was forgotten); it is ignored, not thrown.
 */

/** Where an outgoing message stands. */
export type DeliveryState = 'sending' | 'delivered' | 'failed';

const ALLOWED: Readonly<Record<DeliveryState, readonly DeliveryState[]>> = Object.freeze({
  sending: ['delivered', 'failed'],
  delivered: [],
  failed: [],
});

/** True when a message may go from `from` to `to`. */
export function canTransition(from: DeliveryState, to: DeliveryState): boolean {
  return ALLOWED[from].includes(to);
}

/**
 * Tracks the {@link DeliveryState} of messages keyed by `Id` (a seq, or an app message id). Every
 * change goes through {@link DeliveryTracker.transition}.
 */
export class DeliveryTracker<Id = number> {
  readonly #states = new Map<Id, DeliveryState>();

  /** Starts tracking `id` as `'sending'`. False (and no change) if it is already tracked. */
  start(id: Id): boolean {
    if (this.#states.has(id)) return false;
    this.#states.set(id, 'sending');
    return true;
  }

  /**
   * The one way a state changes. Returns true when `id` is tracked and the move is allowed (see
   * the diagram); otherwise changes nothing and returns false.
   */
  transition(id: Id, to: DeliveryState): boolean {
    const from = this.#states.get(id);
    if (from === undefined || !canTransition(from, to)) return false;
    this.#states.set(id, to);
    return true;
  }

  /** Applies a sender report: `delivered` from `onAck`, `failed` from `poll`. Returns the ids changed. */
  apply(report: { readonly delivered?: readonly Id[]; readonly failed?: readonly Id[] }): Id[] {
    const changed: Id[] = [];
    for (const id of report.delivered ?? []) if (this.transition(id, 'delivered')) changed.push(id);
    for (const id of report.failed ?? []) if (this.transition(id, 'failed')) changed.push(id);
    return changed;
  }

  /** The state of `id`, or undefined when not tracked. */
  state(id: Id): DeliveryState | undefined {
    return this.#states.get(id);
  }

  /** Stops tracking `id` (say, when its line scrolls out of history), so memory stays bounded. */
  forget(id: Id): void {
    this.#states.delete(id);
  }

  /** Messages tracked. */
  get size(): number {
    return this.#states.size;
  }

  /** Number of tracked messages in each state. */
  counts(): Record<DeliveryState, number> {
    const c: Record<DeliveryState, number> = { sending: 0, delivered: 0, failed: 0 };
    for (const s of this.#states.values()) c[s]++;
    return c;
  }
}
