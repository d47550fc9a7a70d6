/**
 * The server under test, in its own process so that its CPU time and memory are its own: either
 * qim's `QimServer` or the naive seed-like baseline. Run with `--expose-gc` so memory can be read
 * after a full collection.
 *
 * Commands: start, begin (reset the measurement), sample (counters now), end (the measurement),
 * prefill (put users straight into the directory, for the list-fetch scenario), stop.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { QimServer } from '../src/server/server.js';
import { RedisBackplane } from '../src/server/cluster/redis.js';
import type { ServerLimits } from '../src/server/options.js';
import { NaiveServer } from './naive-server.js';
import { serve } from './lib/rpc.js';

/** Which server runs. */
export type ServerImpl = 'qim' | 'naive';

export interface StartArg {
  readonly impl: ServerImpl;
  readonly host: string;
  readonly limits?: Partial<ServerLimits>;
  /** qim only: share the directory with other instances through this Redis (`qim server --redis`). */
  readonly redis?: string;
}

/** Memory as `process.memoryUsage()` reports it, in bytes. */
export interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** Traffic the server counted. */
export interface Traffic {
  readonly datagramsOut: number;
  readonly bytesOut: number;
  readonly datagramsIn: number;
  readonly bytesIn: number;
  readonly listsSent: number;
  /** Bytes of those lists over TCP. */
  readonly listBytes: number;
  readonly drops: number;
  /** qim only: drops by reason. */
  readonly dropReasons: Record<string, number>;
  /** qim only: users who left, by reason (logout, expired, replaced, instance-lost, ...). */
  readonly leaves: Record<string, number>;
}

export interface Measurement {
  /** CPU time used since `begin`, user and system, in ms. */
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  /** Peak resident set since `begin` (the kernel's high-water mark), and peak heap sampled. */
  readonly peakRss: number;
  readonly peakHeapUsed: number;
  /** After a full GC, at `begin` and now. */
  readonly memBefore: Memory;
  readonly memAfter: Memory;
  /** Traffic since `begin`. */
  readonly traffic: Traffic;
  /** Users online now. */
  readonly online: number;
  /** Event-loop utilization since `begin` (0..1). */
  readonly elu: number;
  /**
   * How late the event loop ran its timers since `begin` (ms; 99th percentile and worst): the
   * longest stretch of work in one go, during which nothing else (an accept, a heartbeat) ran.
   */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  /** Sends still queued (naive server only). */
  readonly backlog: number;
  /**
   * Datagrams the kernel dropped at the server's own UDP socket since `begin` (its receive buffer
   * was full), from /proc/net/udp; the rest of the machine's drops happened at the clients.
   */
  readonly socketDrops: number;
  /**
   * qim only: presence holds since `begin`, as ms to their start and to their settling (null:
   * still holding) from `end`'s `since` (a wall-clock time: the storm's start), or from `begin`.
   */
  readonly holds: readonly { readonly fromMs: number; readonly toMs: number | null }[];
}

/** The server's counters now (`sample`), with its CPU time (ms, since start) and heap in use. */
export interface Sample {
  readonly traffic: Traffic;
  readonly online: number;
  readonly backlog: number;
  readonly cpuMs: number;
  readonly heapUsed: number;
}

let qim: QimServer | null = null;
/** Leaves seen by reason since the start (qim). */
const leaves: Record<string, number> = {};
let naive: NaiveServer | null = null;
let base: { cpu: NodeJS.CpuUsage; traffic: Traffic; mem: Memory; elu: ReturnType<typeof performance.eventLoopUtilization> } | null = null;
let peakHeap = 0;
let loopDelay: IntervalHistogram | null = null;
/** Presence holds seen (qim), by the clock of performance.now(). */
let holds: { from: number; to: number | null }[] = [];
let beganAt = 0;
let dropsAtBegin = 0;
let port = 0;

/** The kernel's drop count of our UDP socket (Linux /proc/net/udp, last column), 0 when unknown. */
function socketDrops(): number {
  try {
    const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(hexPort.trim()) === true) return Number(fields.at(-1) ?? 0);
    }
  } catch {
    // Not Linux: unknown.
  }
  return 0;
}
let sampler: NodeJS.Timeout | null = null;

function traffic(): Traffic {
  if (qim !== null) {
    const c = qim.counters;
    let drops = 0;
    for (const v of Object.values(c.drops)) drops += v;
    return { datagramsOut: c.datagramsOut, bytesOut: c.bytesOut, datagramsIn: c.datagramsIn, bytesIn: c.bytesIn, listsSent: c.listsSent, listBytes: c.listBytes, drops, dropReasons: { ...c.drops }, leaves: { ...leaves } };
  }
  const c = naive?.counters;
  return { datagramsOut: c?.datagramsOut ?? 0, bytesOut: c?.bytesOut ?? 0, datagramsIn: c?.datagramsIn ?? 0, bytesIn: c?.bytesIn ?? 0, listsSent: c?.listsSent ?? 0, listBytes: c?.listBytes ?? 0, drops: 0, dropReasons: {}, leaves: {} };
}

