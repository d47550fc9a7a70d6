/**
 * Telling online users that someone joined or left.
 *
 * Classic users hear each change as the classic `login`/`logout` datagram, encoded once and sent
 * to each. qim users hear versioned deltas: every change bumps the list version, changes that
 * happen within `presenceBatchMs` of each other go out together, packed into as few PRESENCE
 * datagrams as fit in 1,200 bytes, encoded and signed once with the server's key and sent to
 * every recipient as they are. So a storm of N logins costs each qim user about N / 20 datagrams
 * rather than N, and the server one send per datagram per user. The batches are kept (as many
 * entries as the list holds): a user who misses a delta sees the gap between versions and asks
 * for the list from the version it has (LIST-REQUEST), and gets the kept batches since, the same
 * datagrams again; one whose version is not kept gets a snapshot, and a snapshot asked for while a
 * batch gathers is sent with it, built once for all who asked.
 *
 * In a storm (a batch of many entries, a large part of the list) deltas would still cost every
 * user nearly every other user in datagrams. The hub then *holds*: everyone gets one LIST-HOLD,
 * batches stop, list requests are answered with the LIST-HOLD; when batches are small again (or
 * after maxHoldMs) everyone gets a LIST-HOLD with no wait (the list settled), and each fetches
 * the whole list over TCP once, spread over a moment.
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
  type V2Message,
} from '../protocol/v2/messages.js';
import type { ServerContext } from './context.js';
import type { OnlineUser } from './directory.js';

/** What a classic user, who has no key, is listed with. */
const NO_FINGERPRINT = Buffer.alloc(FINGERPRINT_BYTES);

/**
 * A storm grows the list by this many a second or more (and, to start a hold, by this many and
 * by half within STORM_HORIZON_MS); a batch this large, an eighth of the list, is one whatever
 * its window.
 */
export const HOLD_MIN_ENTRIES = 100;
/**
 * How far back the list's growth is measured when telling a storm from churn: a batch window is
 * short (70 ms at 1,000 users), and a storm that a slower machine lets in at 700 logins a second
 * fills no batch with HOLD_MIN_ENTRIES, yet costs every user a delta per window for seconds.
 */
export const STORM_HORIZON_MS = 1000;
/**
 * A hold goes on while the list grew at HOLD_MIN_ENTRIES a second over the last this many ms (or
 * the batch's window, when longer): logins come in bursts (a slow server, clients resending), and
 * a settle in a lull between two of them, with the storm still on, costs everyone a list twice.
 */
export const HOLD_CALM_MS = 250;
/**
 * The longest hold with `users` listed: 4 s and half a millisecond per user (6.5 s at 5,000, 14 s
 * at 20,000), so that a storm is usually over before the list settles; a settle that comes too
 * soon costs every user another whole list at the next hold.
 */
export function maxHoldMs(users: number): number {
  return 4000 + Math.ceil(users / 2);
}
/**
 * The pace held clients are asked to fetch at: the spread is the lists' bytes (each recipient's
 * whole list) over this many bytes a millisecond, what loopback TCP carries on the 2-core
 * machine of docs/LIMITS.md while the users read (1.9 s at 5,000 users, 30 s at 20,000).
 */
const SPREAD_BYTES_PER_MS = 500_000;
/**
 * Deltas to send a second, past which a batch of a growing list starts a hold whatever its size:
 * the fan-out's cost (a send per datagram per recipient) is what a hold saves, and a storm that
 * goes on after a settle (logins that were turned away, or backed off, and come back) would
 * otherwise cost every user a delta per window for as long as it lasts.
 */
export const FANOUT_PER_SECOND = 100_000;
/** About what a list entry takes in a snapshot, for a spread announced before the snapshot exists. */
const ENTRY_BYTES_ESTIMATE = 40;
/** Batches are kept for catching up while they hold no more entries than the list, or than this. */
export const KEPT_MIN_ENTRIES = 1024;

