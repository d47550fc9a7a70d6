/**
 * Scenario 1, the login storm: N users log in at once; how long until every user's list is
 * complete, what the server sent, and what it cost in CPU and memory. Implementations:
 *
 * - `qim`: QimServer, users speaking the qim protocol (batched, versioned presence);
 * - `qim-classic`: QimServer, users speaking classic (one datagram per join per user, TCP list);
 * - `naive`: the seed-like baseline (a fresh socket per datagram).
 */
import { startFleet, type Fleet } from '../lib/fleet.js';
import { progress } from '../lib/progress.js';
import { fmt, fmtBytes, fmtMs, fmtRatio, percentile, ratio, table } from '../lib/stats.js';
import { cpus } from 'node:os';
import { loadText, machineBusyMs, tcpListenOverflows, udpDelta, udpKernelCounters, type UdpKernelCounters } from '../lib/system.js';
import { newUserStats, wallMs } from '../users/common.js';
import type { StormResult, UsersStatus } from '../users/worker.js';
import type { Measurement, Sample } from '../server-child.js';
import type { ServerLimits } from '../../src/server/options.js';

export type StormImpl = 'qim' | 'qim-classic' | 'naive';
export const STORM_IMPLS: readonly StormImpl[] = ['qim', 'qim-classic', 'naive'];

export interface StormRun {
  readonly impl: StormImpl;
  readonly n: number;
  readonly deadlineMs: number;
  /** Logins per second when ramped (undefined: all at once). */
  readonly rampPerSecond?: number;
  /** Users whose list was complete by the deadline. */
  readonly completed: number;
  /** Time until every list was complete (NaN when some never were). */
  readonly convergeMs: number;
  readonly p50Ms: number;
  /** Time until a user was logged in (its WELCOME), median and slowest. */
  readonly onlineP50Ms: number;
  readonly onlineMaxMs: number;
  readonly p90Ms: number;
  /**
   * When not every list completed: the time the server would need, at the rate it sent during
   * the run, for the datagrams a complete storm takes (classic: one per join per user). NaN else.
   */
  readonly estimatedMs: number;
  /** Per user, ms until its list was complete (NaN: never), for the convergence chart. */
  readonly completeAt: Float64Array;
  /** Users never online, and the list sizes of the incomplete ones (min, median, max). */
  readonly neverOnline: number;
  readonly incompleteListSizes: readonly [number, number, number] | null;
  readonly server: Measurement;
  /** Memory per online user after GC: heap (with external) and RSS growth over the run, divided by the users online at its end. */
  readonly heapPerUser: number;
  readonly rssPerUser: number;
  readonly clientStats: StormResult['stats'];
  /** The busiest load generator's event-loop utilization (near 1: the clients, not the server, set the pace). */
  readonly loadGenElu: number;
  /** CPU time of every load generator during the storm (ms). */
  readonly usersCpuMs: number;
  /**
   * The whole machine's busy CPU time from the storm's start until its results were in (every
   * core, the kernel's work included), and that divided by the cores: the shortest the storm could
   * have taken on this machine doing the same work with every core busy throughout.
   */
  readonly machineBusyMs: number;
  readonly cpuFloorMs: number;
  /** Times an accept queue on the machine was full during the storm (the server's, in practice). */
  readonly listenOverflows: number;
  /** Kernel UDP drops during the run (whole machine). */
  readonly kernel: UdpKernelCounters;
  readonly load: string;
  /** With `steadyMs`: the steady phase after the storm. */
  readonly steady?: SteadyRun;
}

export interface StormOptions {
  readonly impl: StormImpl;
  readonly n: number;
  readonly deadlineMs: number;
  readonly serverFlags?: readonly string[];
  /** qim only: this many instances sharing one directory through `redis`. */
  readonly instances?: number;
  readonly redis?: string;
  /** Log users in at this rate (per second) instead of all at once (the capacity run). */
  readonly rampPerSecond?: number;
  /** qim only: server limits other than the defaults (the harness test's longer batch window). */
  readonly limits?: Partial<ServerLimits>;
  /**
   * After the storm, keep everyone online this long (heartbeats only) and report what held: the
   * capacity run's question is not only whether N users got in, but whether the server keeps them.
   */
  readonly steadyMs?: number;
}

