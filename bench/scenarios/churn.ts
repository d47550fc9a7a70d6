/**
 * Scenario 2, presence churn: K users online (the observers) while others join and leave at a
 * steady rate; for each join, the time from its login until it reached every observer (p50, p99);
 * the rate stepped up until the server falls behind. Each joiner stays `holdMs`, then logs out.
 *
 * A step is held when every join reached every observer, the p99 stays under a second, and the
 * last third of the step is not slower than the first (latency that grows within a step grows
 * without bound).
 */
import { spawnChild } from '../lib/rpc.js';
import { startFleet } from '../lib/fleet.js';
import { progress } from '../lib/progress.js';
import { fmt, fmtMs, fmtRatio, percentile, ratio, table } from '../lib/stats.js';
import { loadText } from '../lib/system.js';
import { wallMs } from '../users/common.js';
import type { StormResult } from '../users/worker.js';
import type { StormImpl } from './login-storm.js';
import type { Measurement } from '../server-child.js';

export interface ChurnStep {
  readonly rate: number;
  readonly joins: number;
  /** Joins that reached every observer. */
  readonly reachedAll: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstThirdP50Ms: number;
  readonly lastThirdP50Ms: number;
  readonly held: boolean;
  readonly serverCpuMs: number;
  readonly datagramsOut: number;
  readonly load: string;
}

export interface ChurnRun {
  readonly impl: StormImpl;
  readonly observers: number;
  readonly steps: ChurnStep[];
  /** The highest rate held (joins per second), 0 when none was. */
  readonly maxHeldRate: number;
  /** Observers still without the whole list a minute after logging in (no step was run then). */
  readonly observersMissing: number;
}

export interface ChurnOptions {
  readonly impl: StormImpl;
  readonly observers: number;
  readonly rates: readonly number[];
  readonly stepMs: number;
  readonly holdMs: number;
}

const GRACE_MS = 2000;

export async function runChurn(o: ChurnOptions): Promise<ChurnRun> {
  const maxJoiners = o.rates.reduce((n, r) => n + Math.floor((r * o.stepMs) / 1000), 0) + 1;
  const kind = o.impl === 'qim' ? 'v2' : 'classic';
  const fleet = await startFleet({ impl: o.impl === 'naive' ? 'naive' : 'qim', kind, users: o.observers, maxJoiners });
  const joiners = await spawnChild('users/worker.ts', 'joiners');
  const steps: ChurnStep[] = [];
  try {
    // The observers log in first and must all hold the whole list.
    const storm = await Promise.all(fleet.workers.map((w) => w.call<StormResult>('storm', { startAt: wallMs() + 200, deadlineMs: 60_000 })));
    const missing = storm.reduce((n, r) => n + r.completeAt.filter((v) => !Number.isFinite(v)).length, 0);
    // A server that cannot even bring K observers their list (the naive one, on a slow machine)
    // holds no churn rate at all: reported as such, and the other implementations still run.
    if (missing > 0) return { impl: o.impl, observers: o.observers, steps, maxHeldRate: 0, observersMissing: missing };
    let first = 0;
    const bar = progress(`churn ${o.impl} K=${fmt(o.observers)}`, o.rates.length);
    for (const rate of o.rates) {
      bar.update(steps.length, `${rate}/s`);
      await Promise.all(fleet.workers.map((w) => w.call('watch')));
      await fleet.server.call('begin');
      const load = loadText();
      const { loginAt } = await joiners.call<{ loginAt: Float64Array }>('churn', { kind, rate, durationMs: o.stepMs, holdMs: o.holdMs, first, server: fleet.endpoint });
      await new Promise((r) => setTimeout(r, GRACE_MS));
      const server = await fleet.server.call<Measurement>('end');
      const seen = await Promise.all(fleet.workers.map((w) => w.call<{ upCount: Uint32Array; upLast: Float64Array }>('watched')));
      const latencies = Array.from(loginAt, (t0, k) => {
        const j = first + k;
        const count = seen.reduce((n, s) => n + (s.upCount[j] ?? 0), 0);
        const last = Math.max(...seen.map((s) => s.upLast[j] ?? 0));
        return count === o.observers && Number.isFinite(t0) ? last - t0 : Number.NaN;
      });
      first += loginAt.length;
      const third = Math.max(1, Math.floor(latencies.length / 3));
      const reachedAll = latencies.filter((v) => Number.isFinite(v)).length;
      const p99 = percentile(latencies, 99);
      const a = percentile(latencies.slice(0, third), 50);
      const b = percentile(latencies.slice(-third), 50);
      const held = reachedAll === latencies.length && p99 < 1000 && b <= 2 * a + 50;
      steps.push({
        rate,
        joins: latencies.length,
        reachedAll,
        p50Ms: percentile(latencies, 50),
        p99Ms: p99,
        firstThirdP50Ms: a,
        lastThirdP50Ms: b,
        held,
        serverCpuMs: server.cpuUserMs + server.cpuSystemMs,
        datagramsOut: server.traffic.datagramsOut,
        load,
      });
      if (!held) break;
    }
    bar.stop();
    return { impl: o.impl, observers: o.observers, steps, maxHeldRate: Math.max(0, ...steps.filter((s) => s.held).map((s) => s.rate)), observersMissing: 0 };
  } finally {
    await joiners.kill();
    await fleet.close();
  }
}

export function churnTable(runs: readonly ChurnRun[]): string {
  const rows: string[][] = [];
  for (const r of runs) {
    if (r.observersMissing > 0) {
      const never = `${fmt(r.observersMissing)} of ${fmt(r.observers)} observers without the whole list after 60 s: no step run`;
      rows.push([r.impl, fmt(r.observers), '—', never, '', '', '', 'behind', '', '', '']);
    }
    for (const s of r.steps) {
      rows.push([
        r.impl,
        fmt(r.observers),
        `${s.rate}/s`,
        `${fmt(s.reachedAll)}/${fmt(s.joins)}`,
        fmtMs(s.p50Ms),
        fmtMs(s.p99Ms),
        `${fmtMs(s.firstThirdP50Ms)} → ${fmtMs(s.lastThirdP50Ms)}`,
        s.held ? 'held' : 'behind',
        fmt(s.serverCpuMs),
        fmt(s.datagramsOut),
        s.load.replace('load ', ''),
      ]);
    }
  }
  const naive = runs.find((r) => r.impl === 'naive');
  const versus = (r: ChurnRun): string => {
    if (naive === undefined || r === naive) return '';
    return naive.maxHeldRate === 0 ? ' (the naive server held none)' : ` (${fmtRatio(ratio(r.maxHeldRate, naive.maxHeldRate))} naive)`;
  };
  const best = runs.map((r) => `${r.impl}: ${r.maxHeldRate}/s${versus(r)}`).join(', ');
  return `${table(['impl', 'K', 'rate', 'reached all', 'p50', 'p99', 'p50 first → last third', 'verdict', 'server CPU ms', 'datagrams out', 'load 1/5/15'], rows)}\nhighest rate held: ${best}`;
}