/** A published batch, kept so that a client behind by it can catch up: its range, its datagrams as sent, its entries. */
interface KeptBatch {
  readonly from: number;
  readonly to: number;
  readonly entries: number;
  readonly datagrams: readonly Buffer[];
}

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

/** What a LIST-HOLD (or a WELCOME during a hold) asks of a client: wait, then fetch within the spread. */
export interface HoldTerms {
  readonly waitMs: number;
  readonly spreadMs: number;
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
  /** The batches published lately, oldest first, each following on from the one before (see catchUp). */
  readonly #kept: KeptBatch[] = [];
  #keptEntries = 0;
  /** Catch-up answers built for the version published now, by the version they start from. */
  readonly #catchUps = new Map<number, readonly Buffer[]>();
  #catchUpsAt = 0;
  /** Users who asked for the whole list while a batch was gathering: they get it at the flush. */
  readonly #waiting = new Map<string, Endpoint>();
  #waitingTcp: ((datagrams: readonly Buffer[]) => void)[] = [];
  /** Users who get the next batch within their snapshot: not sent it on its own. */
  readonly #skip = new Set<string>();
  /** The hold in force (a storm): when it began, and the LIST-HOLD that answers list requests. */
  #hold: { since: number; from: number; notice: Buffer[]; terms: HoldTerms } | null = null;
  /** The batch timer's length when it was armed (a batch's entries over it: the rate of change). */
  #armedMs = 0;
  /** The list's size at the last batch (what it grew by since is the batch's net growth). */
  #flushedSize = 0;
  readonly #growth = new Growth(STORM_HORIZON_MS);
  /** The sends of the batches of the last STORM_HORIZON_MS (a datagram to a recipient is one), for the fan-out budget. */
  readonly #sends: { at: number; sends: number }[] = [];

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

  /** Whether a hold is in force (a storm: deltas wait, list requests get a LIST-HOLD). */
  get holding(): boolean {
    return this.#hold !== null;
  }