/** What the steady phase after a storm saw: who stayed, what it cost. */
export interface SteadyRun {
  readonly ms: number;
  /** Online at the server and at the users' side at the phase's end. */
  readonly serverOnline: number;
  readonly usersOnline: number;
  /** Users whose list was complete at the phase's end. */
  readonly listsComplete: number;
  /** Sessions the server ended in the phase, by reason (`expired`: heartbeats not heard). */
  readonly leaves: Readonly<Record<string, number>>;
  /** Logins the users retried or began again in the phase (0 when the server kept everyone). */
  readonly retries: number;
  /** Datagrams the server took in and sent a second (heartbeats and their acknowledgements). */
  readonly datagramsInPerSecond: number;
  readonly datagramsOutPerSecond: number;
  /** Share of one core the server, and the users' processes together, used; share of the whole machine busy. */
  readonly serverCpu: number;
  readonly usersCpu: number;
  readonly machineBusy: number;
  /** The server's heap at the phase's end (no GC forced). */
  readonly serverHeap: number;
}

/** Several instances' measurements as one: CPU, traffic and memory summed, peaks summed too. */
export function combine(ms: readonly Measurement[]): Measurement {
  const sum = (f: (m: Measurement) => number): number => ms.reduce((n, m) => n + f(m), 0);
  const mem = (f: (m: Measurement) => Measurement['memAfter']): Measurement['memAfter'] => ({
    rss: sum((m) => f(m).rss),
    heapUsed: sum((m) => f(m).heapUsed),
    external: sum((m) => f(m).external),
    arrayBuffers: sum((m) => f(m).arrayBuffers),
  });
  const dropReasons: Record<string, number> = {};
  const leaves: Record<string, number> = {};
  for (const m of ms) {
    for (const [k, v] of Object.entries(m.traffic.dropReasons)) dropReasons[k] = (dropReasons[k] ?? 0) + v;
    for (const [k, v] of Object.entries(m.traffic.leaves)) leaves[k] = (leaves[k] ?? 0) + v;
  }
  return {
    cpuUserMs: sum((m) => m.cpuUserMs),
    cpuSystemMs: sum((m) => m.cpuSystemMs),
    peakRss: sum((m) => m.peakRss),
    peakHeapUsed: sum((m) => m.peakHeapUsed),
    memBefore: mem((m) => m.memBefore),
    memAfter: mem((m) => m.memAfter),
    traffic: {
      datagramsOut: sum((m) => m.traffic.datagramsOut),
      bytesOut: sum((m) => m.traffic.bytesOut),
      datagramsIn: sum((m) => m.traffic.datagramsIn),
      bytesIn: sum((m) => m.traffic.bytesIn),
      listsSent: sum((m) => m.traffic.listsSent),
      listBytes: sum((m) => m.traffic.listBytes),
      drops: sum((m) => m.traffic.drops),
      dropReasons,
      leaves,
    },
    online: Math.max(...ms.map((m) => m.online)),
    elu: Math.max(...ms.map((m) => m.elu)),
    loopDelayP99Ms: Math.max(...ms.map((m) => m.loopDelayP99Ms)),
    loopDelayMaxMs: Math.max(...ms.map((m) => m.loopDelayMaxMs)),
    backlog: sum((m) => m.backlog),
    socketDrops: sum((m) => m.socketDrops),
    holds: ms.flatMap((m) => m.holds),
  };
}

/** The server's presence holds as "from–to s" (several instances: each's, in order of start). */
function holdsText(m: Measurement): string {
  if (m.holds.length === 0) return '—';
  const s = (ms: number) => (ms / 1000).toFixed(2);
  return [...m.holds].sort((a, b) => a.fromMs - b.fromMs).map((h) => `${s(h.fromMs)}–${h.toMs === null ? '…' : s(h.toMs)} s`).join(', ');
}

