/**
 * Scenario 3, peer messaging: two processes, each one side of a qim `PeerSession`, at 0%, 5% and
 * 20% loss each way (through test/helpers/impair.ts's proxy, in this process); ping-pong latency
 * (one message out, its echo back, one at a time) and throughput (messages per second with many
 * unacknowledged). Baseline: raw UDP between two Node processes, the floor on this machine, over
 * the same path (through the same proxy when there is loss).
 */
import { ImpairProxy } from '../../test/helpers/impair.js';
import { spawnChild, type Child } from '../lib/rpc.js';
import { progress } from '../lib/progress.js';
import { fmt, fmtMs, fmtRatio, percentile, ratio, table } from '../lib/stats.js';
import { loadText } from '../lib/system.js';
import type { PeerImpl } from '../peer-child.js';

export interface PeerRun {
  readonly impl: PeerImpl;
  readonly loss: number;
  readonly pings: number;
  /** Round trips made before the measured ones, unmeasured. */
  readonly warmup: number;
  readonly lost: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Round trips per second, one at a time. */
  readonly pingPerSecond: number;
  /** Messages per second with a window of unacknowledged ones (qim: delivered; raw: echoed). */
  readonly perSecond: number;
  readonly throughputFailed: number;
  readonly load: string;
}

/** At most this many measured round trips, and warm-up ones, through loss (each loss costs a timeout). */
const LOSSY_PINGS = 2000;
const LOSSY_WARMUP = 200;

export interface PeerOptions {
  readonly losses: readonly number[];
  /** Measured round trips at 0% loss (at most LOSSY_PINGS through loss). */
  readonly pings: number;
  /** Unmeasured round trips before them, for both implementations. */
  readonly warmup: number;
  readonly throughputMs: number;
  readonly window: number;
}

async function one(impl: PeerImpl, loss: number, o: PeerOptions): Promise<PeerRun> {
  // QIM_PEER_PROF=DIR: a CPU profile of each side; QIM_PEER_FLAGS: other node flags (--trace-gc, …).
  const flags = process.env.QIM_PEER_FLAGS?.split(' ').filter((f) => f !== '') ?? [];
  if (process.env.QIM_PEER_PROF) flags.push('--cpu-prof', `--cpu-prof-dir=${process.env.QIM_PEER_PROF}`);
  const prof = flags.length > 0 ? { nodeFlags: flags } : {};
  const a = await spawnChild('peer-child.ts', `peer-a-${impl}`, prof);
  const b = await spawnChild('peer-child.ts', `peer-b-${impl}`, prof);
  let proxy: ImpairProxy | null = null;
  try {
    const pa = await a.call<{ port: number; key: Buffer }>('open', { impl });
    const pb = await b.call<{ port: number; key: Buffer }>('open', { impl });
    let toB = { address: '127.0.0.1', port: pb.port };
    if (loss > 0) {
      proxy = await ImpairProxy.start({ target: toB, loss, log: false, seed: 1 });
      toB = proxy.front;
    }
    await a.call('peer', { target: toB, key: pb.key, echo: false });
    await b.call('peer', { target: { address: '127.0.0.1', port: pa.port }, key: pa.key, echo: true });
    const load = loadText();
    // Raw UDP has no retransmission: a lost ping is given up after 200 ms.
    const timeoutMs = impl === 'raw' ? 200 : 30_000;
    // Both sides of both implementations are warmed up alike before the measured round trips (the
    // JIT compiles qim's longer path over the first thousands). Through loss, where the tail is
    // the retransmission timer, fewer of each.
    const pings = loss > 0 ? Math.min(o.pings, LOSSY_PINGS) : o.pings;
    const warmup = loss > 0 ? Math.min(o.warmup, LOSSY_WARMUP) : o.warmup;
    const ping = await a.call<{ rtts: Float64Array; elapsedMs: number }>('pingpong', { count: pings, warmup, timeoutMs });
    await b.call('peer', { target: { address: '127.0.0.1', port: pa.port }, key: pa.key, echo: impl === 'raw' });
    const tp = await a.call<{ delivered: number; failed: number; elapsedMs: number }>('throughput', { durationMs: o.throughputMs, window: o.window });
    const lost = ping.rtts.filter((v) => !Number.isFinite(v)).length;
    return {
      impl,
      loss,
      pings,
      warmup,
      lost,
      p50Ms: percentile(ping.rtts, 50),
      p99Ms: percentile(ping.rtts, 99),
      pingPerSecond: ((pings - lost) * 1000) / ping.elapsedMs,
      perSecond: (tp.delivered * 1000) / tp.elapsedMs,
      throughputFailed: tp.failed,
      load,
    };
  } finally {
    await proxy?.close();
    await Promise.all([a.kill(), b.kill()] as Promise<void>[]);
  }
}

export async function runPeer(o: PeerOptions): Promise<PeerRun[]> {
  const runs: PeerRun[] = [];
  const bar = progress('peer messaging', o.losses.length * 2);
  for (const loss of o.losses) {
    for (const impl of ['qim', 'raw'] as const) {
      bar.update(runs.length, `${impl} ${loss * 100}% loss`);
      runs.push(await one(impl, loss, o));
    }
  }
  bar.stop();
  return runs;
}

export function peerTable(runs: readonly PeerRun[]): string {
  const rows = runs.map((r) => {
    const raw = runs.find((x) => x.impl === 'raw' && x.loss === r.loss);
    return [
      r.impl === 'qim' ? 'qim PeerSession' : 'raw UDP',
      `${Math.round(r.loss * 100)}%`,
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      r.impl === 'qim' && raw ? fmtRatio(ratio(r.p99Ms, raw.p99Ms)) : '',
      `${fmt(r.lost)}/${fmt(r.pings)}`,
      fmt(r.pingPerSecond),
      fmt(r.perSecond),
      fmt(r.throughputFailed),
      r.load.replace('load ', ''),
    ];
  });
  return table(['impl', 'loss', 'RTT p50', 'RTT p99', 'p99 vs raw', 'pings lost', 'pings/s', 'msgs/s (window)', 'lost/failed', 'load 1/5/15'], rows);
}

export type { Child };
