/**
 * Telling online users that someone joined or left.
 *
 * Classic users hear each change as the classic `login`/`logout` datagram, encoded once and sent
 * to each. qim users hear versioned deltas: every change bumps the list version, changes that
 * happen within `presenceBatchMs` of each other go out together, packed into as few PRESENCE
 * datagrams as fit in 1,200 bytes, encoded and signed once with the server's key and sent to
 * every recipient as they are. So a storm of N logins costs each qim user about N / 20 datagrams
 * rather than N, and the server one send per datagram per user. A user who misses a delta sees the
 * gap between versions and asks for the whole list (LIST-REQUEST), which comes as a snapshot; a
 * snapshot asked for while a batch gathers is sent with it, built once for all who asked.
 */
import { encodeClassic } from '../protocol/classic/datagram.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { randomBytes } from 'node:crypto';
import { FINGERPRINT_BYTES, sign, type KeyPair } from '../crypto/keys.js';
import {
  encodeV2,
  MAX_DATAGRAM,
  presenceEntryBytes,
  presenceSigned,
  PRESENCE_HEADER_BYTES,
  PRESENCE_SIGNATURE_BYTES,
  type PresenceEntry,
  type Status,
} from '../protocol/v2/messages.js';
import type { ServerContext } from './context.js';
import type { OnlineUser } from './directory.js';

/** What a classic user, who has no key, is listed with. */
const NO_FINGERPRINT = Buffer.alloc(FINGERPRINT_BYTES);

/** The upsert entry describing an online user. */
export function entryFor(user: OnlineUser): PresenceEntry {
  return {
    op: 'upsert',
    name: user.name,
    protocol: user.protocol,
    status: user.status,
    fingerprint: user.fingerprint ?? NO_FINGERPRINT,
    endpoint: user.endpoint,
    privateEndpoint: user.privateEndpoint ?? user.endpoint,
  };
}

/** What others could see of a user: where, and how (undefined: not online). */
export type Seen = { readonly endpoint: Endpoint; readonly status: Status; readonly privateEndpoint?: Endpoint | undefined } | undefined;

/**
 * Tells everyone what changed in what they can see of `name`: an invisible user is seen by
 * nobody, so going invisible looks like leaving and coming back like joining, and a new endpoint
 * like leaving from the old one and joining at the new. Nothing visible changed: nothing is sent.
 */
export function announceVisibility(ctx: Pick<ServerContext, 'announce'>, name: string, before: Seen, after: Seen): void {
  const was = before !== undefined && before.status !== 'invisible' ? before : undefined;
  const is = after !== undefined && after.status !== 'invisible' ? after : undefined;
  const moved = was !== undefined && is !== undefined && !sameEndpoint(was.endpoint, is.endpoint);
  if (was !== undefined && (is === undefined || moved)) ctx.announce('logout', name, was.endpoint);
  if (is !== undefined && (was === undefined || moved)) ctx.announce('login', name, is.endpoint);
  else if (is !== undefined && was !== undefined && (was.status !== is.status || !samePrivate(was, is))) ctx.announce('status', name, is.endpoint);
}

function samePrivate(a: NonNullable<Seen>, b: NonNullable<Seen>): boolean {
  return sameEndpoint(a.privateEndpoint ?? a.endpoint, b.privateEndpoint ?? b.endpoint);
}

/** Versioned, batched presence fan-out. */
export class PresenceHub {
  /**
   * This run's epoch: every PRESENCE carries it under the signature, and WELCOME names it, so a
   * datagram signed in an earlier run (whose versions started at 1 too) is refused.
   */
  readonly epoch = randomBytes(8);
  // Deltas start from version 1 at the earliest, so a batch from version 0 is always a snapshot.
  #version = 1;
  /** The version of the last batch sent: what everyone has been told. */
  #published = 1;
  #pending: PresenceEntry[] = [];
  #timer: NodeJS.Timeout | null = null;
  #snapshotCache: { version: number; datagrams: Buffer[] } | null = null;
  /** Users who asked for the whole list while a batch was gathering: they get it at the flush. */
  readonly #waiting = new Map<string, Endpoint>();
  #waitingTcp: ((datagrams: readonly Buffer[]) => void)[] = [];
  /** Users who get the next batch within their snapshot: not sent it on its own. */
  readonly #skip = new Set<string>();

  constructor(
    private readonly ctx: ServerContext,
    /** The server's identity: it signs each PRESENCE once, for every recipient alike. */
    private readonly identity: KeyPair,
    /** Where every qim user online is. */
    private readonly recipients: () => Iterable<Endpoint>,
    /** How many recipients there are: a batch goes to each, so more of them means longer batches. */
    private readonly recipientCount: () => number = () => 0,
  ) {}

  /** The list version everyone has been sent (what WELCOME and HEARTBEAT-ACK carry). */
  get version(): number {
    return this.#published;
  }

