/**
 * Messages kept for users who are offline, and what the server needs to let others seal them:
 * each user's latest prekey (docs/PROTOCOL.md, "Offline messages"). The server stores only
 * ciphertext it cannot open. In memory by default; SQLite in the server's data folder
 * (`offline.db`), so messages survive a restart.
 */
import { ownBytes } from '../protocol/v2/bytes.js';

const PREKEY_BYTES = 32;

/** One waiting message. */
export interface StoredOffline {
  readonly id: number;
  readonly to: string;
  readonly from: string;
  readonly sealed: Buffer;
  readonly storedAt: number;
}

/** A delivery the sender has not heard of yet. */
export interface PendingReceipt {
  readonly id: number;
  /** The recipient who read it. */
  readonly to: string;
}

export type PutResult = 'stored' | 'full' | 'duplicate';

/** A value now (memory, SQLite) or later (Redis). */
export type Awaitable<T> = T | Promise<T>;

/** The store; the server awaits every answer, so an implementation may be local or remote. */
export interface OfflineStore {
  setPrekey(name: string, prekey: Buffer, signature: Buffer): Awaitable<void>;
  prekey(name: string): Awaitable<{ prekey: Buffer; signature: Buffer } | undefined>;
  /** Keeps a message unless the recipient already has `maxPerRecipient` or this id. */
  put(m: StoredOffline, maxPerRecipient: number): Awaitable<PutResult>;
  /** The oldest `limit` messages waiting for `to`. */
  waiting(to: string, limit: number): Awaitable<StoredOffline[]>;
  /** Removes and returns one of `to`'s messages. */
  take(to: string, id: number): Awaitable<StoredOffline | undefined>;
  addReceipt(sender: string, r: PendingReceipt): Awaitable<void>;
  receipts(sender: string, limit: number): Awaitable<PendingReceipt[]>;
  /** Removes a receipt; false when there was none. */
  takeReceipt(sender: string, id: number): Awaitable<boolean>;
  /** Forgets messages stored before `before` (ms); returns how many. */
  expire(before: number): Awaitable<number>;
  close(): Awaitable<void>;
}

export class MemoryOffline implements OfflineStore {
  /** Each user's prekey and its signature, in one buffer of its own (see ownBytes). */
  readonly #prekeys = new Map<string, Buffer>();
  readonly #boxes = new Map<string, Map<number, StoredOffline>>();
  readonly #receipts = new Map<string, Map<number, PendingReceipt>>();

  setPrekey(name: string, prekey: Buffer, signature: Buffer): void {
    this.#prekeys.set(name, ownBytes(Buffer.concat([prekey, signature])));
  }

  prekey(name: string): { prekey: Buffer; signature: Buffer } | undefined {
    const both = this.#prekeys.get(name);
    return both === undefined ? undefined : { prekey: both.subarray(0, PREKEY_BYTES), signature: both.subarray(PREKEY_BYTES) };
  }

  put(m: StoredOffline, maxPerRecipient: number): PutResult {
    const box = this.#boxes.get(m.to) ?? new Map<number, StoredOffline>();
    if (box.has(m.id)) return 'duplicate';
    if (box.size >= maxPerRecipient) return 'full';
    box.set(m.id, m);
    this.#boxes.set(m.to, box);
    return 'stored';
  }

