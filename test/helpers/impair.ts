/**
 * A user-space UDP impairment proxy for tests (the test kernel has no netem).
 *
 *   client ──▶ front ══(toTarget)══▶ back ──▶ target
 *   client ◀── front ◀═(toClient)══ back ◀── target
 *
 * The proxy binds two loopback sockets on port 0. Whatever arrives at the *front* is forwarded to
 * `target` from the *back* socket; whatever arrives at the back is forwarded, from the front, to the
 * most recent source seen at the front. A peer that sends to `proxy.front` therefore talks to the
 * target, and the target sees `proxy.back` as that peer's endpoint (like a full-cone NAT: anyone
 * who learns the back endpoint can reach the client through it).
 *
 * Each direction can lose, duplicate, reorder, delay and corrupt datagrams. Every random decision
 * comes from a seeded PRNG, and the decisions for the n-th datagram in a direction depend only on
 * (seed, direction, n) — so the same seed replays the same drop pattern. `start()` logs
 * `describe()` once; replay a failure by passing that `seed` (or setting `QIM_IMPAIR_SEED` for
 * proxies started without an explicit seed).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mulberry32 } from './prng.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Impairment for one direction. Probabilities are 0..1; omitted fields mean "none". */
export interface Impairment {
  /** Chance a datagram is dropped. */
  readonly loss?: number;
  /** Chance a datagram is sent twice; the copy follows after a small random delay (1–10 ms). */
  readonly duplicate?: number;
  /** Chance a datagram is held for an extra random delay (`reorderDelayMs`) so later ones overtake it. */
  readonly reorder?: number;
  /** Base delay range `[min, max]` in ms applied to every datagram (uniform). Default `[0, 0]`. */
  readonly delayMs?: readonly [number, number];
  /** Extra hold for reordered datagrams, `[min, max]` ms. Default `[10, 40]`. */
  readonly reorderDelayMs?: readonly [number, number];
  /** Chance a datagram has 1–3 distinct random bits flipped (in a copy; length never changes). */
  readonly corrupt?: number;
}

export interface ImpairOptions extends Impairment {
  /** Where datagrams arriving at the front go. */
  readonly target: Endpoint;
  /** Overrides for client → target only (field by field over the shared settings). */
  readonly toTarget?: Impairment;
  /** Overrides for target → client only (field by field over the shared settings). */
  readonly toClient?: Impairment;
  /** PRNG seed (uint32). Default: `QIM_IMPAIR_SEED` from the environment, else random. */
  readonly seed?: number;
  /** Where the start line goes: a function, or `false` for silence. Default `console.log`. */
  readonly log?: false | ((line: string) => void);
}

/** What `setOptions` accepts: shared fields apply to both directions (clearing per-direction overrides of the same field). */
export type ImpairUpdate = Impairment & {
  readonly toTarget?: Impairment;
  readonly toClient?: Impairment;
};

export type Direction = 'toTarget' | 'toClient';

export interface DirectionStats {
  /** Datagrams that arrived at the proxy for this direction. */
  received: number;
  /** Datagrams sent on (duplicates included). */
  forwarded: number;
  /** Datagrams dropped by `loss`. */
  dropped: number;
  /** Extra copies scheduled by `duplicate`. */
  duplicated: number;
  /** Datagrams held back by `reorder`. */
  reordered: number;
  /** Datagrams whose bits were flipped by `corrupt`. */
  corrupted: number;
  /** toClient only: datagrams from the back that had no client to go to yet. */
  unroutable: number;
  /** Sends that failed (or were cut off by `close()`). */
  errors: number;
}

interface Resolved {
  loss: number;
  duplicate: number;
  reorder: number;
  delayMs: readonly [number, number];
  reorderDelayMs: readonly [number, number];
  corrupt: number;
}

const KEYS = ['loss', 'duplicate', 'reorder', 'delayMs', 'reorderDelayMs', 'corrupt'] as const;
type Key = (typeof KEYS)[number];
type Mutable = { -readonly [K in Key]?: Impairment[K] };

const DEFAULTS: Resolved = { loss: 0, duplicate: 0, reorder: 0, delayMs: [0, 0], reorderDelayMs: [10, 40], corrupt: 0 };
const RECV_BUFFER = 4 * 1024 * 1024;
const DUP_DELAY_MS: readonly [number, number] = [1, 10];

