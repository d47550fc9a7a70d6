/**
 * A LIST-HOLD in force at a client (docs/PROTOCOL.md, "Presence in a storm"): the server is in a
 * login storm and sends no deltas. The hold ends when it settles (or its wait runs out), and then
 * the list is fetched once, at a random moment within the spread the server named.
 *
 * Notices can arrive out of order: a LIST-HOLD that answered a TCP fetch started during the storm
 * may be read after the settle that came over UDP. Such a notice (older than one already taken, or
 * not newer than a settle) changes nothing; taking it would wait out a hold that is already over.
 * And when the hold ends while a fetch is on its way (the one that brought that stale answer), the
 * list is fetched again once it ends, unless it brought the list held for.
 */
export class ListHold {
  /** The newest version any notice named (the list the fetch is for). */
  #newest = -1;
  /** The newest version the server said it settled at. */
  #settledAt = -1;
  #spreadMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #settling = false;
  /** The hold ended while a fetch was on its way: see fetchEnded. */
  #owed = false;

  /**
   * `fetch` is called once a hold has ended and its spread delay passed (`again` when fetchEnded
   * asks for the same list once more); it answers false when a fetch is on its way already.
   */
  constructor(private readonly fetch: (again: boolean) => boolean) {}

  /** Whether a hold is in force (deltas do not come; being behind is expected). */
  get active(): boolean {
    return this.#timer !== null;
  }

  /** The newest list version a notice named: a list older than this one is not the one held for. */
  get newest(): number {
    return this.#newest;
  }

  /**
   * Takes a hold at `version` (a settle when `waitMs` is 0): the list is fetched after `waitMs`,
   * or sooner when it settles. False when the notice is stale and changed nothing.
   */
  take(version: number, waitMs: number, spreadMs: number): boolean {
    if (this.#settling || version < this.#newest || (waitMs > 0 && version <= this.#settledAt)) return false;
    this.end();
    this.#newest = version;
    this.#spreadMs = spreadMs;
    if (waitMs === 0) this.#settledAt = version;
    this.#timer = setTimeout(() => this.#ended(), waitMs);
    this.#timer.unref();
    return true;
  }

  /** The server settled (a delta that does not follow on): fetch within the spread. */
  settle(): void {
    if (this.#timer === null || this.#settling) return;
    this.#settledAt = Math.max(this.#settledAt, this.#newest);
    this.#ended();
  }

  /** The hold ended (settled, or its wait ran out): fetch at a random moment within the spread. */
  #ended(): void {
    if (this.#timer === null || this.#settling) return;
    clearTimeout(this.#timer);
    this.#settling = true;
    this.#timer = setTimeout(() => {
      this.end();
      this.#owed = !this.fetch(false);
    }, Math.random() * this.#spreadMs);
    this.#timer.unref();
  }

  /**
   * A fetch ended, having brought the list at `version` (or a LIST-HOLD: the version the client
   * has), or null when it fell back to asking for the list as datagrams. If a hold ended while it
   * was on its way and it did not bring that hold's list, the list is fetched now.
   */
  fetchEnded(version: number | null): void {
    if (!this.#owed) return;
    this.#owed = false;
    if (version !== null && version < this.#newest && !this.active) this.#owed = !this.fetch(true);
  }

  /** A whole list at `version` came: a hold it covers (and not yet settling) is over. */
  covered(version: number): void {
    if (this.#timer !== null && !this.#settling && version >= this.#newest) this.end();
  }

  /** Drops the hold (a close). */
  end(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#settling = false;
  }

  /** Drops the hold and forgets the versions seen (a new session: its versions start again). */
  reset(): void {
    this.end();
    this.#owed = false;
    this.#newest = -1;
    this.#settledAt = -1;
  }
}
