/**
 * One run's processes: the server under test in its own child, and load-generator workers that
 * host the simulated users, spread so that no process nears its file descriptor limit.
 */
import type { Endpoint } from '../../src/protocol/endpoint.js';
import type { ServerLimits } from '../../src/server/options.js';
import type { ServerImpl } from '../server-child.js';
import type { SetupArg, UserKind } from '../users/worker.js';
import { spawnChild, type Child } from './rpc.js';

/** Users one worker hosts at most: each is a socket, and classic users open TCP too (ulimit -n). */
export const USERS_PER_WORKER = 8000;
/**
 * Users per loopback address. The server allows 40 handshakes at once per address and 10 a second
 * after that; eight users with their retries stay within it, as eight people behind one NAT would.
 */
export const USERS_PER_ADDRESS = 8;
/** Receive buffer of each simulated user's socket (the kernel caps it at net.core.rmem_max). */
export const USER_RECV_BUFFER = 1 << 20;

export interface Fleet {
  /** The first (or only) server instance. */
  readonly server: Child;
  readonly endpoint: Endpoint;
  /** Every instance (several with Redis). */
  readonly servers: Child[];
  readonly endpoints: Endpoint[];
  readonly workers: Child[];
  /** Each worker's user count. */
  readonly sizes: number[];
  close(): Promise<void>;
}

export interface FleetOptions {
  readonly impl: ServerImpl;
  readonly kind: UserKind;
  readonly users: number;
  /** Users each list must hold to be complete (default: `users`). */
  readonly total?: number;
  readonly prefix?: string;
  readonly block?: number;
  readonly maxJoiners?: number;
  readonly limits?: Partial<ServerLimits>;
  readonly recvBufferSize?: number;
  /** Extra worker processes beyond what the descriptor limit needs. */
  readonly minWorkers?: number;
  readonly onEvent?: (worker: number, event: string, data: unknown) => void;
  /** Extra node flags for the server (e.g. --cpu-prof). */
  readonly serverFlags?: readonly string[];
  /** Server instances sharing a directory through `redis` (cluster scenario). */
  readonly instances?: number;
  readonly redis?: string;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const servers: Child[] = [];
  const workers: Child[] = [];
  try {
    const endpoints: Endpoint[] = [];
    for (let i = 0; i < (o.instances ?? 1); i++) {
      const server = await spawnChild('server-child.ts', `server-${i}`, { nodeFlags: ['--expose-gc', ...(o.serverFlags ?? [])] });
      servers.push(server);
      const start = { impl: o.impl, host: '127.0.0.1', ...(o.limits ? { limits: o.limits } : {}), ...(o.redis !== undefined ? { redis: o.redis } : {}) };
      const { port } = await server.call<{ port: number }>('start', start);
      endpoints.push({ address: '127.0.0.1', port });
    }
    const count = Math.max(o.minWorkers ?? 1, Math.ceil(o.users / USERS_PER_WORKER));
    const sizes = Array.from({ length: count }, (_, i) => Math.floor(o.users / count) + (i < o.users % count ? 1 : 0));
    for (let i = 0; i < count; i++) {
      workers.push(await spawnChild('users/worker.ts', `worker-${i}`, { ...(process.env.QIM_WORKER_PROF ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${process.env.QIM_WORKER_PROF}`] } : {}), onEvent: (e, d) => o.onEvent?.(i, e, d) }));
    }
    let first = 0;
    await Promise.all(
      workers.map((w, i) => {
        const arg: SetupArg = {
          kind: o.kind,
          servers: endpoints,
          first,
          count: sizes[i] ?? 0,
          total: o.total ?? o.users,
          prefix: o.prefix ?? 'u',
          block: o.block ?? 1,
          perAddress: USERS_PER_ADDRESS,
          recvBufferSize: o.recvBufferSize ?? USER_RECV_BUFFER,
          maxJoiners: o.maxJoiners ?? 0,
        };
        first += sizes[i] ?? 0;
        return w.call('setup', arg);
      }),
    );
    return {
      server: servers[0] as Child,
      endpoint: endpoints[0] as Endpoint,
      servers,
      endpoints,
      workers,
      sizes,
      async close() {
        await Promise.all(workers.map((w) => w.call('close').catch(() => undefined)));
        await Promise.all(servers.map((s) => s.call('stop').catch(() => undefined)));
        await Promise.all([...servers, ...workers].map((c) => c.kill()));
      },
    };
  } catch (err) {
    await Promise.all([...servers, ...workers].map((c) => c.kill()));
    throw err;
  }
}
