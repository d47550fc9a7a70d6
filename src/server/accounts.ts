/**
 * Which identity key owns which name (trust on first use): the first login under a name binds it
 * to its key, and from then on only that key may use the name. In memory by default; SQLite when
 * the server has a data file, so bindings survive restarts.
 */

/** The name-to-key table. */
export interface AccountStore {
  /** The key bound to `name`, if any. */
  keyFor(name: string): Buffer | undefined;
  /**
   * Binds `name` to `key` unless it is bound already; returns the key now bound. A store in
   * memory keeps `key` itself: pass a buffer of its own (see ownBytes), not a slice of a pool.
   */
  bind(name: string, key: Buffer): Buffer;
  close(): void;
}

/** Accounts in memory (lost on restart). */
export class MemoryAccounts implements AccountStore {
  readonly #keys = new Map<string, Buffer>();

  keyFor(name: string): Buffer | undefined {
    return this.#keys.get(name);
  }

  bind(name: string, key: Buffer): Buffer {
    const bound = this.#keys.get(name);
    if (bound !== undefined) return bound;
    this.#keys.set(name, key);
    return key;
  }

  close(): void {}
}

/** Accounts in a SQLite file (better-sqlite3), kept across restarts. */
export class SqliteAccounts implements AccountStore {
  readonly #db: import('better-sqlite3').Database;
  readonly #get: import('better-sqlite3').Statement<[string], { key: Buffer }>;
  readonly #insert: import('better-sqlite3').Statement<[string, Buffer, number]>;

  private constructor(db: import('better-sqlite3').Database) {
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, key BLOB NOT NULL, bound_at INTEGER NOT NULL)');
    this.#get = db.prepare('SELECT key FROM accounts WHERE name = ?');
    this.#insert = db.prepare('INSERT OR IGNORE INTO accounts (name, key, bound_at) VALUES (?, ?, ?)');
  }

  /** Opens (creating if need be) the accounts table in the SQLite file at `path`. */
  static async open(path: string): Promise<SqliteAccounts> {
    const { default: Database } = await import('better-sqlite3');
    return new SqliteAccounts(new Database(path));
  }

  keyFor(name: string): Buffer | undefined {
    return this.#get.get(name)?.key;
  }

  bind(name: string, key: Buffer): Buffer {
    this.#insert.run(name, key, Date.now());
    return this.keyFor(name) ?? key;
  }

  close(): void {
    this.#db.close();
  }
}