  waiting(to: string, limit: number): StoredOffline[] {
    return [...(this.#boxes.get(to)?.values() ?? [])].sort((a, b) => a.storedAt - b.storedAt || a.id - b.id).slice(0, limit);
  }

  take(to: string, id: number): StoredOffline | undefined {
    const box = this.#boxes.get(to);
    const m = box?.get(id);
    if (m !== undefined) box?.delete(id);
    return m;
  }

  addReceipt(sender: string, r: PendingReceipt): void {
    const rs = this.#receipts.get(sender) ?? new Map<number, PendingReceipt>();
    rs.set(r.id, r);
    this.#receipts.set(sender, rs);
  }

  receipts(sender: string, limit: number): PendingReceipt[] {
    return [...(this.#receipts.get(sender)?.values() ?? [])].slice(0, limit);
  }

  takeReceipt(sender: string, id: number): boolean {
    return this.#receipts.get(sender)?.delete(id) ?? false;
  }

  expire(before: number): number {
    let n = 0;
    for (const box of this.#boxes.values()) {
      for (const [id, m] of box) {
        if (m.storedAt < before) {
          box.delete(id);
          n++;
        }
      }
    }
    return n;
  }

  close(): void {}
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS prekeys (name TEXT PRIMARY KEY, prekey BLOB NOT NULL, signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  recipient TEXT NOT NULL, id INTEGER NOT NULL, sender TEXT NOT NULL, sealed BLOB NOT NULL, stored_at INTEGER NOT NULL,
  PRIMARY KEY (recipient, id)
);
CREATE TABLE IF NOT EXISTS receipts (sender TEXT NOT NULL, id INTEGER NOT NULL, recipient TEXT NOT NULL, PRIMARY KEY (sender, id));
`;

interface MessageRow {
  recipient: string;
  id: number;
  sender: string;
  sealed: Buffer;
  stored_at: number;
}

export class SqliteOffline implements OfflineStore {
  readonly #db: import('better-sqlite3').Database;
  readonly #q;

  private constructor(db: import('better-sqlite3').Database) {
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.exec(SCHEMA);
    this.#q = {
      setPrekey: db.prepare<[string, Buffer, Buffer]>(
        'INSERT INTO prekeys (name, prekey, signature) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET prekey = excluded.prekey, signature = excluded.signature',
      ),
      prekey: db.prepare<[string], { prekey: Buffer; signature: Buffer }>('SELECT prekey, signature FROM prekeys WHERE name = ?'),
      count: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM messages WHERE recipient = ?'),
      insert: db.prepare<[string, number, string, Buffer, number]>('INSERT OR IGNORE INTO messages (recipient, id, sender, sealed, stored_at) VALUES (?, ?, ?, ?, ?)'),
      waiting: db.prepare<[string, number], MessageRow>('SELECT * FROM messages WHERE recipient = ? ORDER BY stored_at, id LIMIT ?'),
      one: db.prepare<[string, number], MessageRow>('SELECT * FROM messages WHERE recipient = ? AND id = ?'),
      remove: db.prepare<[string, number]>('DELETE FROM messages WHERE recipient = ? AND id = ?'),
      addReceipt: db.prepare<[string, number, string]>('INSERT OR REPLACE INTO receipts (sender, id, recipient) VALUES (?, ?, ?)'),
      receipts: db.prepare<[string, number], { id: number; recipient: string }>('SELECT id, recipient FROM receipts WHERE sender = ? LIMIT ?'),
      takeReceipt: db.prepare<[string, number]>('DELETE FROM receipts WHERE sender = ? AND id = ?'),
      expire: db.prepare<[number]>('DELETE FROM messages WHERE stored_at < ?'),
    };
  }

  static async open(path: string): Promise<SqliteOffline> {
    const { default: Database } = await import('better-sqlite3');
    return new SqliteOffline(new Database(path));
  }

  setPrekey(name: string, prekey: Buffer, signature: Buffer): void {
    this.#q.setPrekey.run(name, prekey, signature);
  }

  prekey(name: string): { prekey: Buffer; signature: Buffer } | undefined {
    return this.#q.prekey.get(name);
  }

  put(m: StoredOffline, maxPerRecipient: number): PutResult {
    return this.#db.transaction((): PutResult => {
      if (this.#q.one.get(m.to, m.id) !== undefined) return 'duplicate';
      if ((this.#q.count.get(m.to)?.n ?? 0) >= maxPerRecipient) return 'full';
      this.#q.insert.run(m.to, m.id, m.from, m.sealed, m.storedAt);
      return 'stored';
    })();
  }

  waiting(to: string, limit: number): StoredOffline[] {
    return this.#q.waiting.all(to, limit).map(storedOf);
  }

  take(to: string, id: number): StoredOffline | undefined {
    const row = this.#q.one.get(to, id);
    if (row === undefined) return undefined;
    this.#q.remove.run(to, id);
    return storedOf(row);
  }

  addReceipt(sender: string, r: PendingReceipt): void {
    this.#q.addReceipt.run(sender, r.id, r.to);
  }

  receipts(sender: string, limit: number): PendingReceipt[] {
    return this.#q.receipts.all(sender, limit).map((r) => ({ id: r.id, to: r.recipient }));
  }

  takeReceipt(sender: string, id: number): boolean {
    return this.#q.takeReceipt.run(sender, id).changes > 0;
  }

  expire(before: number): number {
    return this.#q.expire.run(before).changes;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function storedOf(r: MessageRow): StoredOffline {
  return { id: r.id, to: r.recipient, from: r.sender, sealed: r.sealed, storedAt: r.stored_at };
}