export async function runStorm(o: StormOptions): Promise<StormRun> {
  const completes: number[] = [];
  const bar = progress(`storm ${o.impl}${o.instances !== undefined ? ` ×${o.instances}` : ''} N=${fmt(o.n)}${o.rampPerSecond !== undefined ? ` @${o.rampPerSecond}/s` : ''}`, o.n);
  const fleet = await startFleet({
    impl: o.impl === 'naive' ? 'naive' : 'qim',
    kind: o.impl === 'qim' ? 'v2' : 'classic',
    users: o.n,
    ...(o.serverFlags ? { serverFlags: o.serverFlags } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.instances !== undefined ? { instances: o.instances } : {}),
    ...(o.redis !== undefined ? { redis: o.redis } : {}),
    onEvent: (w, event, data) => {
      if (event !== 'progress') return;
      completes[w] = (data as { complete: number }).complete;
      bar.update(
        completes.reduce((a, b) => a + b, 0),
        `${fmtMs(wallMs() - startAt)}`,
      );
    },
  });
  let startAt = wallMs();
  try {
    await Promise.all(fleet.servers.map((s) => s.call('begin')));
    const kernelBefore = udpKernelCounters();
    const overflowsBefore = tcpListenOverflows();
    const load = loadText();
    startAt = wallMs() + 300;
    let busyBefore = Number.NaN;
    const busyTimer = setTimeout(() => (busyBefore = machineBusyMs()), 300);
    const results = await Promise.all(fleet.workers.map((w) => w.call<StormResult>('storm', { startAt, deadlineMs: o.deadlineMs, ...(o.rampPerSecond !== undefined ? { rampPerSecond: o.rampPerSecond } : {}) })));
    const busy = machineBusyMs() - busyBefore;
    const listenOverflows = tcpListenOverflows() - overflowsBefore;
    clearTimeout(busyTimer);
    const server = combine(await Promise.all(fleet.servers.map((s) => s.call<Measurement>('end', { since: startAt }))));
    const kernel = udpDelta(kernelBefore, udpKernelCounters());
    bar.stop();
    const completeAt = new Float64Array(o.n);
    const onlineAt = Float64Array.from(results.flatMap((r) => Array.from(r.onlineAt)));
    const sizes = results.flatMap((r) => Array.from(r.listSize).filter((_, i) => !Number.isFinite(r.completeAt[i] ?? Number.NaN)));
    sizes.sort((a, b) => a - b);
    const neverOnline = results.reduce((n, r) => n + r.onlineAt.filter((v) => !Number.isFinite(v)).length, 0);
    let at = 0;
    const clientStats = newUserStats();
    for (const r of results) {
      completeAt.set(r.completeAt, at);
      at += r.completeAt.length;
      for (const k of Object.keys(clientStats) as (keyof typeof clientStats)[]) clientStats[k] += r.stats[k];
    }
    let completed = 0;
    let last = 0;
    for (const v of completeAt) {
      if (Number.isFinite(v)) {
        completed++;
        last = Math.max(last, v);
      }
    }
    const all = completed === o.n;
    // A classic storm takes one datagram per join per other user, an Accept per user.
    const needed = (o.n * (o.n - 1)) / 2 + o.n;
    const elapsed = Math.min(o.deadlineMs, wallMs() - startAt);
    // Only while the server was still short of them: past that, datagrams were lost, and classic
    // has no way to recover them.
    const short = server.traffic.datagramsOut > 0 && server.traffic.datagramsOut < needed;
    const estimatedMs = !all && o.impl !== 'qim' && o.rampPerSecond === undefined && short ? (elapsed * needed) / server.traffic.datagramsOut : Number.NaN;
    const steady = o.steadyMs !== undefined && o.steadyMs > 0 ? await steadyPhase(fleet, o.steadyMs) : undefined;
    return {
      impl: o.impl,
      n: o.n,
      deadlineMs: o.deadlineMs,
      ...(o.rampPerSecond !== undefined ? { rampPerSecond: o.rampPerSecond } : {}),
      completed,
      convergeMs: all ? last : Number.NaN,
      p50Ms: percentile(completeAt, 50),
      onlineP50Ms: percentile(onlineAt, 50),
      onlineMaxMs: onlineAt.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, v) : m), 0),
      p90Ms: percentile(completeAt, 90),
      estimatedMs,
      completeAt,
      neverOnline,
      incompleteListSizes: sizes.length === 0 ? null : [sizes[0] ?? 0, sizes[sizes.length >> 1] ?? 0, sizes.at(-1) ?? 0],
      server,
      heapPerUser: (server.memAfter.heapUsed + server.memAfter.external - server.memBefore.heapUsed - server.memBefore.external) / Math.max(1, server.online),
      rssPerUser: (server.memAfter.rss - server.memBefore.rss) / Math.max(1, server.online),
      clientStats,
      loadGenElu: Math.max(...results.map((r) => r.elu)),
      usersCpuMs: results.reduce((n, r) => n + r.cpuMs, 0),
      machineBusyMs: busy,
      cpuFloorMs: busy / cpus().length,
      listenOverflows,
      kernel,
      load,
      ...(steady !== undefined ? { steady } : {}),
    };
  } finally {
    bar.stop();
    await fleet.close();
  }
}

