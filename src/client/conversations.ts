/**
 * The user's conversations, one per peer, as the seed's several chat windows were: which one is
 * open, unread counts for the others, and a bounded history of each. Pure state, no I/O, so the
 * terminal and web clients share it and tests drive it directly.
 */

/** One line of a conversation. */
export interface ChatLine {
  readonly direction: 'in' | 'out';
  readonly peer: string;
  readonly text: string;
  /** Local time the line was sent or received. */
  readonly at: Date;
  /** The sender's own clock text, for incoming classic messages. */
  readonly sentAt?: string;
}

/** A conversation's summary, for lists and status lines. */
export interface ConversationSummary {
  readonly peer: string;
  readonly unread: number;
  readonly last: ChatLine | undefined;
}

interface Conversation {
  lines: ChatLine[];
  unread: number;
}

/** Conversations with unread counts and an open one. */
export class Conversations {
  readonly #byPeer = new Map<string, Conversation>();
  readonly #maxLines: number;
  #open: string | null = null;

  /** `maxLines`: history kept per peer in memory; older lines are forgotten. */
  constructor(maxLines = 1000) {
    this.#maxLines = maxLines;
  }

  /** The peer whose conversation is open, if any. */
  get open(): string | null {
    return this.#open;
  }

  /** Opens (switches to) the conversation with `peer`; its unread count drops to zero. */
  openWith(peer: string): void {
    this.#open = peer;
    this.#get(peer).unread = 0;
  }

  /** Closes the open conversation (none is open afterwards). */
  close(): void {
    this.#open = null;
  }

  /** Records a line; an incoming line in a conversation that is not open counts as unread. */
  add(line: ChatLine): void {
    const c = this.#get(line.peer);
    c.lines.push(line);
    if (c.lines.length > this.#maxLines) c.lines.splice(0, c.lines.length - this.#maxLines);
    if (line.direction === 'in' && line.peer !== this.#open) c.unread++;
  }

  /** Unread lines from `peer`. */
  unread(peer: string): number {
    return this.#byPeer.get(peer)?.unread ?? 0;
  }

  /** Unread lines over every conversation. */
  totalUnread(): number {
    let n = 0;
    for (const c of this.#byPeer.values()) n += c.unread;
    return n;
  }

  /** The last `limit` lines with `peer`, oldest first. */
  history(peer: string, limit = this.#maxLines): readonly ChatLine[] {
    const lines = this.#byPeer.get(peer)?.lines ?? [];
    return lines.slice(Math.max(0, lines.length - limit));
  }

  /** Every conversation that has lines, most recent activity first. */
  summaries(): ConversationSummary[] {
    const out: ConversationSummary[] = [];
    for (const [peer, c] of this.#byPeer) {
      if (c.lines.length === 0) continue;
      out.push({ peer, unread: c.unread, last: c.lines[c.lines.length - 1] });
    }
    return out.sort((a, b) => (b.last?.at.getTime() ?? 0) - (a.last?.at.getTime() ?? 0));
  }

  #get(peer: string): Conversation {
    let c = this.#byPeer.get(peer);
    if (c === undefined) {
      c = { lines: [], unread: 0 };
      this.#byPeer.set(peer, c);
    }
    return c;
  }
}
