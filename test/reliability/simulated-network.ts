/**
 * A deterministic discrete-event simulation of two peers chatting through a bad network: each peer
 * has a ReliableSender and a ReliableReceiver, and every datagram (data, skip notice, ack) may be
 * lost, duplicated, delayed and reordered, in both directions. Time is virtual: the loop jumps to
 * the next network arrival, scheduled send or sender wakeup, so nothing ever sleeps.
 */
import type { Ack } from '../../src/reliability/ack.js';
import type { ReceiverOptions, SenderOptions } from '../../src/reliability/options.js';
import { ReliableReceiver } from '../../src/reliability/receiver.js';
import { ReliableSender } from '../../src/reliability/sender.js';
import { mulberry32 } from '../helpers/prng.js';

/** How one direction of the network mistreats datagrams. */
export interface LinkConditions {
  /** Probability a datagram is lost. */
  readonly loss: number;
  /** Probability a datagram that is not lost arrives twice. */
  readonly duplicate: number;
  /** Probability a copy is held back by `reorderDelayMs`, letting later datagrams overtake it. */
  readonly reorder: number;
  /** Base one-way delay. */
  readonly delayMs: number;
  /** Uniform extra delay in [0, jitterMs): reorders datagrams sent close together. */
  readonly jitterMs: number;
  /** Extra delay of a reordered copy. */
  readonly reorderDelayMs: number;
}

export interface SimulationConfig {
  readonly seed: number;
  /** Messages sent by peer A to B, and by B to A. */
  readonly messages: readonly [ab: number, ba: number];
  /** Virtual time between two sends of one peer (0: all at time 0). */
  readonly sendIntervalMs: number;
  readonly link: LinkConditions;
  readonly sender?: Partial<SenderOptions>;
  readonly receiver?: Partial<ReceiverOptions>;
  /** Safety net against a livelock bug: the loop fails after this many iterations. */
  readonly maxSteps?: number;
}

/** What happened to one direction of the conversation. */
export interface DirectionResult {
  /** Messages sent (message i has seq i + 1 and a payload encoding i). */
  readonly sent: number;
  /** Message indices handed to the receiving app, in the order handed over. */
  readonly received: number[];
  /** Seqs the sender reported delivered, in report order. */
  readonly delivered: number[];
  /** Seqs the sender reported failed, in report order. */
  readonly failed: number[];
  readonly sender: ReliableSender;
  readonly receiver: ReliableReceiver;
}

export interface SimulationResult {
  readonly ab: DirectionResult;
  readonly ba: DirectionResult;
  /** Virtual time when everything settled. */
  readonly endMs: number;
  readonly steps: number;
  /** Datagrams put on the wire, and copies actually arriving. */
  readonly datagrams: number;
  readonly arrivals: number;
}

type Packet =
  | { readonly kind: 'data'; readonly seq: number; readonly payload: Uint8Array; readonly floor: number }
  | { readonly kind: 'skip'; readonly floor: number }
  | { readonly kind: 'ack'; readonly ack: Ack };

interface Arrival {
  readonly at: number;
  readonly order: number;
  /** Peer the packet arrives at. */
  readonly to: 0 | 1;
  readonly packet: Packet;
}

/** A binary min-heap of arrivals by (time, insertion order): deterministic tie-breaking. */
class ArrivalQueue {
  readonly #heap: Arrival[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): Arrival | undefined {
    return this.#heap[0];
  }

  push(a: Arrival): void {
    const h = this.#heap;
    h.push(a);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Arrival | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Arrival, b: Arrival): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

