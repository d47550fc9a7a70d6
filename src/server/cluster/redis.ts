/**
 * The backplane in Redis (`qim server --redis redis://HOST:PORT`), for several instances on one
 * or more machines. Layout, under a key prefix (default `qim:`):
 *
 *   users                 hash  name → the user as JSON (with the instance that serves them)
 *   instance:<id>:users   set   the names one instance serves
 *   instances             zset  instance id → lease end (Redis's own clock, ms)
 *   accounts              hash  name → bound identity key (hex)
 *   events                stream every change, in order: field `c` the change as JSON, `o` its origin
 *
 * Every write is one Lua script, so the hash, the sets and the stream never disagree, and a lost
 * instance's users are removed by exactly one survivor (whoever sweeps first), once. Each instance
 * reads the stream from where its snapshot was taken, on a connection of its own (XREAD BLOCK), so
 * it sees every change once and in order, its own excepted. A standalone Redis (or one primary)
 * is assumed: the scripts touch keys they derive.
 */
import { keyWithFingerprint } from '../../crypto/keys.js';
import { ownBytes } from '../../protocol/v2/bytes.js';
import { createClient } from 'redis';
import type { Backplane, BackplaneTiming, ClusterChange, JoinSnapshot, SharedUser } from './backplane.js';
import { DEFAULT_BACKPLANE_TIMING } from './backplane.js';

/**
 * A client speaking RESP2, whose replies (arrays of strings) the code below reads directly. Until
 * it has connected once, a failure is final (a server must not start without its cluster); after
 * that it reconnects forever, backing off to 2 s.
 */
export function makeClient(url: string) {
  let connected = false;
  const client = createClient({
    url,
    RESP: 2,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (n: number, cause: Error) => (connected ? Math.min(100 * 2 ** n, 2_000) : cause),
    },
  });
  client.on('ready', () => {
    connected = true;
  });
  return client;
}
export type RedisClient = ReturnType<typeof makeClient>;
type Client = RedisClient;

/** Stream entries kept (approximately): enough for any instance that is only briefly behind. */
const STREAM_MAXLEN = '100000';
/** How long leaving waits for Redis before giving up on the goodbye. */
const LEAVE_WAIT_MS = 1_000;
/** Changes read per XREAD. */
const READ_BATCH = '1000';

const UPSERT = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then
  local p = cjson.decode(prev)
  if p.instance ~= ARGV[3] then redis.call('SREM', ARGV[4] .. 'instance:' .. p.instance .. ':users', ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'c', ARGV[6], 'o', ARGV[3])
return 1`;

const REMOVE = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev or cjson.decode(prev).instance ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'c', ARGV[4], 'o', ARGV[2])
return 1`;

const BIND = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'c', ARGV[4], 'o', ARGV[5])
  return ARGV[2]
end
return redis.call('HGET', KEYS[1], ARGV[1])`;

/**
 * Renews an instance's lease (ARGV[1], when not empty) and removes the users of every instance
 * whose lease ended, announcing each removal once. Leases run on Redis's clock, so the instances'
 * clocks may disagree. ARGV[5] names the reason (instance-lost, or logout when leaving).
 */
const RENEW_AND_SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
if ARGV[1] ~= '' then added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[6] ~= '' then table.insert(dead, ARGV[6]) end
local n = 0
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  local set = ARGV[3] .. 'instance:' .. id .. ':users'
  for _, name in ipairs(redis.call('SMEMBERS', set)) do
    local prev = redis.call('HGET', KEYS[2], name)
    if prev and cjson.decode(prev).instance == id then
      redis.call('HDEL', KEYS[2], name)
      local c = cjson.encode({ op = 'remove', name = name, instance = id, reason = ARGV[5] })
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'c', c, 'o', '')
      n = n + 1
    end
  end
  redis.call('DEL', set)
end
return { n, added }`;

interface WireUser {
  name: string;
  endpoint: { address: string; port: number };
  privateEndpoint?: { address: string; port: number };
  protocol: SharedUser['protocol'];
  status: SharedUser['status'];
  identity?: string;
  since: number;
  instance: string;
}

