/**
 * Keeps a client's chat history in its profile store: every message received, every message sent
 * and how its delivery ended. The terminal UI, the line mode and the web client all send through
 * a recorder, so the history is the same whichever program wrote it.
 */
import { EventEmitter } from 'node:events';
import type { ChatClient } from './chat-client.js';
import type { HistoryEntry, ProfileStore } from './store.js';

export interface RecorderEvents {
  /** A line was added or changed state. */
  entry: [HistoryEntry];
}

export class HistoryRecorder extends EventEmitter<RecorderEvents> {
  /** Outgoing qim messages still in flight: delivery id → history row. */
  readonly #inFlight = new Map<number, number>();

  constructor(
    private readonly client: ChatClient,
    private readonly store: ProfileStore,
    /** The server (`host:port`) this client is on: history is kept per server. */
    readonly server: string,
    private readonly now: () => number = Date.now,
  ) {
    super();
    store.failOrphans(now());
    client.on('message', (m) => {
      this.emit('entry', store.append({ server, peer: m.from, direction: 'in', text: m.text, at: m.receivedAt.getTime(), state: 'received', encrypted: m.encrypted ?? false }));
    });
    client.on('delivery', (d) => {
      if (d.state === 'sent') return;
      // In flight this run; or a message left for someone offline in an earlier run, now read.
      const row = this.#inFlight.get(d.id) ?? store.byRef(server, d.to, d.id)?.id;
      if (row === undefined) return;
      if (d.state !== 'stored') this.#inFlight.delete(d.id);
      store.setState(row, d.state);
      const e = store.entry(row);
      if (e !== undefined) this.emit('entry', e);
    });
  }

  /**
   * Sends through the client and records the line: `sending` until delivered or failed (qim), or
   * `sent` at once (classic, which has no acknowledgement). Throws what the client throws, and
   * then records nothing.
   */
  send(to: string, text: string): { entry: HistoryEntry; id: number | undefined } {
    const id = this.client.send(to, text);
    const tracked = typeof id === 'number' && id > 0;
    // Only a qim client sends to someone who is not listed (sealed for them, offline): encrypted.
    const encrypted = this.client.contact(to)?.protocol !== 'classic';
    const entry = this.store.append({ server: this.server, peer: to, direction: 'out', text, at: this.now(), state: tracked ? 'sending' : 'sent', encrypted });
    if (tracked) {
      this.#inFlight.set(id, entry.id);
      this.store.setRef(entry.id, id);
    }
    this.emit('entry', entry);
    return { entry, id: tracked ? id : undefined };
  }

  /** The newest `limit` lines with `peer`, oldest first. */
  history(peer: string, limit = 50, before?: number): HistoryEntry[] {
    return this.store.history(this.server, peer, limit, before);
  }
}