function encodeIndex(i: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

function decodeIndex(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
}

interface Peer {
  readonly sender: ReliableSender;
  readonly receiver: ReliableReceiver;
  readonly toSend: number;
  nextToSend: number;
  /** What this peer's app received from the other peer. */
  readonly received: number[];
  readonly delivered: number[];
  readonly failed: number[];
}

/** Runs the two peers until every message is settled and the network is quiet. */
export function simulate(config: SimulationConfig): SimulationResult {
  const rand = mulberry32(config.seed);
  const { link } = config;
  const maxSteps = config.maxSteps ?? 5_000_000;
  const net = new ArrivalQueue();
  let order = 0;
  let datagrams = 0;
  let arrivals = 0;
  const peer = (toSend: number): Peer => ({
    sender: new ReliableSender(config.sender),
    receiver: new ReliableReceiver(config.receiver),
    toSend,
    nextToSend: 0,
    received: [],
    delivered: [],
    failed: [],
  });
  const peers: [Peer, Peer] = [peer(config.messages[0]), peer(config.messages[1])];

  const transmit = (to: 0 | 1, packet: Packet, now: number): void => {
    datagrams++;
    if (rand() < link.loss) return;
    const copies = rand() < link.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = link.delayMs + rand() * link.jitterMs;
      if (rand() < link.reorder) delay += link.reorderDelayMs;
      // Copy what goes on the wire, so no state is shared between the peers by reference.
      const wire: Packet =
        packet.kind === 'data'
          ? { ...packet, payload: packet.payload.slice() }
          : packet.kind === 'ack'
            ? { kind: 'ack', ack: { cumulative: packet.ack.cumulative, ranges: packet.ack.ranges.map(([s, e]) => [s, e] as const) } }
            : packet;
      net.push({ at: now + delay, order: order++, to, packet: wire });
    }
  };

  const nextSendTime = (p: Peer): number | null =>
    p.nextToSend < p.toSend ? p.nextToSend * config.sendIntervalMs : null;

  let now = 0;
  let steps = 0;
  for (;;) {
    if (++steps > maxSteps) throw new Error(`simulation did not settle after ${maxSteps} steps (t=${now} ms)`);
    for (const [i, p] of peers.entries()) {
      for (let t = nextSendTime(p); t !== null && t <= now; t = nextSendTime(p)) {
        const seq = p.sender.send(encodeIndex(p.nextToSend), now);
        if (seq !== p.nextToSend + 1) throw new Error(`message ${p.nextToSend} got seq ${seq}`);
        p.nextToSend++;
      }
      const r = p.sender.poll(now);
      p.failed.push(...r.failed);
      const other = i === 0 ? 1 : 0;
      for (const x of r.transmit) transmit(other, { kind: 'data', seq: x.seq, payload: x.payload, floor: x.floor }, now);
      if (r.skipTo !== null) transmit(other, { kind: 'skip', floor: r.skipTo }, now);
    }

    let next = Infinity;
    const head = net.peek();
    if (head !== undefined) next = head.at;
    for (const p of peers) {
      next = Math.min(next, nextSendTime(p) ?? Infinity, p.sender.nextWakeup() ?? Infinity);
    }
    if (next === Infinity) break;
    if (next > now) now = next;

    for (let a = net.peek(); a !== undefined && a.at <= now; a = net.peek()) {
      net.pop();
      arrivals++;
      const p = peers[a.to];
      const back = a.to === 0 ? 1 : 0;
      const pk = a.packet;
      if (pk.kind === 'ack') {
        p.delivered.push(...p.sender.onAck(pk.ack, now).delivered);
        continue;
      }
      const deliver =
        pk.kind === 'data' ? p.receiver.receive(pk.seq, pk.payload, pk.floor).deliver : p.receiver.skipTo(pk.floor).deliver;
      for (const d of deliver) p.received.push(decodeIndex(d));
      // Ack every data message and skip notice, duplicates too: the previous ack may be lost.
      transmit(back, { kind: 'ack', ack: p.receiver.ack() }, now);
    }
  }

  const [a, b] = peers;
  const direction = (from: Peer, to: Peer): DirectionResult => ({
    sent: from.nextToSend,
    received: to.received,
    delivered: from.delivered,
    failed: from.failed,
    sender: from.sender,
    receiver: to.receiver,
  });
  return { ab: direction(a, b), ba: direction(b, a), endMs: now, steps, datagrams, arrivals };
}