function memoryAfterGc(): Memory {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the server child with --expose-gc');
  gc();
  gc();
  // QIM_HEAP_SNAPSHOT=DIR: a heap snapshot of the server at each measurement, to see where memory goes.
  const dir = process.env.QIM_HEAP_SNAPSHOT;
  if (dir !== undefined && dir !== '') writeHeapSnapshot(join(dir, `server-${process.pid}-${Date.now()}.heapsnapshot`));
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** The kernel's peak RSS of this process, reset by writing 5 to clear_refs (Linux; root or owner). */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
  } catch {
    return process.memoryUsage().rss;
  }
}

function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak then counts from the start of the process.
  }
}

function online(): number {
  return qim?.directory.size ?? naive?.users.size ?? 0;
}

serve({
  async start(arg: StartArg): Promise<{ port: number }> {
    if (arg.impl === 'qim') {
      const backplane = arg.redis === undefined ? undefined : new RedisBackplane({ url: arg.redis, onError: () => {} });
      qim = new QimServer({ host: arg.host, port: 0, ...(arg.limits ? { limits: arg.limits } : {}), ...(backplane ? { backplane } : {}) });
      qim.on('presence-hold', ({ holding }) => {
        if (holding) holds.push({ from: performance.now(), to: null });
        else {
          const last = holds.at(-1);
          if (last !== undefined && last.to === null) last.to = performance.now();
        }
      });
      qim.on('logout', ({ reason }) => {
        leaves[reason] = (leaves[reason] ?? 0) + 1;
      });
      await qim.start();
      port = qim.endpoint.port;
      return { port };
    }
    naive = new NaiveServer();
    await naive.start(arg.host, 0);
    port = naive.port;
    return { port };
  },

  begin(): Memory {
    const mem = memoryAfterGc();
    resetPeakRss();
    peakHeap = mem.heapUsed;
    dropsAtBegin = socketDrops();
    holds = [];
    beganAt = performance.now();
    base = { cpu: process.cpuUsage(), traffic: traffic(), mem, elu: performance.eventLoopUtilization() };
    loopDelay?.disable();
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    if (sampler !== null) clearInterval(sampler);
    sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 25);
    return mem;
  },

  sample(): Sample {
    const cpu = process.cpuUsage();
    return { traffic: traffic(), online: online(), backlog: naive?.backlog ?? 0, cpuMs: (cpu.user + cpu.system) / 1000, heapUsed: process.memoryUsage().heapUsed };
  },

  end(arg?: { since?: number }): Measurement {
    if (base === null) throw new Error('end without begin');
    if (sampler !== null) clearInterval(sampler);
    sampler = null;
    const cpu = process.cpuUsage(base.cpu);
    const elu = performance.eventLoopUtilization(base.elu).utilization;
    loopDelay?.disable();
    const peak = Math.max(peakHeap, process.memoryUsage().heapUsed);
    const rssPeak = peakRss();
    const now = traffic();
    const t0 = base.traffic;
    const memAfter = memoryAfterGc();
    return {
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      peakRss: rssPeak,
      peakHeapUsed: peak,
      memBefore: base.mem,
      memAfter,
      traffic: {
        datagramsOut: now.datagramsOut - t0.datagramsOut,
        bytesOut: now.bytesOut - t0.bytesOut,
        datagramsIn: now.datagramsIn - t0.datagramsIn,
        bytesIn: now.bytesIn - t0.bytesIn,
        listsSent: now.listsSent - t0.listsSent,
        listBytes: now.listBytes - t0.listBytes,
        drops: now.drops - t0.drops,
        dropReasons: Object.fromEntries(Object.entries(now.dropReasons).map(([k, v]) => [k, v - (t0.dropReasons[k] ?? 0)])),
        leaves: Object.fromEntries(Object.entries(now.leaves).map(([k, v]) => [k, v - (t0.leaves[k] ?? 0)])),
      },
      online: online(),
      elu,
      loopDelayP99Ms: (loopDelay?.percentile(99) ?? 0) / 1e6,
      loopDelayMaxMs: (loopDelay?.max ?? 0) / 1e6,
      backlog: naive?.backlog ?? 0,
      socketDrops: socketDrops() - dropsAtBegin,
      holds: holds.map((h) => {
        const from = arg?.since === undefined ? beganAt : arg.since - performance.timeOrigin;
        return { fromMs: h.from - from, toMs: h.to === null ? null : h.to - from };
      }),
    };
  },

  /**
   * Puts `n` users straight into the directory (qim: as qim users with random keys; naive: into its
   * map), at endpoints nobody listens on. For the list-fetch scenario, whose subject is the fetch,
   * not the logins that the login storm measures.
   */
  prefill(arg: { n: number; prefix: string }): number {
    for (let i = 0; i < arg.n; i++) {
      const address = `127.3.${(i >> 8) & 0xff}.${i & 0xff}`;
      const port = 20000 + (i % 40000);
      const name = `${arg.prefix}${i}`;
      if (qim !== null) {
        qim.directory.add({ name, endpoint: { address, port }, protocol: 'qim', since: Date.now(), identity: randomBytes(32), status: 'online' });
      } else naive?.users.set(name, `${address}:${port}`);
    }
    return online();
  },

  async stop(): Promise<void> {
    await qim?.stop();
    await naive?.stop();
  },
});
