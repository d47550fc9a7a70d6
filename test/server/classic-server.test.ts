import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QimClient, QimServer, type IncomingMessage } from '../../src/index.js';
import { fixture } from '../helpers/fixtures.js';
import { RawPeer, rawLogin, tcpExchange } from '../helpers/raw-peer.js';
import { nextEvent, until } from '../helpers/wait.js';

let server: QimServer;
let port: number;
const peers: RawPeer[] = [];
const clients: QimClient[] = [];

async function peer(address = '127.0.0.1'): Promise<RawPeer> {
  const p = await RawPeer.bind(address);
  peers.push(p);
  return p;
}

async function client(name: string): Promise<QimClient> {
  const c = new QimClient({ server: { host: '127.0.0.1', port }, name, host: '127.0.0.1' });
  clients.push(c);
  await c.login();
  return c;
}

beforeEach(async () => {
  server = new QimServer({ host: '127.0.0.1', port: 0 });
  await server.start();
  port = server.endpoint.port;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await server.stop();
});

describe('classic server', () => {
  it('answers a login with Accept naming its TCP port, the same number as UDP', async () => {
    const alice = await peer();
    await alice.send(`login,alice,${alice.endpoint}`, port);
    const accept = await alice.nextText('Accept,');
    expect(accept.text).toBe(`Accept,${port}`);
    expect(accept.from.port).toBe(port);
  });

  it('hands each new user the whole list, itself included', async () => {
    const alice = await peer();
    const bob = await peer();
    expect(await rawLogin(alice, 'alice', port)).toBe(`alice,${alice.endpoint};end`);
    expect(await rawLogin(bob, 'bob', port)).toBe(`alice,${alice.endpoint};bob,${bob.endpoint};end`);
  });

  it('converges every list on the server directory as users join one after another', async () => {
    const names = ['alice', 'bob', '剑痴', '张三', '😀'];
    const views = new Map<string, Set<string>>();
    const ps: RawPeer[] = [];
    for (const name of names) {
      const p = await peer();
      ps.push(p);
      const list = await rawLogin(p, name, port);
      views.set(name, new Set(list.split(';').slice(0, -1).map((e) => e.split(',')[0] ?? '')));
    }
    // Each earlier user hears of each later one through a forwarded login.
    for (const [i, p] of ps.entries()) {
      for (const later of names.slice(i + 1)) {
        const d = await p.nextText(`login,${later},`);
        views.get(names[i] as string)?.add(d.text.split(',')[1] ?? '');
      }
    }
    const directory = new Set(server.users().map((u) => u.name));
    for (const view of views.values()) expect(view).toEqual(directory);
  });

  it('tells the others, byte for byte, when someone joins and leaves', async () => {
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const bob = await peer();
    await rawLogin(bob, 'bob', port);
    expect((await alice.nextText('login,')).bytes).toEqual(Buffer.from(`login,bob,${bob.endpoint}`, 'utf16le'));
    await bob.send(`logout,bob,${bob.endpoint}`, port);
    expect((await alice.nextText('logout,')).bytes).toEqual(Buffer.from(`logout,bob,${bob.endpoint}`, 'utf16le'));
    await until(() => server.directory.byName('bob') === undefined, 'bob to leave the directory');
  });

  it('serves a seed-style client that logs in from a throwaway socket', async () => {
    const receive = await peer();
    const throwaway = await peer();
    await throwaway.send(`login,alice,${receive.endpoint}`, port);
    expect((await receive.nextText('Accept,')).text).toBe(`Accept,${port}`);
    await throwaway.send(`logout,alice,${receive.endpoint}`, port);
    await until(() => server.directory.size === 0, 'alice to leave');
  });

  it('lets two qim clients chat both ways, with commas, Chinese and emoji', async () => {
    const alice = await client('alice');
    const bob = await client('剑痴');
    await until(() => alice.contact('剑痴') !== undefined, 'alice to see 剑痴');
    const toBob = nextEvent<IncomingMessage>(bob, 'message');
    alice.send('剑痴', '你好, 世界 😀, ok');
    expect(await toBob).toMatchObject({ from: 'alice', text: '你好, 世界 😀, ok' });
    const toAlice = nextEvent<IncomingMessage>(alice, 'message');
    bob.send('alice', '收到');
    expect(await toAlice).toMatchObject({ from: '剑痴', text: '收到' });
  });

  it('refuses a name already online from another endpoint, and keeps the first', async () => {
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const impostor = await peer();
    await impostor.send(`login,alice,${impostor.endpoint}`, port);
    const refuse = await impostor.nextText('Refuse,');
    expect(refuse.bytes).toEqual(fixture('classic/refuse-name-taken'));
    expect(server.directory.byName('alice')?.endpoint.port).toBe(alice.port);
    expect(server.counters.refused).toBe(1);
  });

  it.each([
    ['a comma', 'a,b'],
    ['a semicolon', 'a;b'],
    ['nothing', ''],
    ['a control character', 'a\u001bb'],
    ['too many characters', 'x'.repeat(33)],
  ])('refuses a name with %s', async (_what, name) => {
    const p = await peer();
    await p.send(`login,${name},${p.endpoint}`, port);
    expect((await p.nextText('Refuse,')).text).toBe('Refuse,bad name');
    expect(server.directory.size).toBe(0);
  });

  it('never answers a refusal with more bytes than the login', async () => {
    const p = await peer();
    const other = await peer();
    await rawLogin(other, 'ab', port);
    const login = Buffer.from(`login,ab,${p.endpoint}`, 'utf16le');
    await p.send(login, port);
    const refuse = await p.nextText('Refuse,');
    expect(refuse.bytes.length).toBeLessThanOrEqual(login.length);
  });

  it('answers a repeated login from the same endpoint and announces nothing', async () => {
    const alice = await peer();
    const bob = await peer();
    await rawLogin(alice, 'alice', port);
    await rawLogin(bob, 'bob', port);
    await alice.nextText('login,bob');
    await bob.send(`login,bob,${bob.endpoint}`, port);
    await bob.nextText('Accept,');
    // Sentinel: carol's arrival is the next thing alice hears; no second "bob" before it.
    const carol = await peer();
    await rawLogin(carol, 'carol', port);
    expect((await alice.next()).text).toBe(`login,carol,${carol.endpoint}`);
  });

  it('replaces the entry when a new name logs in from the same endpoint', async () => {
    const alice = await peer();
    const bob = await peer();
    await rawLogin(alice, 'alice', port);
    await rawLogin(bob, 'bob', port);
    await alice.nextText('login,bob');
    await bob.send(`login,robert,${bob.endpoint}`, port);
    expect((await alice.next()).text).toBe(`logout,bob,${bob.endpoint}`);
    expect((await alice.next()).text).toBe(`login,robert,${bob.endpoint}`);
    expect(server.users().map((u) => u.name)).toEqual(['alice', 'robert']);
  });

  it('ignores a logout sent from another address', async () => {
    const alice = await peer();
    const bob = await peer();
    await rawLogin(alice, 'alice', port);
    await rawLogin(bob, 'bob', port);
    await alice.nextText('login,bob');
    const mallory = await peer('127.0.0.2');
    await mallory.send(`logout,bob,${bob.endpoint}`, port);
    const carol = await peer();
    await rawLogin(carol, 'carol', port);
    expect((await alice.next()).text).toBe(`login,carol,${carol.endpoint}`);
    expect(server.directory.byName('bob')).toBeDefined();
    expect(server.counters.drops['spoofed-source']).toBe(1);
  });

  it('ignores a logout for the right name but another endpoint of the same host', async () => {
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const sameHost = await peer();
    await sameHost.send(`logout,alice,${sameHost.endpoint}`, port);
    await until(() => server.counters.drops['spoofed-source'] === 1, 'the spoofed logout to be dropped');
    expect(server.directory.byName('alice')).toBeDefined();
  });

  describe('what classic cannot prevent (documented in docs/PROTOCOL.md)', () => {
    it('lets another program on the same host log a user out with their exact endpoint', async () => {
      const alice = await peer();
      await rawLogin(alice, 'alice', port);
      const sameHost = await peer('127.0.0.1');
      await sameHost.send(`logout,alice,${alice.endpoint}`, port);
      await until(() => server.directory.byName('alice') === undefined, 'the same-host logout to count');
    });

    it('lets another program on the same host talk under a listed name of that host', async () => {
      const alice = await client('alice');
      const bob = await client('bob');
      await until(() => alice.contact('bob') !== undefined, 'alice to see bob');
      const got = nextEvent<IncomingMessage>(alice, 'message');
      const sameHost = await peer('127.0.0.1');
      await sameHost.send('talk,12:00:00,bob,not really bob', alice.endpoint.port);
      expect(await got).toMatchObject({ from: 'bob', text: 'not really bob' });
      expect(bob.state).toBe('online');
    });
  });

  it('sends nothing to an address claimed by a login from elsewhere (no reflection)', async () => {
    const victim = await peer('127.0.0.3');
    const attacker = await peer('127.0.0.1');
    for (let i = 0; i < 20; i++) await attacker.send(`login,user${i},${victim.endpoint}`, port);
    await until(() => server.counters.drops['spoofed-source'] === 20, 'the forged logins to be dropped');
    // Sentinel: the victim's own login; the first thing it receives must be its own Accept.
    await victim.send(`login,victim,${victim.endpoint}`, port);
    expect((await victim.next()).text).toBe(`Accept,${port}`);
    expect(server.counters.datagramsOut).toBe(1);
  });

  it('keeps serving after a flood of garbage, and counts every drop', async () => {
    const attacker = await peer();
    const garbage: Uint8Array[] = [
      Buffer.alloc(0),
      Buffer.from([0x6c]),
      Buffer.from('hello', 'utf16le'),
      Buffer.from('login,x,127.0.0.1:0', 'utf16le'),
      Buffer.from('login,x,127.0.0.1:65536', 'utf16le'),
      Buffer.from('login,x,[::1:9', 'utf16le'),
      Buffer.from('talk,1,2,3', 'utf16le'),
      Buffer.from('Accept,1', 'utf16le'),
      Buffer.from([0x6c, 0x00, 0x00, 0xd8]),
      Buffer.alloc(9000, 0x6c),
    ];
    for (let i = 0; i < 1000; i++) garbage.push(randomBytes(1 + (i % 200)));
    for (const g of garbage) await attacker.send(g, port);
    await until(() => server.counters.datagramsIn === garbage.length, 'every garbage datagram to arrive');
    const dropped = Object.values(server.counters.drops).reduce((a, b) => a + b, 0);
    expect(dropped).toBe(garbage.length);
    const alice = await peer();
    expect(await rawLogin(alice, 'alice', port)).toBe(`alice,${alice.endpoint};end`);
  });

  it('drops bytes written to the TCP port and keeps serving', async () => {
    const got = await tcpExchange(port, { send: Buffer.from('GET / HTTP/1.1\r\n\r\n') });
    expect(got.length).toBe(0);
    await until(() => server.counters.drops['tcp-garbage'] === 1, 'the TCP garbage to be counted');
    const alice = await peer();
    expect(await rawLogin(alice, 'alice', port)).toBe(`alice,${alice.endpoint};end`);
  });

  it('gives the list only to an address that was just accepted', async () => {
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const stranger = await tcpExchange(port, { localAddress: '127.0.0.9', send: Buffer.from([0xff]) });
    expect(stranger.length).toBe(0);
    // One fetch per Accept: a second fetch from alice's address is refused too.
    const again = await tcpExchange(port, { localAddress: '127.0.0.1', send: Buffer.from([0xff]) });
    expect(again.length).toBe(0);
  });

  it('refuses a login past the user limit', async () => {
    await server.stop();
    server = new QimServer({ host: '127.0.0.1', port: 0, limits: { maxUsers: 1 } });
    await server.start();
    port = server.endpoint.port;
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    const bob = await peer();
    await bob.send(`login,bob,${bob.endpoint}`, port);
    expect((await bob.nextText('Refuse,')).text).toBe('Refuse,server full');
  });

  it('reports what it does as events: login, list sent, broadcast, logout', async () => {
    const seen: string[] = [];
    for (const e of ['login', 'list-sent', 'broadcast', 'logout'] as const) server.on(e, () => seen.push(e));
    const alice = await peer();
    await rawLogin(alice, 'alice', port);
    await alice.send(`logout,alice,${alice.endpoint}`, port);
    await until(() => seen.includes('logout'), 'the logout event');
    expect(seen).toEqual(['login', 'broadcast', 'list-sent', 'logout', 'broadcast']);
  });
});
