/**
 * The dashboard's event log: the most recent entries in a fixed-size ring, so a page opened late
 * still sees what just happened, and memory stays bounded however busy the server is.
 */

/** One line of the dashboard's log. */
export interface LogEntry {
  /** Increases by one per entry, from 1. */
  readonly id: number;
  /** ISO 8601. */
  readonly time: string;
  readonly level: 'info' | 'warn';
  readonly event: string;
  readonly fields: Readonly<Record<string, string | number>>;
}

/** A ring of the last `capacity` entries. */
export class EventLog {
  readonly #ring: (LogEntry | undefined)[];
  #next = 0;
  #nextId = 1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`log capacity must be a positive integer, got ${capacity}`);
    this.#ring = new Array<LogEntry | undefined>(capacity).fill(undefined);
  }

  /** Appends an entry (forgetting the oldest when full) and returns it. */
  add(level: LogEntry['level'], event: string, fields: LogEntry['fields'], now = new Date()): LogEntry {
    const entry: LogEntry = { id: this.#nextId++, time: now.toISOString(), level, event, fields };
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#ring.length;
    return entry;
  }

  /** The entries held, oldest first. */
  entries(): LogEntry[] {
    const out: LogEntry[] = [];
    for (let i = 0; i < this.#ring.length; i++) {
      const entry = this.#ring[(this.#next + i) % this.#ring.length];
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }
}
