import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { QimClient, QimError, type IncomingMessage } from '../../src/index.js';
import { encodeList } from '../../src/protocol/classic/list.js';
import { fixture } from '../helpers/fixtures.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { nextEvent, until } from '../helpers/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fake classic server: a raw UDP socket and a TCP port that serves `list` bytes once per connection. */
async function fakeServer(list: () => Buffer) {
  const udp = await RawPeer.bind('127.0.0.1');
  const tcp: Server = createServer((s) => s.end(list()));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const tcpPort = (tcp.address() as { port: number }).port;
  cleanups.push(() => udp.close(), () => new Promise<void>((r) => tcp.close(() => r())));
  return { udp, tcpPort };
}

function newClient(name: string, serverPort: number, extra: Partial<ConstructorParameters<typeof QimClient>[0]> = {}) {
  const c = new QimClient({ server: { host: '127.0.0.1', port: serverPort }, name, host: '127.0.0.1', ...extra });
  cleanups.push(() => c.close());
  return c;
}

/** Logs `name` in against the fake server, which lists `others` after the client. */
async function loggedIn(name: string, others: { name: string; endpoint: { address: string; port: number } }[] = [], extra = {}) {
  let self = { address: '127.0.0.1', port: 0 };
  const server = await fakeServer(() => encodeList([{ name, endpoint: self }, ...others]));
  const c = newClient(name, server.udp.port, extra);
  const login = c.login();
  const d = await server.udp.nextText('login,');
  self = { address: '127.0.0.1', port: d.from.port };
  await server.udp.send(`Accept,${server.tcpPort}`, d.from.port);
  await login;
  return { client: c, server, loginDatagram: d };
}

