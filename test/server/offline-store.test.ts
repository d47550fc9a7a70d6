/**
 * The offline store's rules, checked against all three implementations: in memory, SQLite (the
 * embedded default, in the server's data folder) and Redis (a cluster).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisOffline } from '../../src/server/cluster/redis-offline.js';
import { MemoryOffline, SqliteOffline, type OfflineStore } from '../../src/server/offline.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';

let redis: RedisProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'qim-offline-store-'));
let run = 0;
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const stores: [string, () => Promise<OfflineStore>][] = [
  ['memory', async () => new MemoryOffline()],
  ['SQLite', async () => SqliteOffline.open(join(dir, `s${++run}.db`))],
  [
    'Redis',
    async () => {
      redis ??= await startRedis();
      return RedisOffline.open(redis.url, `t${++run}:`);
    },
  ],
];

const msg = (id: number, to = 'bob', storedAt = 1000 + id) => ({ id, to, from: 'alice', sealed: Buffer.from([id, 1, 2, 3]), storedAt });

describe.each(stores)('the %s offline store', (_name, open) => {
  it('keeps prekeys, stores up to the limit, refuses duplicates, and hands messages out oldest first', async () => {
    const s = await open();
    await s.setPrekey('bob', Buffer.alloc(32, 1), Buffer.alloc(64, 2));
    expect(await s.prekey('bob')).toEqual({ prekey: Buffer.alloc(32, 1), signature: Buffer.alloc(64, 2) });
    expect(await s.prekey('nobody')).toBeUndefined();
    expect(await s.put(msg(2), 3)).toBe('stored');
    expect(await s.put(msg(1), 3)).toBe('stored');
    expect(await s.put(msg(1), 3)).toBe('duplicate');
    expect(await s.put(msg(3), 3)).toBe('stored');
    expect(await s.put(msg(4), 3)).toBe('full');
    expect((await s.waiting('bob', 10)).map((m) => m.id)).toEqual([1, 2, 3]);
    expect((await s.waiting('bob', 2)).map((m) => m.id)).toEqual([1, 2]);
    expect(await s.take('bob', 2)).toEqual(msg(2));
    expect(await s.take('bob', 2)).toBeUndefined();
    expect((await s.waiting('bob', 10)).map((m) => m.id)).toEqual([1, 3]);
    expect(await s.waiting('carol', 10)).toEqual([]);
    await s.close();
  });

  it('keeps receipts until taken, and forgets old messages', async () => {
    const s = await open();
    await s.addReceipt('alice', { id: 7, to: 'bob' });
    expect(await s.receipts('alice', 10)).toEqual([{ id: 7, to: 'bob' }]);
    expect(await s.takeReceipt('alice', 7)).toBe(true);
    expect(await s.takeReceipt('alice', 7)).toBe(false);
    await s.put(msg(1, 'bob', 100), 10);
    await s.put(msg(2, 'bob', 5000), 10);
    await s.put(msg(3, 'carol', 200), 10);
    expect(await s.expire(1000)).toBe(2);
    expect((await s.waiting('bob', 10)).map((m) => m.id)).toEqual([2]);
    expect(await s.waiting('carol', 10)).toEqual([]);
    await s.close();
  });
});
