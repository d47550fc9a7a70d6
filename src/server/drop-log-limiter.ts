/**
 * Lets through at most `perSecond` drop logs per reason; the rest are counted and reported once a
 * second as one summary line, so a flood of garbage cannot flood the log (counters see them all).
 * Shared by the CLI's log and the dashboard's event log.
 */
export class DropLogLimiter {
  readonly #perSecond: number;
  readonly #budget = new Map<string, number>();
  readonly #suppressed = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(perSecond: number, onSuppressed: (reason: string, count: number) => void) {
    this.#perSecond = perSecond;
    this.#timer = setInterval(() => {
      for (const [reason, count] of this.#suppressed) onSuppressed(reason, count);
      this.#suppressed.clear();
      this.#budget.clear();
    }, 1000);
    this.#timer.unref();
  }

  /** True when this drop may be logged now. */
  allow(reason: string): boolean {
    const used = this.#budget.get(reason) ?? 0;
    if (used < this.#perSecond) {
      this.#budget.set(reason, used + 1);
      return true;
    }
    this.#suppressed.set(reason, (this.#suppressed.get(reason) ?? 0) + 1);
    return false;
  }

  /** Stops the timer; returns what was suppressed and not yet reported. */
  stop(): Map<string, number> {
    clearInterval(this.#timer);
    return this.#suppressed;
  }
}