describe('classic client', () => {
  it('puts the golden login bytes on the wire', async () => {
    const { client, loginDatagram } = await loggedIn('alice');
    // The golden fixture is for port 9001; ours differs only in the port digits.
    const golden = fixture('classic/login-alice');
    const expected = Buffer.concat([golden.subarray(0, golden.length - 8), Buffer.from(String(client.endpoint.port), 'utf16le')]);
    expect(loginDatagram.bytes).toEqual(expected);
  });

  it('reads the list from the port the Accept names, without itself', async () => {
    const bob = { name: 'bob', endpoint: { address: '127.0.0.1', port: 9002 } };
    const { client } = await loggedIn('alice', [bob]);
    expect(client.contacts()).toEqual([{ ...bob, protocol: 'classic' }]);
    expect(client.state).toBe('online');
  });

  it('puts the golden talk bytes on the wire', async () => {
    const bob = await RawPeer.bind('127.0.0.1');
    cleanups.push(() => bob.close());
    const clock = () => new Date(2026, 10, 26, 14, 5, 33);
    const { client } = await loggedIn('剑痴', [{ name: 'bob', endpoint: { address: '127.0.0.1', port: bob.port } }], { clock });
    client.send('bob', '你好');
    expect((await bob.next()).bytes).toEqual(fixture('classic/talk-chinese'));
  });

  it('delivers a talk whole, commas included, with the sender time as written', async () => {
    const bob = await RawPeer.bind('127.0.0.1');
    cleanups.push(() => bob.close());
    const { client } = await loggedIn('alice', [{ name: 'bob', endpoint: { address: '127.0.0.1', port: bob.port } }]);
    const got = nextEvent<IncomingMessage>(client, 'message');
    // The seed sends from a throwaway socket: a different port on the listed address is fine.
    const throwaway = await RawPeer.bind('127.0.0.1');
    cleanups.push(() => throwaway.close());
    await throwaway.send('talk,6:19:01 AM,bob,one, two, 三', client.endpoint.port);
    expect(await got).toMatchObject({ from: 'bob', text: 'one, two, 三', sentAt: '6:19:01 AM' });
  });

  it('ignores a talk from an address its sender is not listed at', async () => {
    const { client } = await loggedIn('alice', [{ name: 'bob', endpoint: { address: '127.0.0.1', port: 9002 } }]);
    const messages: IncomingMessage[] = [];
    client.on('message', (m) => messages.push(m));
    const drops: string[] = [];
    client.on('drop', (d) => drops.push(d.reason));
    const mallory = await RawPeer.bind('127.0.0.2');
    cleanups.push(() => mallory.close());
    await mallory.send('talk,1,bob,forged', client.endpoint.port);
    await mallory.send('talk,1,nobody,who', client.endpoint.port);
    await until(() => drops.length === 2, 'both forged talks to be dropped');
    expect(drops).toEqual(['spoofed-source', 'unknown-sender']);
    expect(messages).toEqual([]);
  });

  it('takes joins and leaves only from the server address', async () => {
    const { client, server } = await loggedIn('alice');
    const mallory = await RawPeer.bind('127.0.0.2');
    cleanups.push(() => mallory.close());
    await mallory.send('login,ghost,127.0.0.2:5', client.endpoint.port);
    await server.udp.send('login,carol,127.0.0.1:7000', client.endpoint.port);
    await nextEvent(client, 'joined');
    expect(client.contacts().map((c) => c.name)).toEqual(['carol']);
    const left = nextEvent<{ name: string }>(client, 'left');
    await server.udp.send('logout,carol,127.0.0.1:7000', client.endpoint.port);
    expect((await left).name).toBe('carol');
  });

  it('keeps its chat port working after a flood of garbage', async () => {
    const bob = await RawPeer.bind('127.0.0.1');
    cleanups.push(() => bob.close());
    const { client } = await loggedIn('alice', [{ name: 'bob', endpoint: { address: '127.0.0.1', port: bob.port } }]);
    let drops = 0;
    client.on('drop', () => drops++);
    const garbage = [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.from('talk,x', 'utf16le'), Buffer.alloc(9000, 0x74), Buffer.from('Accept,1', 'utf16le')];
    for (const g of garbage) await bob.send(g, client.endpoint.port);
    await until(() => drops === garbage.length, 'every garbage datagram to be dropped');
    const got = nextEvent<IncomingMessage>(client, 'message');
    await bob.send('talk,12:00:00,bob,still here', client.endpoint.port);
    expect((await got).text).toBe('still here');
  });

  it('applies a join announced while its list was being fetched, after the list', async () => {
    let clientPort = 0;
    const udp = await RawPeer.bind('127.0.0.1');
    // The list service announces carol before it writes the list: the worst interleaving.
    const tcp: Server = createServer((s) => {
      void udp.send('login,carol,127.0.0.1:7000', clientPort).then(() =>
        setTimeout(() => s.end(encodeList([{ name: 'alice', endpoint: { address: '127.0.0.1', port: clientPort } }])), 20),
      );
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => udp.close(), () => new Promise<void>((r) => tcp.close(() => r())));
    const c = newClient('alice', udp.port);
    const order: string[] = [];
    c.on('list', () => order.push('list'));
    c.on('joined', (j) => order.push(`joined ${j.name}`));
    const login = c.login();
    const d = await udp.nextText('login,');
    clientPort = d.from.port;
    await udp.send(`Accept,${(tcp.address() as { port: number }).port}`, clientPort);
    await login;
    await until(() => order.length === 2, 'the held join to be applied');
    expect(order).toEqual(['list', 'joined carol']);
    expect(c.contacts().map((x) => x.name)).toEqual(['carol']);
  });

  it('fails the login with the server reason on Refuse', async () => {
    const server = await fakeServer(() => Buffer.alloc(0));
    const c = newClient('alice', server.udp.port);
    const login = c.login();
    const d = await server.udp.nextText('login,');
    await server.udp.send('Refuse,name taken', d.from.port);
    await expect(login).rejects.toMatchObject({ code: 'ERR_LOGIN_REFUSED', message: expect.stringContaining('name taken') });
    expect(c.state).toBe('closed');
  });

  it('retries the login and then gives up with ERR_LOGIN_TIMEOUT', async () => {
    const server = await fakeServer(() => Buffer.alloc(0));
    const c = newClient('alice', server.udp.port, { limits: { loginAttempts: 3, loginRetryMs: 30 } });
    await expect(c.login()).rejects.toMatchObject({ code: 'ERR_LOGIN_TIMEOUT' });
    await until(() => server.udp.received.length === 3, 'three login datagrams');
  });

  it('ignores an Accept from an address that is not the server', async () => {
    const server = await fakeServer(() => Buffer.alloc(0));
    const c = newClient('alice', server.udp.port, { limits: { loginAttempts: 1, loginRetryMs: 200 } });
    const login = c.login();
    const d = await server.udp.nextText('login,');
    const mallory = await RawPeer.bind('127.0.0.2');
    cleanups.push(() => mallory.close());
    await mallory.send(`Accept,${server.tcpPort}`, d.from.port);
    await expect(login).rejects.toMatchObject({ code: 'ERR_LOGIN_TIMEOUT' });
  });

  it('fails the login on a malformed list', async () => {
    const server = await fakeServer(() => Buffer.from([0x05, 0x61, 0x62]));
    const c = newClient('alice', server.udp.port);
    const login = c.login();
    const d = await server.udp.nextText('login,');
    await server.udp.send(`Accept,${server.tcpPort}`, d.from.port);
    await expect(login).rejects.toMatchObject({ code: 'ERR_LIST_FETCH' });
  });

  it('refuses a bad name before sending anything', async () => {
    const c = newClient('a,b', 9);
    await expect(c.login()).rejects.toBeInstanceOf(QimError);
    await expect(newClient('', 9).login()).rejects.toMatchObject({ code: 'ERR_BAD_NAME' });
  });

  it('refuses to send to someone who is not online, or a message too long for a datagram', async () => {
    const { client } = await loggedIn('alice', [{ name: 'bob', endpoint: { address: '127.0.0.1', port: 9002 } }]);
    expect(() => client.send('nobody', 'hi')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_PEER' }));
    expect(() => client.send('bob', 'x'.repeat(5000))).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LONG' }));
  });

  it('sends the golden logout bytes shape when it leaves', async () => {
    const { client, server } = await loggedIn('alice');
    const port = client.endpoint.port;
    await client.logout();
    const d = await server.udp.nextText('logout,');
    expect(d.text).toBe(`logout,alice,127.0.0.1:${port}`);
    expect(client.state).toBe('closed');
  });
});
