/**
 * A user's local store: one SQLite file (`profile.db`) in their profile folder, shared by every
 * qim program that opens the same profile (`qim chat`, `qim web`). It holds the keys pinned on
 * first use (servers and peers), small settings, and the chat history. WAL mode and a busy timeout
 * let two processes use it at once.
 */
import Database from 'better-sqlite3';

/** Where a history line stands. `received` for incoming; the others follow an outgoing message. */
export type HistoryState = 'sending' | 'sent' | 'stored' | 'delivered' | 'failed' | 'received';

/** One line of chat history. */
export interface HistoryEntry {
  /** Row id: grows with time, unique in this store. */
  readonly id: number;
  /** The server (`host:port`) the conversation happened on: names are only unique per server. */
  readonly server: string;
  readonly peer: string;
  readonly direction: 'in' | 'out';
  readonly text: string;
  /** When it was sent (out) or received (in), ms since the epoch. */
  readonly at: number;
  readonly state: HistoryState;
  readonly encrypted: boolean;
}

/** A conversation in summary: who, how many lines, the newest one. */
export interface ConversationSummary {
  readonly peer: string;
  readonly count: number;
  readonly last: HistoryEntry;
}

interface Row {
  id: number;
  server: string;
  peer: string;
  direction: string;
  text: string;
  at: number;
  state: string;
  encrypted: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS server_keys (server TEXT PRIMARY KEY, key BLOB NOT NULL, pinned_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peer_keys (
  server TEXT NOT NULL, name TEXT NOT NULL, key BLOB NOT NULL, pinned_at INTEGER NOT NULL,
  PRIMARY KEY (server, name)
);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server TEXT NOT NULL, peer TEXT NOT NULL, direction TEXT NOT NULL, text TEXT NOT NULL,
  at INTEGER NOT NULL, state TEXT NOT NULL, encrypted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_peer ON messages (server, peer, id);
CREATE TABLE IF NOT EXISTS offline_seen (server TEXT NOT NULL, id INTEGER NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (server, id));
`;

/** Longest history line kept, in characters (the protocol's limit is 64 KiB of UTF-8). */
const MAX_TEXT = 65_536;

export class ProfileStore {
  readonly #db: Database.Database;
  readonly #stmts;

  private constructor(db: Database.Database) {
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 2000');
    db.exec(SCHEMA);
    // Added after the first release of the table: the delivery id of an outgoing line, so that a
    // receipt that arrives in a later run (a message left for someone offline) finds its line.
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(messages)').all();
    if (!columns.some((c) => c.name === 'ref')) db.exec('ALTER TABLE messages ADD COLUMN ref INTEGER');
    this.#stmts = {
      getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: db.prepare<[string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getServerKey: db.prepare<[string], { key: Buffer }>('SELECT key FROM server_keys WHERE server = ?'),
      setServerKey: db.prepare<[string, Buffer, number]>(
        'INSERT INTO server_keys (server, key, pinned_at) VALUES (?, ?, ?) ON CONFLICT (server) DO UPDATE SET key = excluded.key, pinned_at = excluded.pinned_at',
      ),
      getPeerKey: db.prepare<[string, string], { key: Buffer }>('SELECT key FROM peer_keys WHERE server = ? AND name = ?'),
      setPeerKey: db.prepare<[string, string, Buffer, number]>(
        'INSERT INTO peer_keys (server, name, key, pinned_at) VALUES (?, ?, ?, ?) ON CONFLICT (server, name) DO UPDATE SET key = excluded.key, pinned_at = excluded.pinned_at',
      ),
      append: db.prepare<[string, string, string, string, number, string, number]>(
        'INSERT INTO messages (server, peer, direction, text, at, state, encrypted) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      setState: db.prepare<[string, number]>('UPDATE messages SET state = ? WHERE id = ?'),
      setRef: db.prepare<[number, number]>('UPDATE messages SET ref = ? WHERE id = ?'),
      byRef: db.prepare<[string, string, number], Row>("SELECT * FROM messages WHERE server = ? AND peer = ? AND ref = ? AND direction = 'out'"),
      seen: db.prepare<[string, number], { id: number }>('SELECT id FROM offline_seen WHERE server = ? AND id = ?'),
      addSeen: db.prepare<[string, number, number]>('INSERT OR IGNORE INTO offline_seen (server, id, seen_at) VALUES (?, ?, ?)'),
      byId: db.prepare<[number], Row>('SELECT * FROM messages WHERE id = ?'),
      history: db.prepare<[string, string, number, number], Row>(
        'SELECT * FROM (SELECT * FROM messages WHERE server = ? AND peer = ? AND id < ? ORDER BY id DESC LIMIT ?) ORDER BY id',
      ),
      conversations: db.prepare<[string], Row & { count: number }>(
        `SELECT m.*, c.count FROM messages m
           JOIN (SELECT peer, MAX(id) AS last, COUNT(*) AS count FROM messages WHERE server = ? GROUP BY peer) c ON m.id = c.last
         ORDER BY m.id DESC`,
      ),
      orphans: db.prepare<[number]>("UPDATE messages SET state = 'failed' WHERE state = 'sending' AND at < ?"),
    };
  }

  /** Opens (creating if need be) the store at `path`. */
  static open(path: string): ProfileStore {
    return new ProfileStore(new Database(path));
  }

  setting(key: string): string | undefined {
    return this.#stmts.getSetting.get(key)?.value;
  }

  setSetting(key: string, value: string): void {
    this.#stmts.setSetting.run(key, value);
  }

  /** The server key pinned for `server` (`host:port`), if any. */
  serverKey(server: string): Buffer | undefined {
    return this.#stmts.getServerKey.get(server)?.key;
  }

  pinServer(server: string, key: Buffer): void {
    this.#stmts.setServerKey.run(server, key, Date.now());
  }

  /** The identity key pinned for `name` on `server`, if any. */
  peerKey(server: string, name: string): Buffer | undefined {
    return this.#stmts.getPeerKey.get(server, name)?.key;
  }

  pinPeer(server: string, name: string, key: Buffer): void {
    this.#stmts.setPeerKey.run(server, name, key, Date.now());
  }

  /** Appends a line of history; returns it with its id. */
  append(e: Omit<HistoryEntry, 'id'>): HistoryEntry {
    const text = e.text.length > MAX_TEXT ? e.text.slice(0, MAX_TEXT) : e.text;
    const { lastInsertRowid } = this.#stmts.append.run(e.server, e.peer, e.direction, text, e.at, e.state, e.encrypted ? 1 : 0);
    return { ...e, text, id: Number(lastInsertRowid) };
  }

  /** Records the delivery id an outgoing line was sent under. */
  setRef(id: number, ref: number): void {
    this.#stmts.setRef.run(ref, id);
  }

  /** The outgoing line to `peer` sent under delivery id `ref`, if any. */
  byRef(server: string, peer: string, ref: number): HistoryEntry | undefined {
    const row = this.#stmts.byRef.get(server, peer, ref);
    return row === undefined ? undefined : entryOf(row);
  }

  /** Whether the offline message `id` was already shown (on `server`). */
  seenOffline(server: string, id: number): boolean {
    return this.#stmts.seen.get(server, id) !== undefined;
  }

  markOfflineSeen(server: string, id: number): void {
    this.#stmts.addSeen.run(server, id, Date.now());
  }

  /** Moves an outgoing line to a new state. */
  setState(id: number, state: HistoryState): void {
    this.#stmts.setState.run(state, id);
  }

  entry(id: number): HistoryEntry | undefined {
    const row = this.#stmts.byId.get(id);
    return row === undefined ? undefined : entryOf(row);
  }

  /** The newest `limit` lines with `peer` (before row `before`, to page back), oldest first. */
  history(server: string, peer: string, limit = 50, before = Number.MAX_SAFE_INTEGER): HistoryEntry[] {
    return this.#stmts.history.all(server, peer, before, limit).map(entryOf);
  }

  /** Every conversation on `server`, newest first. */
  conversations(server: string): ConversationSummary[] {
    return this.#stmts.conversations.all(server).map((r) => ({ peer: r.peer, count: r.count, last: entryOf(r) }));
  }

  /**
   * Marks as failed the lines left `sending` by a process that ended before their fate was known.
   * Only lines older than `graceMs` (past any delivery deadline), so another process's messages
   * still in flight are left alone.
   */
  failOrphans(now = Date.now(), graceMs = 60_000): number {
    return this.#stmts.orphans.run(now - graceMs).changes;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function entryOf(r: Row): HistoryEntry {
  return {
    id: r.id,
    server: r.server,
    peer: r.peer,
    direction: r.direction === 'in' ? 'in' : 'out',
    text: r.text,
    at: r.at,
    state: r.state as HistoryState,
    encrypted: r.encrypted === 1,
  };
}