/** Everyone stays online for `ms` after the storm: what the server and the users saw meanwhile. */
async function steadyPhase(fleet: Fleet, ms: number): Promise<SteadyRun> {
  const read = async (): Promise<{ servers: Sample[]; users: UsersStatus[]; busy: number }> => ({
    servers: await Promise.all(fleet.servers.map((s) => s.call<Sample>('sample'))),
    users: await Promise.all(fleet.workers.map((w) => w.call<UsersStatus>('status'))),
    busy: machineBusyMs(),
  });
  const sum = <T>(list: readonly T[], f: (t: T) => number): number => list.reduce((n, t) => n + f(t), 0);
  const before = await read();
  const bar = progress(`steady ${fmt(sum(before.users, (u) => u.online))} online`, Math.round(ms / 1000));
  const started = wallMs();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const done = wallMs() - started;
      bar.update(Math.min(Math.round(done / 1000), Math.round(ms / 1000)));
      if (done >= ms) {
        clearInterval(tick);
        resolve();
      }
    }, 250);
  });
  bar.stop();
  const after = await read();
  const elapsed = wallMs() - started;
  const leaves: Record<string, number> = {};
  for (const [i, s] of after.servers.entries()) {
    for (const [k, v] of Object.entries(s.traffic.leaves)) leaves[k] = (leaves[k] ?? 0) + v - (before.servers[i]?.traffic.leaves[k] ?? 0);
  }
  const perSecond = (f: (s: Sample) => number): number => ((sum(after.servers, f) - sum(before.servers, f)) * 1000) / elapsed;
  return {
    ms: elapsed,
    serverOnline: Math.max(...after.servers.map((s) => s.online)),
    usersOnline: sum(after.users, (u) => u.online),
    listsComplete: sum(after.users, (u) => u.complete),
    leaves,
    retries: sum(after.users, (u) => u.stats.retries) - sum(before.users, (u) => u.stats.retries),
    datagramsInPerSecond: perSecond((s) => s.traffic.datagramsIn),
    datagramsOutPerSecond: perSecond((s) => s.traffic.datagramsOut),
    serverCpu: (sum(after.servers, (s) => s.cpuMs) - sum(before.servers, (s) => s.cpuMs)) / elapsed,
    usersCpu: (sum(after.users, (u) => u.cpuMs) - sum(before.users, (u) => u.cpuMs)) / elapsed,
    machineBusy: (after.busy - before.busy) / elapsed / cpus().length,
    serverHeap: sum(after.servers, (s) => s.heapUsed),
  };
}

/** The steady phases of `runs`, one row each. */
export function steadyTable(runs: readonly StormRun[]): string {
  const pct = (v: number): string => `${Math.round(v * 100)}%`;
  const rows = runs.flatMap((r) => {
    const s = r.steady;
    if (s === undefined) return [];
    const left = Object.entries(s.leaves).filter(([, v]) => v > 0);
    return [
      [
        r.impl,
        fmt(r.n),
        fmtMs(s.ms),
        `${fmt(s.serverOnline)} / ${fmt(s.usersOnline)}`,
        fmt(s.listsComplete),
        left.length === 0 ? '0' : left.map(([k, v]) => `${fmt(v)} ${k}`).join(', '),
        fmt(s.retries),
        `${fmt(Math.round(s.datagramsInPerSecond))} / ${fmt(Math.round(s.datagramsOutPerSecond))}`,
        `${pct(s.serverCpu)} / ${pct(s.usersCpu)} / ${pct(s.machineBusy)}`,
        fmtBytes(s.serverHeap),
      ],
    ];
  });
  return table(['impl', 'N', 'held for', 'online srv / users', 'lists complete', 'sessions ended', 'login retries', 'datagrams/s in / out', 'CPU srv / users (of a core) / machine', 'server heap'], rows);
}