function toWire(u: SharedUser): WireUser {
  return {
    name: u.name,
    endpoint: { address: u.endpoint.address, port: u.endpoint.port },
    ...(u.privateEndpoint !== undefined ? { privateEndpoint: { address: u.privateEndpoint.address, port: u.privateEndpoint.port } } : {}),
    protocol: u.protocol,
    status: u.status,
    ...(u.identity !== undefined ? { identity: u.identity.toString('hex') } : {}),
    since: u.since,
    instance: u.instance,
  };
}

function fromWire(w: WireUser): SharedUser {
  const kept = typeof w.identity === 'string' ? keyWithFingerprint(Buffer.from(w.identity, 'hex')) : undefined;
  return {
    name: w.name,
    endpoint: { address: w.endpoint.address, port: w.endpoint.port },
    ...(w.privateEndpoint !== undefined ? { privateEndpoint: { address: w.privateEndpoint.address, port: w.privateEndpoint.port } } : {}),
    protocol: w.protocol,
    status: w.status,
    ...(kept !== undefined ? { identity: kept.key, fingerprint: kept.fingerprint } : {}),
    since: w.since,
    instance: w.instance,
  };
}

/** A change from the stream; null when it is not one we understand (dropped). */
function parseChange(json: string): ClusterChange | null {
  try {
    const c = JSON.parse(json) as Record<string, unknown>;
    if (c.op === 'upsert' && typeof c.user === 'object' && c.user !== null) return { op: 'upsert', user: fromWire(c.user as WireUser) };
    if (c.op === 'remove' && typeof c.name === 'string' && typeof c.instance === 'string') {
      const reason = c.reason === 'logout' || c.reason === 'replaced' || c.reason === 'expired' ? c.reason : 'instance-lost';
      return { op: 'remove', name: c.name, instance: c.instance, reason };
    }
    if (c.op === 'bind' && typeof c.name === 'string' && typeof c.key === 'string') return { op: 'bind', name: c.name, key: ownBytes(Buffer.from(c.key, 'hex')) };
  } catch {
    // fall through
  }
  return null;
}

export interface RedisBackplaneOptions {
  /** `redis://HOST:PORT` (any URL node-redis takes). */
  readonly url: string;
  /** Key prefix; instances that share one prefix form one cluster. */
  readonly prefix?: string;
  readonly timing?: BackplaneTiming;
  /** Told about every Redis error (the backplane retries on its own). */
  readonly onError?: (err: Error) => void;
}

export class RedisBackplane implements Backplane {
  readonly #opts: RedisBackplaneOptions;
  readonly #prefix: string;
  readonly #timing: BackplaneTiming;
  #client: Client | null = null;
  #reader: Client | null = null;
  /** Leases on a connection of their own, so a renewal never waits behind a storm of writes. */
  #lease: Client | null = null;
  #mine: () => SharedUser[] = () => [];
  #instance = '';
  #renew: NodeJS.Timeout | null = null;
  #running = false;
  #reading: Promise<void> = Promise.resolve();