/** Mixes two 32-bit values into one well-spread 32-bit value (murmur3 finaliser). */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b >>> 0, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function checkImpairment(where: string, imp: Impairment | undefined): void {
  if (!imp) return;
  for (const k of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    const v = imp[k];
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`${where}${k} must be within 0..1, got ${v}`);
  }
  for (const k of ['delayMs', 'reorderDelayMs'] as const) {
    const r = imp[k];
    if (r !== undefined && !(r[0] >= 0 && r[1] >= r[0] && Number.isFinite(r[1]))) {
      throw new RangeError(`${where}${k} must be [min, max] with 0 <= min <= max, got [${r.join(', ')}]`);
    }
  }
}

function pick(imp: Impairment | undefined): Mutable {
  const out: Mutable = {};
  if (!imp) return out;
  for (const k of KEYS) {
    const v = imp[k];
    if (v !== undefined) (out as Record<Key, unknown>)[k] = k === 'delayMs' || k === 'reorderDelayMs' ? [...(v as readonly number[])] : v;
  }
  return out;
}

function fmtRange(r: readonly [number, number]): string {
  return r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`;
}

function fmt(r: Resolved): string {
  let s = `loss=${r.loss} dup=${r.duplicate} reorder=${r.reorder} delay=${fmtRange(r.delayMs)}ms corrupt=${r.corrupt}`;
  if (r.reorder > 0) s += ` hold=${fmtRange(r.reorderDelayMs)}ms`;
  return s;
}

function emptyStats(): DirectionStats {
  return { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, unroutable: 0, errors: 0 };
}

function bind(): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      // Bursty tests overrun the default ~200 KB receive buffer; the kernel caps this at rmem_max.
      try {
        socket.setRecvBufferSize(RECV_BUFFER);
        socket.setSendBufferSize(RECV_BUFFER);
      } catch {
        // keep the defaults
      }
      resolve(socket);
    });
  });
}

function defaultSeed(): number {
  const env = process.env['QIM_IMPAIR_SEED'];
  if (env !== undefined && env.trim() !== '' && Number.isFinite(Number(env))) return Number(env) >>> 0;
  return Math.floor(Math.random() * 4294967296) >>> 0;
}

export class ImpairProxy {
  /** The PRNG seed in use (uint32) — pass it back as `seed` to replay. */
  readonly seed: number;
  readonly target: Endpoint;
  readonly stats: { readonly toTarget: DirectionStats; readonly toClient: DirectionStats } = {
    toTarget: emptyStats(),
    toClient: emptyStats(),
  };

  readonly #front: Socket;
  readonly #back: Socket;
  #shared: Mutable;
  #per: Record<Direction, Mutable>;
  #client: Endpoint | undefined;
  #counter: Record<Direction, number> = { toTarget: 0, toClient: 0 };
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  private constructor(front: Socket, back: Socket, options: ImpairOptions) {
    this.#front = front;
    this.#back = back;
    this.target = { address: options.target.address, port: options.target.port };
    this.seed = options.seed === undefined ? defaultSeed() : options.seed >>> 0;
    this.#shared = pick(options);
    this.#per = { toTarget: pick(options.toTarget), toClient: pick(options.toClient) };

    // A stray ICMP-driven error must not crash the test process.
    front.on('error', () => {});
    back.on('error', () => {});
    front.on('message', (msg, rinfo) => this.#onFront(msg, rinfo));
    back.on('message', (msg) => this.#onBack(msg));
  }

  /** Binds the front and back sockets on 127.0.0.1:0 and logs `describe()` once. */
  static async start(options: ImpairOptions): Promise<ImpairProxy> {
    checkImpairment('', options);
    checkImpairment('toTarget.', options.toTarget);
    checkImpairment('toClient.', options.toClient);
    const front = await bind();
    let back: Socket;
    try {
      back = await bind();
    } catch (err) {
      front.close();
      throw err;
    }
    const proxy = new ImpairProxy(front, back, options);
    const log = options.log === undefined ? (line: string) => console.log(line) : options.log;
    if (log) log(proxy.describe());
    return proxy;
  }

  /** Where clients send: datagrams here go to the target. */
  get front(): Endpoint {
    const a = this.#front.address();
    return { address: a.address, port: a.port };
  }

  /** What the target sees as the client's endpoint. */
  get back(): Endpoint {
    const a = this.#back.address();
    return { address: a.address, port: a.port };
  }

  /** The most recent source seen at the front, if any. */
  get client(): Endpoint | undefined {
    return this.#client;
  }

  /** Deliveries scheduled but not yet sent. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The effective settings for one direction. */
  settings(direction: Direction): Readonly<Resolved> {
    return { ...DEFAULTS, ...this.#shared, ...this.#per[direction] } as Resolved;
  }

  /**
   * Changes impairment live (affects datagrams arriving from now on). Shared fields apply to both
   * directions and clear any per-direction override of the same field, so `setOptions({ loss: 1 })`
   * always blackholes both ways; `toTarget` / `toClient` then override field by field.
   */
  setOptions(update: ImpairUpdate): void {
    checkImpairment('', update);
    checkImpairment('toTarget.', update.toTarget);
    checkImpairment('toClient.', update.toClient);
    const shared = pick(update);
    this.#shared = { ...this.#shared, ...shared };
    for (const dir of ['toTarget', 'toClient'] as const) {
      const per: Mutable = { ...this.#per[dir] };
      for (const k of Object.keys(shared) as Key[]) delete per[k];
      this.#per[dir] = { ...per, ...pick(update[dir]) };
    }
  }

  /** `impair seed=… front=… target=… loss=… dup=… …` — print it so a failure can be replayed. */
  describe(): string {
    const t = fmt(this.settings('toTarget'));
    const c = fmt(this.settings('toClient'));
    const where = this.#closed ? '' : ` front=${this.front.port} back=${this.back.port}`;
    const head = `impair seed=${this.seed}${where} target=${this.target.address}:${this.target.port}`;
    return t === c ? `${head} ${t}` : `${head} toTarget(${t}) toClient(${c})`;
  }

  /** Stops forwarding, cancels every scheduled delivery and closes both sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all([this.#front, this.#back].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  #onFront(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.#client = { address: rinfo.address, port: rinfo.port };
    this.#impair('toTarget', msg);
  }

  #onBack(msg: Buffer): void {
    if (this.#closed) return;
    this.#impair('toClient', msg);
  }

  #impair(dir: Direction, msg: Buffer): void {
    const stats = this.stats[dir];
    stats.received++;
    const n = this.#counter[dir]++;
    const s = this.settings(dir);
    // One independent stream per datagram, with a fixed draw order: the first draw is always the
    // loss decision, so the drop pattern depends only on (seed, direction, index, loss).
    const rand = mulberry32(mix(mix(this.seed, dir === 'toTarget' ? 1 : 2), n));
    const rLoss = rand();
    const rDup = rand();
    const rReorder = rand();
    const rCorrupt = rand();
    const rDelay = rand();
    const rHold = rand();
    const rDupDelay = rand();

    if (rLoss < s.loss) {
      stats.dropped++;
      return;
    }
    let bytes = msg;
    if (rCorrupt < s.corrupt && msg.length > 0) {
      bytes = Buffer.from(msg);
      const bits = msg.length * 8;
      const flips = Math.min(bits, 1 + Math.floor(rand() * 3));
      const chosen = new Set<number>();
      while (chosen.size < flips) chosen.add(Math.floor(rand() * bits));
      for (const bit of chosen) bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
      stats.corrupted++;
    }
    let delay = s.delayMs[0] + rDelay * (s.delayMs[1] - s.delayMs[0]);
    if (rReorder < s.reorder) {
      delay += s.reorderDelayMs[0] + rHold * (s.reorderDelayMs[1] - s.reorderDelayMs[0]);
      stats.reordered++;
    }
    this.#schedule(dir, bytes, delay);
    if (rDup < s.duplicate) {
      stats.duplicated++;
      this.#schedule(dir, bytes, delay + DUP_DELAY_MS[0] + rDupDelay * (DUP_DELAY_MS[1] - DUP_DELAY_MS[0]));
    }
  }

  #schedule(dir: Direction, bytes: Buffer, delayMs: number): void {
    if (delayMs <= 0) {
      this.#send(dir, bytes);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#send(dir, bytes);
    }, delayMs);
    this.#timers.add(timer);
  }

  #send(dir: Direction, bytes: Buffer): void {
    if (this.#closed) return;
    const stats = this.stats[dir];
    let socket: Socket;
    let to: Endpoint;
    if (dir === 'toTarget') {
      socket = this.#back;
      to = this.target;
    } else {
      if (!this.#client) {
        stats.unroutable++;
        return;
      }
      socket = this.#front;
      to = this.#client;
    }
    stats.forwarded++;
    socket.send(bytes, to.port, to.address, (err) => {
      if (err) stats.errors++;
    });
  }
}

export { mulberry32 };
