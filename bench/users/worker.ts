/**
 * A load-generator process: hosts thousands of simulated users (real UDP sockets on loopback
 * addresses) and runs what the runner asks: a login storm, churn observation and joiners, list
 * fetches. Progress goes to the runner as events.
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import { emit, serve } from '../lib/rpc.js';
import { ClassicUser } from './classic-user.js';
import { Bitset, countEntries, newUserStats, userAddress, wallMs, type SimUser, type UserStats } from './common.js';
import { V2User } from './v2-user.js';
import { DotNetStringReader } from '../../src/protocol/classic/list.js';

/** Which client the simulated users speak. */
export type UserKind = 'v2' | 'classic';

export interface SetupArg {
  readonly kind: UserKind;
  /** User i logs in to servers[i % servers.length] (several instances of a cluster). */
  readonly servers: readonly Endpoint[];
  /** Indices first .. first + count - 1 of `total` users named `u<index>` (or `prefix<index>`). */
  readonly first: number;
  readonly count: number;
  readonly total: number;
  readonly prefix: string;
  /** Address block (127.block.x.y) and users per address. */
  readonly block: number;
  readonly perAddress: number;
  readonly recvBufferSize: number;
  /** Churn joiners this run may see (sizes the per-observer record). */
  readonly maxJoiners: number;
}

export interface StormResult {
  /** Per user, ms from the storm's start until its list was complete (NaN: never). */
  readonly completeAt: Float64Array;
  /** Per user, ms until it was logged in (WELCOME, or Accept and list). */
  readonly onlineAt: Float64Array;
  readonly stats: UserStats;
  /** How busy this load generator's event loop was during the storm (0..1). */
  readonly elu: number;
  /** CPU time this load generator used during the storm (user and system, ms). */
  readonly cpuMs: number;
  /** Per user, how many users its list held at the end. */
  readonly listSize: Uint32Array;
}

/** A worker's users now: their counters, how many are online and have every list entry, its CPU time (ms). */
export interface UsersStatus {
  readonly stats: UserStats;
  readonly online: number;
  readonly complete: number;
  readonly cpuMs: number;
}

let users: (V2User | ClassicUser)[] = [];
let setup: SetupArg | null = null;
/** Churn observation: per joiner, how many observers saw it arrive (leave) and the latest arrival. */
let seenUp: Bitset[] = [];
let seenDown: Bitset[] = [];
let upCount = new Uint32Array(0);
let upLast = new Float64Array(0);
let downCount = new Uint32Array(0);
let downLast = new Float64Array(0);
/** Users of this worker whose list was complete, and when. */
let completeAt = new Float64Array(0);
let complete = 0;
let stormStart = 0;

function sumStats(list: readonly SimUser[]): UserStats {
  const s = newUserStats();
  const keys = Object.keys(s) as (keyof UserStats)[];
  for (const u of list) for (const k of keys) s[k] += u.stats[k];
  return s;
}

/** Users of this worker logged in now. */
function onlineCount(): number {
  return users.reduce((n, u) => n + (u.online ? 1 : 0), 0);
}

const observer = {
  onListChange(user: SimUser): void {
    const slot = user.index - (setup?.first ?? 0);
    if (user.list.count === user.list.size && Number.isNaN(completeAt[slot] ?? 0)) {
      completeAt[slot] = wallMs() - stormStart;
      complete++;
    }
  },
  onJoiner(user: SimUser, joiner: number, up: boolean): void {
    const slot = user.index - (setup?.first ?? 0);
    const seen = (up ? seenUp : seenDown)[slot];
    if (seen === undefined || seen.has(joiner)) return;
    seen.add(joiner);
    const now = wallMs();
    if (up) {
      upCount[joiner] = (upCount[joiner] ?? 0) + 1;
      upLast[joiner] = Math.max(upLast[joiner] ?? 0, now);
    } else {
      downCount[joiner] = (downCount[joiner] ?? 0) + 1;
      downLast[joiner] = Math.max(downLast[joiner] ?? 0, now);
    }
  },
};