  /**
   * Announces that `name` joined, left, or changed status: joins and leaves reach classic users at
   * once (they know no statuses), and every change reaches qim users in the next batch. Callers
   * decide what others may see: an invisible user's changes are never announced.
   */
  announce(kind: 'login' | 'logout' | 'status', name: string, endpoint: Endpoint): void {
    const ctx = this.ctx;
    if (kind !== 'status') {
      const bytes = encodeClassic({ kind, name, endpoint });
      let recipients = 0;
      for (const user of ctx.directory.users()) {
        if (user.name === name || user.protocol !== 'classic' || user.instance !== undefined) continue;
        ctx.send(bytes, user.endpoint);
        recipients++;
      }
      ctx.counters.broadcasts++;
      ctx.emit('broadcast', { kind, name, recipients });
    }
    const user = kind !== 'logout' ? ctx.directory.byName(name) : undefined;
    this.#queue(user !== undefined ? entryFor(user) : { op: 'remove', name });
  }

  /**
   * Sends the whole visible list to `to` as a snapshot (fromVersion 0). While a batch is
   * gathering, the answer waits for it (at most one batch window): the snapshot then includes the
   * batch, is encoded once for everyone who asked meanwhile, and they are spared the batch itself.
   */
  sendSnapshot(to: Endpoint): void {
    if (this.#pending.length > 0) {
      this.#waiting.set(endpointKey(to), to);
      this.#skip.add(endpointKey(to));
      return;
    }
    for (const bytes of this.#snapshotDatagrams()) this.ctx.send(bytes, to);
  }

  /**
   * The same for a request over TCP from the user at `from` (its UDP endpoint): `answer` gets the
   * snapshot's datagrams, now or at the flush.
   */
  whenSnapshot(answer: (datagrams: readonly Buffer[]) => void, from?: Endpoint): void {
    if (this.#pending.length === 0) return answer(this.#snapshotDatagrams());
    this.#waitingTcp.push(answer);
    if (from !== undefined) this.#skip.add(endpointKey(from));
  }

  /**
   * The snapshot's datagrams, encoded and signed once per list version. Only built when no batch
   * is pending, so the directory holds exactly what the version says. (The directory changes in
   * other ways too, a login again from the same place, a heartbeat; what others can see of it
   * does not, or it would have been announced and bumped the version.)
   */
  #snapshotDatagrams(): Buffer[] {
    const cached = this.#snapshotCache;
    if (cached !== null && cached.version === this.#version) return cached.datagrams;
    const datagrams = this.#encode(0, this.#version, [...this.ctx.directory.visible()].map(entryFor));
    this.#snapshotCache = { version: this.#version, datagrams };
    return datagrams;
  }

  /** Sends what is pending now (called by the batch timer; tests may call it). */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const datagrams = this.#encode(this.#published, this.#version, this.#pending);
    this.#pending = [];
    this.#published = this.#version;
    const waiting = this.#waiting;
    const skip = this.#skip;
    const skipping = skip.size > 0;
    for (const to of this.recipients()) {
      if (skipping && skip.has(endpointKey(to))) continue;
      for (const bytes of datagrams) this.ctx.send(bytes, to);
    }
    skip.clear();
    if (waiting.size > 0 || this.#waitingTcp.length > 0) {
      const snapshot = this.#snapshotDatagrams();
      for (const to of waiting.values()) for (const bytes of snapshot) this.ctx.send(bytes, to);
      waiting.clear();
      const tcp = this.#waitingTcp;
      this.#waitingTcp = [];
      for (const answer of tcp) answer(snapshot);
    }
  }

  /** Stops the batch timer; requests still waiting are answered with what there is. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const tcp = this.#waitingTcp;
    this.#waitingTcp = [];
    this.#waiting.clear();
    this.#skip.clear();
    for (const answer of tcp) answer([]);
  }

  #queue(entry: PresenceEntry): void {
    this.#version++;
    this.#pending.push(entry);
    // Every batch costs one datagram per recipient: with many online, gather changes for longer
    // (a millisecond more per 50 recipients: 40 ms at 1,000 online, 420 ms at 20,000), which bounds
    // the fan-out's cost in a storm while a quiet server still answers in presenceBatchMs.
    this.#timer ??= setTimeout(() => this.flush(), this.ctx.limits.presenceBatchMs + Math.floor(this.recipientCount() / 20));
  }

  /**
   * Packs entries into PRESENCE datagrams covering versions `from` to `to`, each signed. Every
   * part of a batch names the whole range, and `part`/`parts` let a client tell when it has all
   * of them. Signed once, they go to every recipient as they are: no per-recipient work but the send.
   */
  #encode(from: number, to: number, entries: readonly PresenceEntry[]): Buffer[] {
    const chunks: PresenceEntry[][] = [[]];
    let size = PRESENCE_HEADER_BYTES + PRESENCE_SIGNATURE_BYTES;
    for (const e of entries) {
      const n = presenceEntryBytes(e);
      if (size + n > MAX_DATAGRAM && (chunks.at(-1)?.length ?? 0) > 0) {
        chunks.push([]);
        size = PRESENCE_HEADER_BYTES + PRESENCE_SIGNATURE_BYTES;
      }
      chunks.at(-1)?.push(e);
      size += n;
    }
    return chunks.map((chunk, i) => {
      const bytes = encodeV2({ type: 'presence', epoch: this.epoch, fromVersion: from, toVersion: to, part: i, parts: chunks.length, entries: chunk, signature: NO_SIGNATURE });
      sign(this.identity, presenceSigned(bytes)).copy(bytes, bytes.length - PRESENCE_SIGNATURE_BYTES);
      return bytes;
    });
  }
}

const NO_SIGNATURE = Buffer.alloc(PRESENCE_SIGNATURE_BYTES);

function endpointKey(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}
