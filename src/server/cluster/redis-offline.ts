/**
 * Offline messages in Redis, for a cluster: whichever instance a recipient logs in to finds what
 * was left for them on any other. Keys, under the cluster's prefix:
 *
 *   prekeys               hash  name → prekey ‖ signature (hex)
 *   offline:<name>        hash  id → the message as JSON (sender, sealed hex, storedAt)
 *   offline-at            zset  "<name>\n<id>" → storedAt, for expiry
 *   receipts:<name>       hash  id → the recipient who read it
 *
 * Each write that must check and change at once is one Lua script.
 */
import type { OfflineStore, PendingReceipt, PutResult, StoredOffline } from '../offline.js';
import { makeClient, type RedisClient } from './redis.js';

const PUT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'duplicate' end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 'stored'`;

const TAKE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return v`;

const EXPIRE = `
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, member in ipairs(old) do
  local nl = string.find(member, '\\n', 1, true)
  redis.call('HDEL', ARGV[2] .. 'offline:' .. string.sub(member, 1, nl - 1), string.sub(member, nl + 1))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return #old`;

interface Wire {
  from: string;
  sealed: string;
  storedAt: number;
}

export class RedisOffline implements OfflineStore {
  private constructor(
    readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Connects (failing when Redis cannot be reached). */
  static async open(url: string, prefix = 'qim:', onError?: (err: Error) => void): Promise<RedisOffline> {
    const client = makeClient(url);
    client.on('error', (err: Error) => onError?.(err));
    await client.connect();
    return new RedisOffline(client, prefix);
  }

  #k(name: string): string {
    return this.prefix + name;
  }

  async setPrekey(name: string, prekey: Buffer, signature: Buffer): Promise<void> {
    await this.client.hSet(this.#k('prekeys'), name, prekey.toString('hex') + signature.toString('hex'));
  }

  async prekey(name: string): Promise<{ prekey: Buffer; signature: Buffer } | undefined> {
    const hex = (await this.client.hGet(this.#k('prekeys'), name)) as string | null;
    if (hex === null || hex.length !== 192) return undefined;
    return { prekey: Buffer.from(hex.slice(0, 64), 'hex'), signature: Buffer.from(hex.slice(64), 'hex') };
  }

  async put(m: StoredOffline, maxPerRecipient: number): Promise<PutResult> {
    const json = JSON.stringify({ from: m.from, sealed: m.sealed.toString('hex'), storedAt: m.storedAt } satisfies Wire);
    const r = await this.client.eval(PUT, {
      keys: [this.#k(`offline:${m.to}`), this.#k('offline-at')],
      arguments: [String(m.id), json, String(maxPerRecipient), String(m.storedAt), `${m.to}\n${m.id}`],
    });
    return r === 'stored' || r === 'full' ? r : 'duplicate';
  }

  async waiting(to: string, limit: number): Promise<StoredOffline[]> {
    const all = (await this.client.hGetAll(this.#k(`offline:${to}`))) as Record<string, string>;
    return Object.entries(all)
      .map(([id, json]) => stored(to, Number(id), json))
      .filter((m): m is StoredOffline => m !== null)
      .sort((a, b) => a.storedAt - b.storedAt || a.id - b.id)
      .slice(0, limit);
  }

  async take(to: string, id: number): Promise<StoredOffline | undefined> {
    const json = (await this.client.eval(TAKE, { keys: [this.#k(`offline:${to}`), this.#k('offline-at')], arguments: [String(id), `${to}\n${id}`] })) as string | null;
    return typeof json === 'string' ? (stored(to, id, json) ?? undefined) : undefined;
  }

  async addReceipt(sender: string, r: PendingReceipt): Promise<void> {
    await this.client.hSet(this.#k(`receipts:${sender}`), String(r.id), r.to);
  }

  async receipts(sender: string, limit: number): Promise<PendingReceipt[]> {
    const all = (await this.client.hGetAll(this.#k(`receipts:${sender}`))) as Record<string, string>;
    return Object.entries(all)
      .slice(0, limit)
      .map(([id, to]) => ({ id: Number(id), to }));
  }

  async takeReceipt(sender: string, id: number): Promise<boolean> {
    return (await this.client.hDel(this.#k(`receipts:${sender}`), String(id))) > 0;
  }

  async expire(before: number): Promise<number> {
    return Number(await this.client.eval(EXPIRE, { keys: [this.#k('offline-at')], arguments: [String(before), this.prefix] }));
  }

  close(): void {
    this.client.destroy();
  }
}

function stored(to: string, id: number, json: string): StoredOffline | null {
  try {
    const w = JSON.parse(json) as Wire;
    return { id, to, from: w.from, sealed: Buffer.from(w.sealed, 'hex'), storedAt: w.storedAt };
  } catch {
    return null;
  }
}