function makeUser(kind: UserKind, index: number, name: string, address: string, a: SetupArg, heartbeats: boolean): V2User | ClassicUser {
  const server = a.servers[index % a.servers.length] as Endpoint;
  const common = { index, name, address, server, total: a.total, recvBufferSize: a.recvBufferSize, observer };
  return kind === 'v2' ? new V2User({ ...common, identity: ed25519KeyPair(), heartbeats }) : new ClassicUser(common);
}

function waitUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - wallMs())));
}

/** Runs `work` against up to `concurrency` items at once until `deadline` (wall ms). */
async function loop(concurrency: number, deadline: number, work: (slot: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (wallMs() < deadline) await work(slot);
    }),
  );
}

serve({
  async setup(a: SetupArg): Promise<number> {
    setup = a;
    users = [];
    for (let i = a.first; i < a.first + a.count; i++) {
      users.push(makeUser(a.kind, i, `${a.prefix}${i}`, userAddress(a.block, i, a.perAddress), a, true));
    }
    // Bind in slices: thousands of binds at once only queue up in libuv.
    for (let i = 0; i < users.length; i += 500) await Promise.all(users.slice(i, i + 500).map((u) => u.bind()));
    completeAt = new Float64Array(a.count).fill(Number.NaN);
    complete = 0;
    seenUp = users.map(() => new Bitset(a.maxJoiners));
    seenDown = users.map(() => new Bitset(a.maxJoiners));
    return users.length;
  },

  /**
   * Every user logs in at `startAt` (wall ms), or with `rampPerSecond`, user i (of the whole run)
   * at `startAt + i / rampPerSecond`; resolves when every list is complete or at the deadline.
   */
  async storm(arg: { startAt: number; deadlineMs: number; rampPerSecond?: number }): Promise<StormResult> {
    await waitUntil(arg.startAt);
    stormStart = arg.startAt;
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const rate = arg.rampPerSecond;
    if (rate === undefined) for (const u of users) u.start();
    else {
      let next = 0;
      const launch = (): void => {
        const due = ((wallMs() - arg.startAt) * rate) / 1000;
        for (; next < users.length && (users[next] as SimUser).index <= due; next++) (users[next] as SimUser).start();
        if (next < users.length) setTimeout(launch, 5);
      };
      launch();
    }
    const deadline = arg.startAt + arg.deadlineMs;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        emit('progress', { complete, online: onlineCount() });
        if (complete === users.length || wallMs() >= deadline) {
          clearInterval(tick);
          resolve();
        }
      }, 100);
    });
    const onlineAt = Float64Array.from(users, (u) => u.onlineAt - arg.startAt);
    const listSize = Uint32Array.from(users, (u) => u.list.count);
    const cpu = process.cpuUsage(cpu0);
    return { completeAt, onlineAt, stats: sumStats(users), elu: performance.eventLoopUtilization(elu0).utilization, cpuMs: (cpu.user + cpu.system) / 1000, listSize };
  },

  /** The users' counters and this process's CPU time now (the steady phase after a storm). */
  status(): UsersStatus {
    const cpu = process.cpuUsage();
    return { stats: sumStats(users), online: onlineCount(), complete: users.reduce((n, u) => n + (u.list.count === u.list.size ? 1 : 0), 0), cpuMs: (cpu.user + cpu.system) / 1000 };
  },

  /** Starts recording churn arrivals afresh. */
  watch(): void {
    const n = setup?.maxJoiners ?? 0;
    upCount = new Uint32Array(n);
    upLast = new Float64Array(n);
    downCount = new Uint32Array(n);
    downLast = new Float64Array(n);
  },

  /** What the observers of this worker saw since `watch`. */
  watched(): { upCount: Uint32Array; upLast: Float64Array; downCount: Uint32Array; downLast: Float64Array } {
    return { upCount, upLast, downCount, downLast };
  },

  /**
   * Churn joiners: `rate` per second for `durationMs`, joiner indices from `first`; each logs in as
   * `j<index>` and logs out after `holdMs`. Resolves with each joiner's login and logout times.
   */
  async churn(arg: { kind: UserKind; rate: number; durationMs: number; holdMs: number; first: number; server: Endpoint }): Promise<{ loginAt: Float64Array; logoutAt: Float64Array }> {
    const n = Math.floor((arg.rate * arg.durationMs) / 1000);
    const loginAt = new Float64Array(n).fill(Number.NaN);
    const logoutAt = new Float64Array(n).fill(Number.NaN);
    const a: SetupArg = { kind: arg.kind, servers: [arg.server], first: 0, count: 0, total: 1, prefix: 'j', block: 2, perAddress: 4, recvBufferSize: 1 << 20, maxJoiners: 0 };
    const start = wallMs();
    const live = new Set<V2User | ClassicUser>();
    await new Promise<void>((resolve) => {
      let next = 0;
      let ended = 0;
      const launch = (): void => {
        const due = Math.min(n, Math.floor(((wallMs() - start) * arg.rate) / 1000) + 1);
        for (; next < due; next++) {
          const k = next;
          const index = arg.first + k;
          const u = makeUser(arg.kind, index, `j${index}`, userAddress(2, index % 16384, 4), a, false);
          live.add(u);
          void u.bind().then(() => {
            u.start();
            loginAt[k] = u.startedAt;
            setTimeout(() => {
              logoutAt[k] = wallMs();
              u.logout();
              live.delete(u);
              if (++ended === n) resolve();
            }, arg.holdMs);
          });
        }
        if (next < n) setTimeout(launch, Math.max(1, Math.min(20, 1000 / arg.rate)));
      };
      if (n === 0) resolve();
      else launch();
    });
    return { loginAt, logoutAt };
  },

  /**
   * Whole-list fetches for `durationMs` by `concurrency` of this worker's users at once. Each fetch
   * counts only when it brought `expect` entries. Latencies in ms.
   */
  async fetch(arg: { mode: 'qim-tcp' | 'qim-udp' | 'classic' | 'naive'; durationMs: number; concurrency: number; expect: number; server: Endpoint }): Promise<{ ok: number; failed: number; latencies: Float64Array }> {
    let ok = 0;
    let failed = 0;
    const latencies: number[] = [];
    const fetchers = users.slice(0, arg.concurrency);
    await loop(fetchers.length, wallMs() + arg.durationMs, async (slot) => {
      const u = fetchers[slot] as V2User | ClassicUser;
      const t0 = wallMs();
      let entries: number;
      if (arg.mode === 'naive') entries = await naiveFetch(arg.server);
      else if (arg.mode === 'classic') entries = await (u as ClassicUser).fetchAgain();
      else entries = await (u as V2User).fetchList(arg.mode === 'qim-tcp' ? 'tcp' : 'udp');
      if (entries >= arg.expect) {
        ok++;
        latencies.push(wallMs() - t0);
      } else {
        failed++;
        if (entries < 0) await new Promise((r) => setTimeout(r, 50));
      }
    });
    return { ok, failed, latencies: Float64Array.from(latencies) };
  },

  close(): void {
    for (const u of users) u.close();
    users = [];
  },
});

/** A naive-server list fetch: connect, read, count entries. */
function naiveFetch(server: Endpoint): Promise<number> {
  return new Promise((resolve) => {
    const reader = new DotNetStringReader();
    let text: string | null = null;
    const socket = connect({ host: server.address, port: server.port });
    socket.on('data', (c: Buffer) => {
      const r = reader.push(c);
      if (r.status === 'done') text = r.text;
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => resolve(text === null ? -1 : countEntries(text)));
  });
}
