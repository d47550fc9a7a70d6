import { afterEach, describe, expect, it } from 'vitest';
import { ServerLink, type LinkOptions } from '../../src/client/server-link.js';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { QimServer, type ServerOptions } from '../../src/index.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';
import { nextEvent, until } from '../helpers/wait.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const fast = { heartbeatMs: 50, leaseMs: 400 };
const serverKey = ed25519KeyPair();

async function server(opts: ServerOptions = {}): Promise<QimServer> {
  const s = new QimServer({ host: '127.0.0.1', port: 0, identity: serverKey, limits: fast, ...opts });
  await s.start();
  closers.push(() => s.stop());
  return s;
}

async function link(port: number, name: string, extra: Partial<LinkOptions> = {}): Promise<ServerLink> {
  const udp = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
  const l = new ServerLink(udp, {
    server: { address: '127.0.0.1', port },
    name,
    identity: ed25519KeyPair(),
    attemptMs: 300,
    retryDelay: () => 50,
    ...extra,
  });
  udp.onDatagram((bytes) => l.receive(bytes));
  closers.push(async () => {
    l.close();
    await udp.close();
  });
  return l;
}

describe('qim server link', () => {
  it('logs in, receives the list, and follows joins and leaves', async () => {
    const s = await server();
    const port = s.endpoint.port;
    const classic = await RawPeer.bind();
    closers.push(() => classic.close());
    await rawLogin(classic, 'old', port);
    const alice = await link(port, 'alice');
    const listed = nextEvent(alice, 'list');
    await alice.connect();
    await listed;
    expect(alice.contacts().map((c) => [c.name, c.protocol])).toEqual([['old', 'classic']]);
    expect(alice.serverKey).toEqual(serverKey.publicKey);
    const bob = await link(port, '剑痴');
    const joined = nextEvent<{ name: string }>(alice, 'joined', (c) => c.name === '剑痴');
    await bob.connect();
    expect(await joined).toMatchObject({ name: '剑痴', protocol: 'qim' });
    const left = nextEvent<{ name: string }>(alice, 'left');
    bob.logout();
    expect((await left).name).toBe('剑痴');
  });

  it('refuses a server whose key differs from the pinned one, with a warning', async () => {
    const s = await server();
    const l = await link(s.endpoint.port, 'alice', { serverKey: ed25519KeyPair().publicKey });
    const warned = nextEvent(l, 'warning');
    await expect(l.connect(1)).rejects.toMatchObject({ code: 'ERR_LOGIN_REFUSED' });
    expect(await warned).toMatchObject({ code: 'server-key-changed' });
  });

  it('leaves every list within the lease when its client dies without a word', async () => {
    const s = await server();
    const alice = await link(s.endpoint.port, 'alice');
    await alice.connect();
    const bob = await link(s.endpoint.port, 'bob');
    await bob.connect();
    await until(() => alice.contacts().some((c) => c.name === 'bob'), 'alice to see bob');
    const left = nextEvent<{ name: string }>(alice, 'left');
    bob.close(); // as kill -9: no logout, no more heartbeats
    expect((await left).name).toBe('bob');
  });

  it('notices a lost server, logs in again when it returns, and the lists reconverge', async () => {
    const first = await server();
    const port = first.endpoint.port;
    const alice = await link(port, 'alice');
    const bob = await link(port, 'bob');
    await alice.connect();
    await bob.connect();
    await until(() => alice.contacts().length === 1 && bob.contacts().length === 1, 'both lists');
    await first.stop();
    await until(() => alice.state === 'reconnecting', 'alice to notice');
    const second = await server({ port });
    await until(() => alice.state === 'online' && bob.state === 'online', 'both back online');
    await until(() => alice.contacts().map((c) => c.name).join() === 'bob' && bob.contacts().map((c) => c.name).join() === 'alice', 'lists to reconverge');
    expect(second.users().map((u) => u.name).sort()).toEqual(['alice', 'bob']);
  });
});