  constructor(opts: RedisBackplaneOptions) {
    this.#opts = opts;
    this.#prefix = opts.prefix ?? 'qim:';
    this.#timing = opts.timing ?? DEFAULT_BACKPLANE_TIMING;
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  async join(instance: string, onChange: (change: ClusterChange) => void, mine: () => SharedUser[] = () => []): Promise<JoinSnapshot> {
    this.#instance = instance;
    const onError = (err: Error): void => this.#opts.onError?.(err);
    const client = makeClient(this.#opts.url);
    client.on('error', onError);
    await client.connect();
    const reader = client.duplicate();
    reader.on('error', onError);
    await reader.connect();
    const lease = client.duplicate();
    lease.on('error', onError);
    await lease.connect();
    this.#client = client;
    this.#reader = reader;
    this.#lease = lease;
    this.#mine = mine;
    this.#running = true;
    // Back after an outage: renew at once. If our lease ran out meanwhile (or Redis came back
    // empty), the renewal finds it gone and puts our users back.
    client.on('ready', () => {
      if (this.#running) void this.#renewAndSweep().catch(onError);
    });

    // Take the stream position first, then the state: a change in between is applied twice,
    // and applying a change twice changes nothing (the directory compares before it announces).
    const last = (await client.sendCommand(['XREVRANGE', this.#key('events'), '+', '-', 'COUNT', '1'])) as [string, string[]][];
    const from = last[0]?.[0] ?? '0-0';
    await this.#renewAndSweep();
    const users = Object.values((await client.hGetAll(this.#key('users'))) as Record<string, string>)
      .map((json) => fromWire(JSON.parse(json) as WireUser))
      .filter((u) => u.instance !== instance);
    const bindings = Object.entries((await client.hGetAll(this.#key('accounts'))) as Record<string, string>).map(
      ([name, hex]): [string, Buffer] => [name, ownBytes(Buffer.from(hex, 'hex'))],
    );
    this.#reading = this.#read(from, onChange);
    this.#renew = setInterval(() => void this.#renewAndSweep().catch(onError), this.#timing.renewMs);
    this.#renew.unref();
    return { users, bindings };
  }

  publish(change: ClusterChange): void {
    const client = this.#client;
    if (client === null || !this.#running) return;
    const me = this.#instance;
    let run: Promise<unknown>;
    if (change.op === 'upsert') {
      const json = JSON.stringify({ op: 'upsert', user: toWire(change.user) });
      run = client.eval(UPSERT, {
        keys: [this.#key('users'), this.#key(`instance:${me}:users`), this.#key('events')],
        arguments: [change.user.name, JSON.stringify(toWire(change.user)), me, this.#prefix, STREAM_MAXLEN, json],
      });
    } else if (change.op === 'remove') {
      run = client.eval(REMOVE, {
        keys: [this.#key('users'), this.#key(`instance:${me}:users`), this.#key('events')],
        arguments: [change.name, change.instance, STREAM_MAXLEN, JSON.stringify(change)],
      });
    } else {
      const json = JSON.stringify({ op: 'bind', name: change.name, key: change.key.toString('hex') });
      run = client.eval(BIND, { keys: [this.#key('accounts'), this.#key('events')], arguments: [change.name, change.key.toString('hex'), STREAM_MAXLEN, json, me] });
    }
    run.catch((err: unknown) => this.#opts.onError?.(err instanceof Error ? err : new Error(String(err))));
  }

  async leave(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    if (this.#renew !== null) clearInterval(this.#renew);
    this.#renew = null;
    // Saying goodbye is a courtesy: with Redis away, the others sweep our users when our lease ends.
    const goodbye = this.#renewAndSweep('logout', this.#instance).catch((err: unknown) => this.#opts.onError?.(err instanceof Error ? err : new Error(String(err))));
    await Promise.race([goodbye, new Promise((r) => setTimeout(r, LEAVE_WAIT_MS).unref())]);
    this.#reader?.destroy();
    await this.#reading;
    this.#client?.destroy();
    this.#lease?.destroy();
    this.#client = null;
    this.#reader = null;
    this.#lease = null;
  }

  /** Stops without a word, as a killed process would (tests). */
  crash(): void {
    this.#running = false;
    if (this.#renew !== null) clearInterval(this.#renew);
    this.#reader?.destroy();
    this.#client?.destroy();
    this.#lease?.destroy();
  }

  async #renewAndSweep(reason = 'instance-lost', also = ''): Promise<void> {
    const client = this.#lease ?? this.#client;
    if (client === null) return;
    const renewing = reason === 'instance-lost' ? this.#instance : '';
    const [, added] = (await client.eval(RENEW_AND_SWEEP, {
      keys: [this.#key('instances'), this.#key('users'), this.#key('events')],
      arguments: [renewing, String(this.#timing.instanceLeaseMs), this.#prefix, STREAM_MAXLEN, reason, also],
    })) as [number, number];
    // Our lease had run out (we were too slow, or Redis was away) and the others removed our
    // users: put them back, so that every list holds them again.
    if (renewing !== '' && added === 1) for (const user of this.#mine()) this.publish({ op: 'upsert', user });
  }

  async #read(from: string, onChange: (change: ClusterChange) => void): Promise<void> {
    let id = from;
    while (this.#running) {
      const reader = this.#reader;
      if (reader === null) return;
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await reader.sendCommand(['XREAD', 'COUNT', READ_BATCH, 'BLOCK', '1000', 'STREAMS', this.#key('events'), id])) as typeof reply;
      } catch (err) {
        if (!this.#running) return;
        this.#opts.onError?.(err instanceof Error ? err : new Error(String(err)));
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [entryId, fields] of entries) {
          id = entryId;
          const f = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
          if (f.get('o') === this.#instance) continue;
          const change = parseChange(f.get('c') ?? '');
          if (change !== null && this.#running) onChange(change);
        }
      }
    }
  }
}
