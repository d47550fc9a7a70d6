/**
 * Scenario 4, list fetch: whole-list fetches per second with 10,000 users online. The users are
 * put straight into the server's directory (their logins are the login storm's subject); a few
 * fetchers log in for real and fetch in a loop, several at once:
 *
 * - `qim-tcp`: LIST-REQUEST framed over TCP (docs/PROTOCOL.md, "Resync over TCP");
 * - `qim-udp`: LIST-REQUEST over UDP, the snapshot as PRESENCE datagrams (a fetch with a datagram
 *   lost times out and counts as failed);
 * - `classic`: qim's classic mode, a login again then the TCP list (one fetch per `Accept`);
 * - `naive`: the seed-like server, which builds the list anew for every connection.
 */
import { startFleet } from '../lib/fleet.js';
import { progress } from '../lib/progress.js';
import { fmt, fmtBytes, fmtMs, fmtRatio, percentile, ratio, table } from '../lib/stats.js';
import { loadText } from '../lib/system.js';
import { wallMs } from '../users/common.js';
import type { StormResult } from '../users/worker.js';
import type { Measurement } from '../server-child.js';

export type FetchMode = 'qim-tcp' | 'qim-udp' | 'classic' | 'naive';
export const FETCH_MODES: readonly FetchMode[] = ['qim-tcp', 'qim-udp', 'classic', 'naive'];

export interface FetchRun {
  readonly mode: FetchMode;
  readonly online: number;
  readonly ok: number;
  readonly failed: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU per successful fetch. */
  readonly cpuPerFetchMs: number;
  readonly bytesOut: number;
  readonly load: string;
}

export async function runListFetch(o: { online: number; fetchers: number; durationMs: number; modes: readonly FetchMode[] }): Promise<FetchRun[]> {
  const runs: FetchRun[] = [];
  const bar = progress(`list fetch, ${fmt(o.online)} online`, o.modes.length);
  for (const mode of o.modes) {
    bar.update(runs.length, mode);
    const fleet = await startFleet({
      impl: mode === 'naive' ? 'naive' : 'qim',
      kind: mode.startsWith('qim') ? 'v2' : 'classic',
      users: o.fetchers,
      // A UDP snapshot of 10,000 users is about 1 MB at once: room for it in the fetcher's socket.
      recvBufferSize: 4 << 20,
    });
    try {
      await fleet.server.call('prefill', { n: o.online - o.fetchers, prefix: 'p' });
      const storm = await Promise.all(fleet.workers.map((w) => w.call<StormResult>('storm', { startAt: wallMs() + 100, deadlineMs: 30_000 })));
      if (storm.some((r) => r.completeAt.some((v) => !Number.isFinite(v)))) throw new Error(`list fetch ${mode}: the fetchers did not log in`);
      await fleet.server.call('begin');
      const load = loadText();
      const results = await Promise.all(
        fleet.workers.map((w) =>
          w.call<{ ok: number; failed: number; latencies: Float64Array }>('fetch', { mode, durationMs: o.durationMs, concurrency: o.fetchers, expect: o.online, server: fleet.endpoint }),
        ),
      );
      const server = await fleet.server.call<Measurement>('end');
      const ok = results.reduce((n, r) => n + r.ok, 0);
      const latencies = results.flatMap((r) => Array.from(r.latencies));
      runs.push({
        mode,
        online: o.online,
        ok,
        failed: results.reduce((n, r) => n + r.failed, 0),
        perSecond: (ok * 1000) / o.durationMs,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        cpuPerFetchMs: (server.cpuUserMs + server.cpuSystemMs) / Math.max(1, ok),
        bytesOut: server.traffic.bytesOut,
        load,
      });
    } finally {
      await fleet.close();
    }
  }
  bar.stop();
  return runs;
}

export function fetchTable(runs: readonly FetchRun[]): string {
  const naive = runs.find((r) => r.mode === 'naive');
  const rows = runs.map((r) => [
    r.mode,
    fmt(r.online),
    fmt(r.perSecond, 1),
    naive === undefined || r.mode === 'naive' ? '' : fmtRatio(ratio(r.perSecond, naive.perSecond)),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmt(r.failed),
    fmtMs(r.cpuPerFetchMs),
    fmtBytes(r.bytesOut),
    r.load.replace('load ', ''),
  ]);
  return table(['mode', 'online', 'fetches/s', 'vs naive', 'p50', 'p99', 'failed', 'server CPU/fetch', 'UDP bytes out', 'load 1/5/15'], rows);
}
