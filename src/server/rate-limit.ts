/**
 * Per-source token buckets: each address may spend `burst` tokens at once and earns `perSecond`
 * back. Buckets of quiet addresses are forgotten, so memory stays bounded by `maxSources`.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxSources: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes `cost` tokens (one by default; bytes for a bandwidth budget) for `source`; false when it has not enough. */
  take(source: string, cost = 1): boolean {
    const now = this.now();
    let b = this.#buckets.get(source);
    if (b === undefined) {
      if (this.#buckets.size >= this.maxSources) this.#sweep(now);
      // Still full of busy sources: refuse newcomers rather than grow without bound.
      if (this.#buckets.size >= this.maxSources) return false;
      b = { tokens: this.burst, at: now };
      this.#buckets.set(source, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** Forgets every bucket that has refilled (its source has been quiet). */
  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.#buckets.delete(k);
    }
  }
}
