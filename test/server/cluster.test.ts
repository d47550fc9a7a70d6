/**
 * The cluster compliance suite: the same rules checked against both backplanes, the in-memory one
 * (instances in one process sharing a hub) and Redis (a redis-server of the test's own). Several
 * real `QimServer`s on their own ports, real classic and qim clients on loopback.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServerLink } from '../../src/client/server-link.js';
import { ed25519KeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { QimServer } from '../../src/index.js';
import type { Backplane, BackplaneTiming } from '../../src/server/cluster/backplane.js';
import { MemoryBackplane, MemoryHub } from '../../src/server/cluster/memory.js';
import { RedisBackplane } from '../../src/server/cluster/redis.js';
import { RedisOffline } from '../../src/server/cluster/redis-offline.js';
import { QimChatClient } from '../../src/client/qim-client.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const timing: BackplaneTiming = { instanceLeaseMs: 800, renewMs: 200 };
const limits = { heartbeatMs: 100, leaseMs: 1000 };

interface Backend {
  readonly name: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A backplane for one more instance of the current cluster. */
  make(): Backplane & { crash(): void };
}

let redis: RedisProcess | null = null;
let redisRun = 0;
let hub = new MemoryHub(timing);

const backends: Backend[] = [
  {
    name: 'memory',
    setUp: async () => {
      hub = new MemoryHub(timing);
    },
    tearDown: async () => {},
    make: () => new MemoryBackplane(hub),
  },
  {
    name: 'redis',
    setUp: async () => {
      redis ??= await startRedis();
      redisRun++; // each test its own key prefix: a fresh cluster on the same redis-server
    },
    tearDown: async () => {},
    make: () => new RedisBackplane({ url: (redis as RedisProcess).url, prefix: `t${redisRun}:`, timing }),
  },
];

afterAll(async () => {
  await redis?.stop();
});

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe.each(backends)('a cluster over the $name backplane', (backend) => {
  beforeAll(async () => {
    await backend.setUp();
  });

  const servers: { server: QimServer; backplane: Backplane & { crash(): void } }[] = [];

  async function instance(port = 0): Promise<{ server: QimServer; backplane: Backplane & { crash(): void }; port: number }> {
    const backplane = backend.make();
    const server = new QimServer({ host: '127.0.0.1', port, limits, backplane });
    await server.start();
    const entry = { server, backplane };
    servers.push(entry);
    closers.push(() => server.stop());
    return { ...entry, port: server.endpoint.port };
  }

  async function qim(port: number, name: string, identity: KeyPair = ed25519KeyPair()): Promise<ServerLink> {
    const udp = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
    const l = new ServerLink(udp, { server: { address: '127.0.0.1', port }, name, identity, attemptMs: 300, retryDelay: () => 100 });
    udp.onDatagram((b) => l.receive(b));
    portOf.set(l, udp.local().port);
    closers.push(async () => {
      l.close();
      await udp.close();
    });
    await l.connect();
    return l;
  }

  async function classic(port: number, name: string): Promise<{ peer: RawPeer; list: string }> {
    const peer = await RawPeer.bind();
    closers.push(() => peer.close());
    return { peer, list: await rawLogin(peer, name, port) };
  }

  const portOf = new Map<ServerLink, number>();
  const names = (l: ServerLink) => l.contacts().map((c) => c.name).sort();

  it('shows users of every instance to every user, classic and qim alike', async () => {
    await backend.setUp();
    const a = await instance();
    const b = await instance();
    const old = await classic(a.port, 'old');
    const bob = await qim(b.port, 'bob');
    await until(() => names(bob).join() === 'old', "bob (on B) to list old (on A)");
    expect(bob.contacts()[0]).toMatchObject({ protocol: 'classic', endpoint: { port: Number(old.peer.endpoint.split(':').pop()) } });
    expect((await old.peer.nextText('login,bob')).text).toBe(`login,bob,127.0.0.1:${portOf.get(bob)}`);
    const late = await classic(b.port, 'late');
    expect(late.list).toContain('old');
    expect(late.list).toContain('bob');
    expect(a.server.users().map((u) => u.name).sort()).toEqual(['bob', 'late', 'old']);
  });

  it('delivers every join and leave to every client exactly once', async () => {
    await backend.setUp();
    const nodes = [await instance(), await instance(), await instance()];
    const watchers = await Promise.all(nodes.map((n, i) => classic(n.port, `watch${i}`)));
    const qimWatch = await qim(nodes[0]?.port ?? 0, 'qimwatch');
    const joins = new Map<string, number>();
    qimWatch.on('joined', (c) => joins.set(c.name, (joins.get(c.name) ?? 0) + 1));
    const leaves = new Map<string, number>();
    qimWatch.on('left', ({ name }) => leaves.set(name, (leaves.get(name) ?? 0) + 1));
    await until(() => names(qimWatch).length === 3, 'the watchers to see each other');
    joins.clear();

    const users: ServerLink[] = [];
    for (let i = 0; i < 9; i++) users.push(await qim(nodes[i % 3]?.port ?? 0, `u${i}`));
    await until(() => names(qimWatch).length === 12, 'every user listed');
    for (const u of users) u.logout();
    await until(() => names(qimWatch).length === 3, 'every user gone');
    await new Promise((r) => setTimeout(r, 300)); // anything doubled would have arrived by now
    for (let i = 0; i < 9; i++) {
      expect(joins.get(`u${i}`), `joins of u${i}`).toBe(1);
      expect(leaves.get(`u${i}`), `leaves of u${i}`).toBe(1);
    }
    for (const w of watchers) {
      const texts = w.peer.received.map((r) => r.text);
      for (let i = 0; i < 9; i++) {
        expect(texts.filter((t) => t.startsWith(`login,u${i},`)), `classic logins of u${i}`).toHaveLength(1);
        expect(texts.filter((t) => t.startsWith(`logout,u${i},`)), `classic logouts of u${i}`).toHaveLength(1);
      }
    }
  });

  it('expires the users of an instance that dies, announced by the survivors; a restarted instance rejoins', async () => {
    await backend.setUp();
    const a = await instance();
    const b = await instance();
    const watcher = await qim(a.port, 'watcher');
    const old = await classic(a.port, 'old');
    await qim(b.port, 'doomed');
    await classic(b.port, 'doomed-classic');
    await until(() => names(watcher).length === 3, 'the watcher to see everyone');
    // kill -9: no goodbye to the cluster, and the sockets go silent.
    b.backplane.crash();
    await b.server.stop();
    await until(() => names(watcher).join() === 'old', "the dead instance's users to leave", timing.instanceLeaseMs * 4);
    expect(old.peer.received.filter((r) => r.text.startsWith('logout,doomed,'))).toHaveLength(1);
    expect(a.server.users().map((u) => u.name).sort()).toEqual(['old', 'watcher']);

    const again = await instance(b.port);
    await qim(again.port, 'back');
    await until(() => names(watcher).join() === 'back,old', 'the restarted instance to rejoin');
  });

  it('binds a name to its key across the cluster, and follows a user who moves to another instance', async () => {
    await backend.setUp();
    const a = await instance();
    const b = await instance();
    const key = ed25519KeyPair();
    const watcher = await qim(b.port, 'watcher');
    const first = await qim(a.port, 'alice', key);
    await until(() => names(watcher).join() === 'alice', 'alice listed');
    // Another key cannot take the name on the other instance, nor can a classic login.
    await expect(qim(b.port, 'alice')).rejects.toMatchObject({ code: 'ERR_LOGIN_REFUSED' });
    const thief = await RawPeer.bind();
    closers.push(() => thief.close());
    await thief.send(`login,alice,${thief.endpoint}`, b.port);
    expect((await thief.nextText('Refuse,')).text).toMatch(/^Refuse,/);
    // The same key on the other instance: alice moved; A forgets her session without a leave.
    const moved = await qim(b.port, 'alice', key);
    await until(() => watcher.contacts().find((c) => c.name === 'alice')?.endpoint.port === portOf.get(moved), 'alice at her new endpoint');
    expect(a.server.users().find((u) => u.name === 'alice')?.instance).toBeDefined();
    first.close();
  });
});