  /** The wait and spread of the hold in force, as its LIST-HOLD names them (WELCOME carries them); null when none. */
  get holdTerms(): HoldTerms | null {
    return this.#hold?.terms ?? null;
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
      for (const user of ctx.directory.classicLocals()) {
        if (user.name === name) continue;
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
   * Answers a LIST-REQUEST over UDP from `to`, who has the list at `version`: the batches since,
   * when they are kept (see catchUp); else the whole visible list as a snapshot (fromVersion 0).
   * While a batch is gathering, a snapshot waits for it (at most one batch window): it then
   * includes the batch, is encoded once for everyone who asked meanwhile, and they are spared the
   * batch itself.
   */
  sendSnapshot(to: Endpoint, version = 0): void {
    if (this.#hold !== null) {
      for (const bytes of this.#hold.notice) this.ctx.send(bytes, to);
      return;
    }
    const since = this.#countedCatchUp(version);
    if (since !== null) {
      for (const bytes of since) this.ctx.send(bytes, to);
      return;
    }
    if (this.#pending.length > 0) {
      this.#waiting.set(endpointKey(to), to);
      this.#skip.add(endpointKey(to));
      return;
    }
    for (const bytes of this.#snapshotDatagrams()) this.ctx.send(bytes, to);
  }

  /**
   * The same for a request over TCP from the user at `from` (its UDP endpoint): `answer` gets the
   * batches since `version`, or the snapshot's datagrams, now or at the flush.
   */
  whenSnapshot(answer: (datagrams: readonly Buffer[]) => void, from?: Endpoint, version = 0): void {
    if (this.#hold !== null) return answer(this.#hold.notice);
    const since = this.#countedCatchUp(version);
    if (since !== null) return answer(since);
    if (this.#pending.length === 0) return answer(this.#snapshotDatagrams());
    this.#waitingTcp.push(answer);
    if (from !== undefined) this.#skip.add(endpointKey(from));
  }

  /**
   * The published batches since `version`, in order, when `version` is where a kept batch starts
   * and they hold fewer entries than the list (a snapshot is no longer then, and replaces the list
   * outright); null otherwise (version 0, one not kept or never published, or the one published
   * now: that client is behind only by what is gathering, or asks for nothing it lacks). Built
   * once per starting version while the published version stands.
   */
  catchUp(version: number): readonly Buffer[] | null {
    const kept = this.#kept;
    if (version <= 0 || version >= this.#published || kept.length === 0 || version < (kept[0] as KeptBatch).from) return null;
    if (this.#catchUpsAt !== this.#published) {
      this.#catchUps.clear();
      this.#catchUpsAt = this.#published;
    }
    const cached = this.#catchUps.get(version);
    if (cached !== undefined) return cached;
    // Batches follow on from each other: find the one starting at `version` by bisection.
    let lo = 0;
    let hi = kept.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((kept[mid] as KeptBatch).from < version) lo = mid + 1;
      else hi = mid;
    }
    if ((kept[lo] as KeptBatch).from !== version) return null;
    let entries = 0;
    for (let i = lo; i < kept.length; i++) entries += (kept[i] as KeptBatch).entries;
    if (entries >= this.ctx.directory.size) return null;
    const answer = kept.slice(lo).flatMap((b) => b.datagrams);
    // A handful of starting versions at most (clients are at a settle's version or a batch's);
    // one that asks from an odd version costs one build, no more than a snapshot would.
    if (this.#catchUps.size < 64) this.#catchUps.set(version, answer);
    return answer;
  }

  /** catchUp, for a request it answers: counted. */
  #countedCatchUp(version: number): readonly Buffer[] | null {
    const since = this.catchUp(version);
    if (since !== null) this.ctx.counters.catchUps++;
    return since;
  }

  /** Keeps a published batch for catching up, and forgets the oldest past the list's length. */
  #keep(from: number, to: number, entries: number, datagrams: readonly Buffer[]): void {
    // Copied into one buffer of their own: each was cut from a shared 8 KiB slab, which it would
    // keep alive for as long as it is kept (five times its size, measured in a storm).
    let total = 0;
    for (const d of datagrams) total += d.length;
    const own = Buffer.allocUnsafeSlow(total);
    let at = 0;
    const copies = datagrams.map((d) => {
      d.copy(own, at);
      at += d.length;
      return own.subarray(at - d.length, at);
    });
    this.#kept.push({ from, to, entries, datagrams: copies });
    this.#keptEntries += entries;
    const most = Math.max(KEPT_MIN_ENTRIES, this.ctx.directory.size);
    while (this.#keptEntries > most && this.#kept.length > 1) this.#keptEntries -= (this.#kept.shift() as KeptBatch).entries;
  }

  /** Publishes what is pending as a batch (kept for catching up) and answers its datagrams. */
  #publish(): Buffer[] {
    const datagrams = this.#encode(this.#published, this.#version, this.#pending);
    this.#keep(this.#published, this.#version, this.#pending.length, datagrams);
    this.#pending = [];
    this.#published = this.#version;
    return datagrams;
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
    const k = this.#pending.length;
    const now = Date.now();
    const size = this.ctx.directory.size;
    const grew = this.#growth.note(now, size);
    const net = size - this.#flushedSize;
    this.#flushedSize = size;
    // The list growing by HOLD_MIN_ENTRIES a second or more over this batch's window.
    const growing = net >= HOLD_MIN_ENTRIES || (net > 0 && net * 1000 >= HOLD_MIN_ENTRIES * this.#armedMs);
    if (this.#hold !== null) {
      // Still a storm: hold on (nothing sent). Calm (the list no longer growing: churn keeps
      // changing it, a storm grows it), or held long enough: settle.
      const span = Math.max(this.#armedMs, HOLD_CALM_MS);
      const recent = this.#growth.over(now, span);
      const storming = recent > 0 && recent * 1000 >= HOLD_MIN_ENTRIES * span;
      return storming && now - this.#hold.since < maxHoldMs(size) ? this.#holdOn() : this.#settle();
    }
    if (k === 0) return;
    // A storm that grows the list by an eighth in one batch, or by half within the horizon. A burst
    // smaller than that (the first second of churn, joiners not yet leaving) costs less as deltas
    // than as everyone's whole list again; churn itself grows nothing.
    if ((k >= HOLD_MIN_ENTRIES && k * 8 >= size) || (growing && grew >= HOLD_MIN_ENTRIES && grew * 2 >= size)) return this.#holdOn();
    const from = this.#published;
    const datagrams = this.#publish();
    // A storm past the fan-out budget: hold (the batch is kept, not sent).
    if (growing && this.#fanout(now, datagrams.length * this.recipientCount()) > FANOUT_PER_SECOND) return this.#holdOn(from);
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

  /**
   * The sends a second that a batch of `sends` makes, with those of the last STORM_HORIZON_MS
   * (or its own window, when longer): batches vary with the moment logins come, and one full
   * batch among small ones is no storm.
   */
  #fanout(now: number, sends: number): number {
    const recent = this.#sends;
    recent.push({ at: now, sends });
    while (recent.length > 0 && (recent[0] as { at: number }).at <= now - STORM_HORIZON_MS) recent.shift();
    let total = 0;
    for (const r of recent) total += r.sends;
    return (total * 1000) / Math.max(STORM_HORIZON_MS, this.#armedMs);
  }

  /**
   * Starts or continues a hold: what is pending counts as sent (the version moves on, nothing goes
   * out), a LIST-HOLD for the new version answers whoever asked for the list, and a timer ends the
   * hold after a batch window with nothing pending.
   */
  #holdOn(from = this.#published): void {
    const now = Date.now();
    const starting = this.#hold === null;
    const since = this.#hold?.since ?? now;
    const heldFrom = this.#hold?.from ?? from;
    // Not sent, but kept: a user who fetched a list before this hold catches up from it.
    if (this.#pending.length > 0) this.#publish();
    const window = this.#window();
    const listBytes = this.ctx.directory.size * ENTRY_BYTES_ESTIMATE;
    const terms = this.#holdTerms(Math.max(0, maxHoldMs(this.ctx.directory.size) - (now - since)) + window + 1000, listBytes, heldFrom);
    const notice = this.#holdNotice(terms);
    this.#hold = { since, from: heldFrom, notice: [notice], terms };
    if (starting) {
      this.ctx.counters.presenceHolds++;
      this.ctx.emit('presence-hold', { holding: true, version: this.#version });
      for (const to of this.recipients()) this.ctx.send(notice, to);
    } else for (const to of this.#waiting.values()) this.ctx.send(notice, to);
    this.#waiting.clear();
    this.#skip.clear();
    const tcp = this.#waitingTcp;
    this.#waitingTcp = [];
    for (const answer of tcp) answer(this.#hold.notice);
    this.#armedMs = window;
    this.#timer = setTimeout(() => this.flush(), window);
  }

  /**
   * Ends the hold: what is pending counts as sent, and everyone gets a LIST-HOLD with no wait (the
   * list settled at this version: fetch it, within the spread). Requests are answered with
   * snapshots again.
   */
  #settle(): void {
    const heldFrom = this.#hold?.from ?? this.#published;
    this.#hold = null;
    // Growth from here on: everyone is about to fetch the list as it stands.
    this.#growth.restart(Date.now(), this.ctx.directory.size);
    if (this.#pending.length > 0) this.#publish();
    // The snapshot everyone is about to fetch, built now (once for all) and measured for the spread.
    let listBytes = 0;
    for (const d of this.#snapshotDatagrams()) listBytes += 2 + d.length;
    const notice = this.#holdNotice(this.#holdTerms(0, listBytes, heldFrom));
    for (const to of this.recipients()) this.ctx.send(notice, to);
    this.ctx.emit('presence-hold', { holding: false, version: this.#version });
  }

  /**
   * Wait `waitMs`, then fetch within a spread long enough for what the recipients will fetch, at
   * SPREAD_BYTES_PER_MS: those who had a list when the hold began at version `heldFrom` catch up
   * with the hold's batches, the others (as many as the hold's changes, at most) fetch the whole
   * list of `listBytes`.
   */
  #holdTerms(waitMs: number, listBytes: number, heldFrom: number): HoldTerms {
    let changes = 0;
    let changeBytes = 0;
    for (let i = this.#kept.length - 1; i >= 0; i--) {
      const b = this.#kept[i] as KeptBatch;
      if (b.from < heldFrom) break;
      changes += b.entries;
      for (const d of b.datagrams) changeBytes += 2 + d.length;
    }
    const recipients = this.recipientCount();
    const newcomers = Math.min(recipients, changes);
    const bytes = newcomers * listBytes + (recipients - newcomers) * Math.min(changeBytes, listBytes);
    return {
      waitMs: Math.min(0xffff, waitMs),
      spreadMs: Math.min(0xffff, Math.ceil(bytes / SPREAD_BYTES_PER_MS)),
    };
  }

  /** A signed LIST-HOLD for the current version, with `terms`. */
  #holdNotice(terms: HoldTerms): Buffer {
    return this.#signed({ type: 'list-hold', epoch: this.epoch, version: this.#version, ...terms, signature: NO_SIGNATURE });
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
    // (a millisecond more per 20 recipients: 70 ms at 1,000 online, 1,020 ms at 20,000), which bounds
    // the fan-out's cost in a storm while a quiet server still answers in presenceBatchMs.
    if (this.#timer === null) {
      this.#armedMs = this.#window();
      this.#timer = setTimeout(() => this.flush(), this.#armedMs);
    }
  }

  #window(): number {
    return this.ctx.limits.presenceBatchMs + Math.floor(this.recipientCount() / 20);
  }

  /** Encodes `m` and signs it with the server's key (the signature is its last 64 bytes). */
  #signed(m: V2Message): Buffer {
    const bytes = encodeV2(m);
    sign(this.identity, presenceSigned(bytes)).copy(bytes, bytes.length - PRESENCE_SIGNATURE_BYTES);
    return bytes;
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
    return chunks.map((chunk, i) =>
      this.#signed({ type: 'presence', epoch: this.epoch, fromVersion: from, toVersion: to, part: i, parts: chunks.length, entries: chunk, signature: NO_SIGNATURE }),
    );
  }
}

const NO_SIGNATURE = Buffer.alloc(PRESENCE_SIGNATURE_BYTES);

function endpointKey(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

/**
 * How much the list grew lately: the size at each batch, against the last one recorded at least
 * `horizonMs` before (or the oldest kept). Sparse samples mean slow change, so a longer look back
 * then still tells a storm from a quiet server.
 */
export class Growth {
  readonly #samples: { at: number; size: number }[] = [];

  constructor(private readonly horizonMs: number) {}

  /** Records the list's size `size` at `now`; answers how much it grew since the horizon. */
  note(now: number, size: number): number {
    const s = this.#samples;
    s.push({ at: now, size });
    // Keep one sample at or before the horizon as the anchor (samples come at most one a batch).
    while (s.length > 2 && (s[1] as { at: number }).at <= now - this.horizonMs) s.shift();
    return size - (s[0] as { size: number }).size;
  }

  /**
   * How much the list grew over the last `spanMs` before `now` (the last size noted): from the
   * newest sample at or before `now - spanMs`, or the oldest kept when none is that old.
   */
  over(now: number, spanMs: number): number {
    const s = this.#samples;
    const last = s[s.length - 1];
    if (last === undefined) return 0;
    let from = s[0] as { at: number; size: number };
    for (const sample of s) {
      if (sample.at > now - spanMs) break;
      from = sample;
    }
    return last.size - from.size;
  }

  /** Forgets the growth so far: `size` at `now` is where it is measured from. */
  restart(now: number, size: number): void {
    this.#samples.length = 0;
    this.#samples.push({ at: now, size });
  }
}