/** The convergence time, or what stands in for it: `> deadline` (with the estimate) when unfinished. */
export function convergeText(r: StormRun): string {
  if (Number.isFinite(r.convergeMs)) return fmtMs(r.convergeMs);
  const est = Number.isFinite(r.estimatedMs) ? `, est. ${fmtMs(r.estimatedMs)}` : '';
  return `> ${fmtMs(r.deadlineMs)} (${((100 * r.completed) / r.n).toFixed(1)}%${est})`;
}

/** The best known time for a run: measured, else estimated, else at least the deadline. */
function effectiveMs(r: StormRun): { ms: number; lowerBound: boolean } {
  if (Number.isFinite(r.convergeMs)) return { ms: r.convergeMs, lowerBound: false };
  if (Number.isFinite(r.estimatedMs)) return { ms: r.estimatedMs, lowerBound: false };
  return { ms: r.deadlineMs, lowerBound: true };
}

/** How many times faster qim converged than `other` ("≥" when `other` never finished). */
export function speedup(qim: StormRun, other: StormRun): string {
  if (!Number.isFinite(qim.convergeMs)) return '—';
  const o = effectiveMs(other);
  const r = fmtRatio(ratio(o.ms, qim.convergeMs));
  return o.lowerBound ? `≥ ${r}` : Number.isFinite(other.convergeMs) ? r : `~${r}`;
}

/** `3.1` (seconds, one decimal) */
function seconds(ms: number): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '—';
}

export function stormTable(runs: readonly StormRun[]): string {
  const rows = runs.map((r) => {
    const qim = runs.find((q) => q.n === r.n && q.impl === 'qim');
    return [
      `${r.impl}`,
      r.rampPerSecond === undefined ? fmt(r.n) : `${fmt(r.n)} @${fmt(r.rampPerSecond)}/s`,
      convergeText(r),
      fmtMs(r.p50Ms),
      `${fmtMs(r.onlineP50Ms)} / ${fmtMs(r.onlineMaxMs)}`,
      qim === undefined || r.impl === 'qim' ? '' : speedup(qim, r),
      fmt(r.server.traffic.datagramsOut),
      `${fmtBytes(r.server.traffic.bytesOut)} + ${fmtBytes(r.server.traffic.listBytes)}`,
      fmt(r.server.cpuUserMs + r.server.cpuSystemMs),
      fmtBytes(r.server.peakRss),
      fmt(r.server.online),
      r.impl === 'naive' ? '—' : fmtBytes(r.heapPerUser),
      `${fmt(r.server.socketDrops)} / ${fmt(r.kernel.rcvbufErrors - r.server.socketDrops)}`,
      fmt(r.listenOverflows),
      fmt(r.clientStats.retries),
      `${fmt(r.clientStats.resyncTcp)} / ${fmt(r.clientStats.resyncUdp)}`,
      holdsText(r.server),
      fmt(r.clientStats.holds),
      `${fmt(r.clientStats.listsTcp)} / ${fmt(r.clientStats.catchUpsTcp)}`,
      `${Math.round(r.server.elu * 100)}% / ${Math.round(r.loadGenElu * 100)}%`,
      `${fmtMs(r.server.loopDelayP99Ms)} / ${fmtMs(r.server.loopDelayMaxMs)}`,
      `${seconds(r.server.cpuUserMs + r.server.cpuSystemMs)} / ${seconds(r.usersCpuMs)} / ${seconds(r.machineBusyMs)}`,
      fmtMs(r.cpuFloorMs),
      r.load.replace('load ', ''),
    ];
  });
  return table(
    ['impl', 'N', 'all lists complete', 'p50', 'logged in p50/max', 'qim faster', 'datagrams out', 'bytes out UDP + TCP lists', 'server CPU ms', 'peak RSS', 'online', 'heap/user', 'kernel drops srv/clients', 'accept queue full', 'login retries', 'refetches tcp / udp lists', 'server held presence', 'holds taken', 'tcp lists / catch-ups', 'busy srv/clients', 'srv loop delay p99/max', 'CPU s srv / users / machine', 'CPU floor', 'load 1/5/15'],
    rows,
  );
}