describe('a cluster over Redis, when Redis restarts empty', () => {
  it('puts every instance\'s users back, so an instance started afterwards lists them all', { timeout: 30_000 }, async () => {
    const own = await startRedis();
    closers.push(() => own.stop());
    const make = () => new RedisBackplane({ url: own.url, timing });
    const start = async () => {
      const server = new QimServer({ host: '127.0.0.1', port: 0, limits, backplane: make() });
      await server.start();
      closers.push(() => server.stop());
      return server;
    };
    const a = await start();
    const b = await start();
    const alice = await RawPeer.bind();
    closers.push(() => alice.close());
    await rawLogin(alice, 'alice', a.endpoint.port);
    const bob = await RawPeer.bind();
    closers.push(() => bob.close());
    await rawLogin(bob, 'bob', b.endpoint.port);
    await until(() => a.users().length === 2 && b.users().length === 2, 'both instances to list both');

    await own.stop();
    const again = await startRedis(own.port);
    closers.push(() => again.stop());
    // Each instance reconnects and publishes its own users again.
    let c: QimServer | null = null;
    for (let i = 0; i < 50 && (c === null || c.users().length < 2); i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (c === null) c = await start().catch(() => null);
    }
    await until(() => (c?.users().length ?? 0) === 2, 'a new instance to list alice and bob', 10_000);
    expect(c?.users().map((u) => u.name).sort()).toEqual(['alice', 'bob']);
  });
});

describe('offline messages in a cluster over Redis', () => {
  it('are left on one instance and delivered by another', { timeout: 30_000 }, async () => {
    const own = await startRedis();
    closers.push(() => own.stop());
    const start = async () => {
      const offline = await RedisOffline.open(own.url);
      const server = new QimServer({ host: '127.0.0.1', port: 0, limits, backplane: new RedisBackplane({ url: own.url, timing }), offline });
      await server.start();
      closers.push(async () => {
        await server.stop();
        offline.close();
      });
      return server.endpoint.port;
    };
    const a = await start();
    const b = await start();
    const chat = async (port: number, name: string, identity: KeyPair) => {
      const c = new QimChatClient({ server: { host: '127.0.0.1', port }, name, identity, host: '127.0.0.1' });
      closers.push(() => c.close());
      await c.login();
      return c;
    };
    const bobKey = ed25519KeyPair();
    await (await chat(b, 'bob', bobKey)).logout(); // bob is known (key and prekey), and away
    const alice = await chat(a, 'alice', ed25519KeyPair());
    const states: string[] = [];
    alice.on('delivery', (d) => states.push(d.state));
    alice.send('bob', '留在 A，取自 B');
    await until(() => states.includes('stored'), 'stored', 10_000);
    const bob = new QimChatClient({ server: { host: '127.0.0.1', port: b }, name: 'bob', identity: bobKey, host: '127.0.0.1' });
    closers.push(() => bob.close());
    const got: string[] = [];
    bob.on('message', (m) => got.push(m.text));
    await bob.login();
    await until(() => got.length === 1, 'the message at bob, on the other instance', 10_000);
    expect(got).toEqual(['留在 A，取自 B']);
  });
});
