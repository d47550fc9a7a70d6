/**
 * A LIST-HOLD in force at a client (docs/PROTOCOL.md, "Presence in a storm"): the server is in a
 * login storm and sends no deltas. The hold ends when it settles (or its wait runs out), and then
 * the list is fetched once, at a random moment within the spread the server named.
 */
export class ListHold {
  #version = -1;
  #spreadMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #settling = false;

  /** `fetch` is called once a hold has ended and its spread delay passed. */
  constructor(private readonly fetch: () => void) {}

  /** Whether a hold is in force (deltas do not come; being behind is expected). */
  get active(): boolean {
    return this.#timer !== null;
  }

  /** Takes a hold at `version`: the list is fetched after `waitMs`, or sooner when it settles. */
  take(version: number, waitMs: number, spreadMs: number): void {
    if (this.#settling) return;
    this.end();
    this.#version = version;
    this.#spreadMs = spreadMs;
    this.#timer = setTimeout(() => this.settle(), waitMs);
    this.#timer.unref();
  }

  /** The hold ended: fetch within the spread. Nothing when no hold is in force or a fetch is timed. */
  settle(): void {
    if (this.#timer === null || this.#settling) return;
    clearTimeout(this.#timer);
    this.#settling = true;
    this.#timer = setTimeout(() => {
      this.end();
      this.fetch();
    }, Math.random() * this.#spreadMs);
    this.#timer.unref();
  }

  /** A whole list at `version` came: a hold it covers (and not yet settling) is over. */
  covered(version: number): void {
    if (this.#timer !== null && !this.#settling && version >= this.#version) this.end();
  }

  /** Drops the hold (a new login, a close). */
  end(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#settling = false;
  }
}
