import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerLink, type LinkOptions } from '../../src/client/server-link.js';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { QimServer, type ServerOptions } from '../../src/index.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { RawPeer, rawLogin, tcpExchange } from '../helpers/raw-peer.js';
import { encodeV2, Type } from '../../src/protocol/v2/messages.js';
import { frameDatagrams } from '../../src/protocol/v2/stream.js';
import { SlowPath } from '../helpers/slow-path.js';
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

const portOf = new Map<ServerLink, number>();

/** A link; `keep` may drop datagrams from the server before the link sees them (a lossy path). */
async function link(port: number, name: string, extra: Partial<LinkOptions> = {}, keep: (bytes: Buffer) => boolean = () => true): Promise<ServerLink> {
  const udp = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
  const l = new ServerLink(udp, {
    server: { address: '127.0.0.1', port },
    name,
    identity: ed25519KeyPair(),
    attemptMs: 300,
    retryDelay: () => 50,
    ...extra,
  });
  udp.onDatagram((bytes) => {
    if (keep(bytes)) l.receive(bytes);
  });
  portOf.set(l, udp.local().port);
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

  it('sees a lost delta as a version gap and fetches what it missed over TCP', async () => {
    // Heartbeats every 200 ms: a busy machine's late acknowledgement must not log alice in again
    // (a new login fetches the whole list).
    const s = await server({ limits: { ...fast, heartbeatMs: 200, leaseMs: 2000 } });
    const port = s.endpoint.port;
    let dropDeltas = false;
    const isDelta = (b: Buffer) => b[1] === Type.Presence && b.readUInt32BE(10) > 0;
    const alice = await link(port, 'alice', {}, (b) => !(dropDeltas && isDelta(b)));
    await alice.connect();
    await until(() => alice.version >= 1, 'alice to hold the list');
    dropDeltas = true; // every delta from now on is lost on the way to alice
    const bob = await link(port, 'bob');
    const carol = await link(port, 'carol');
    await bob.connect();
    await carol.connect();
    // The next HEARTBEAT-ACK shows alice the server's newer version: she resyncs over TCP.
    await until(() => alice.contacts().length === 2, 'alice to resync and see bob and carol');
    expect(alice.contacts().map((c) => c.name).sort()).toEqual(['bob', 'carol']);
    await until(() => alice.resyncs.tcp === 1, 'the resync to be counted');
    expect(alice.resyncs.udp).toBe(0);
    // The server kept the batches she missed: she was sent those, not the whole list.
    expect(alice.resyncs.caughtUp).toBe(1);
    expect(alice.version).toBe(s.counters.logins + 1);
  });

  it('fetches the whole list when the batches it missed are as long as the list', async () => {
    const s = await server({ limits: { heartbeatMs: 1000, leaseMs: 5000 } });
    const port = s.endpoint.port;
    let dropDeltas = false;
    let dropAcks = false;
    const lost = (b: Buffer) => (dropDeltas && b[1] === Type.Presence && b.readUInt32BE(10) > 0) || (dropAcks && b[1] === Type.HeartbeatAck);
    const alice = await link(port, 'alice', {}, (b) => !lost(b));
    await alice.connect();
    await until(() => alice.version >= 1, 'alice to hold the list');
    dropDeltas = true;
    dropAcks = true; // nor does she see the gap until all three changes are made
    // Three changes for a list of two: bob comes, goes, and carol comes.
    const bob = await link(port, 'bob');
    await bob.connect();
    await until(() => s.directory.size === 2, 'bob to log in');
    await new Promise((r) => setTimeout(r, 60)); // his join goes out as its own batch
    bob.logout();
    await until(() => s.directory.size === 1, 'bob to leave');
    await (await link(port, 'carol')).connect();
    dropAcks = false;
    await until(() => alice.contacts().map((c) => c.name).join() === 'carol', 'alice to resync and see carol alone');
    expect(alice.resyncs.caughtUp).toBe(0);
    expect(alice.resyncs.tcp).toBeGreaterThan(0);
  });

  it('answers a TCP list request only for a live session, and drops garbage', async () => {
    const s = await server();
    const port = s.endpoint.port;
    const unknown = encodeV2({ type: 'list-request', session: Buffer.alloc(8, 7), counter: 1, listVersion: 0, mac: Buffer.alloc(16) });
    expect((await tcpExchange(port, { send: frameDatagrams([unknown]) })).length).toBe(0);
    expect(s.counters.drops['not-logged-in']).toBe(1);
    expect((await tcpExchange(port, { send: Buffer.from([0xff, 0xff, 1, 2]) })).length).toBe(0);
    expect((await tcpExchange(port, { send: Buffer.from([0x00, 0x03, 0x41, 0x00, 0x42]) })).length).toBe(0);
    expect(s.counters.drops['tcp-garbage']).toBe(2);
    // The server still serves.
    const alice = await link(port, 'alice');
    await alice.connect();
    expect(alice.state).toBe('online');
  });

  it('shows away and busy as status changes; invisible hides the user from qim and classic lists alike', async () => {
    const s = await server();
    const port = s.endpoint.port;
    const old = await RawPeer.bind();
    closers.push(() => old.close());
    await rawLogin(old, 'old', port);
    const alice = await link(port, 'alice');
    const bob = await link(port, 'bob');
    await alice.connect();
    await bob.connect();
    await until(() => alice.contacts().some((c) => c.name === 'bob'), 'alice to see bob');
    await old.nextText('login,bob');
    old.received.splice(0); // what came before (alice's login) is not the point here

    const away = nextEvent<{ name: string; status: string }>(alice, 'status');
    bob.setStatus('away');
    expect(await away).toEqual({ name: 'bob', status: 'away' });
    expect(alice.contacts().find((c) => c.name === 'bob')?.status).toBe('away');

    const left = nextEvent<{ name: string }>(alice, 'left');
    bob.setStatus('invisible');
    expect((await left).name).toBe('bob');
    // Classic users know no statuses: the next thing they hear of bob is his leaving.
    expect((await old.next()).text).toMatch(/^logout,bob,/);
    expect(s.users().find((u) => u.name === 'bob')?.status).toBe('invisible');
    const late = await RawPeer.bind();
    closers.push(() => late.close());
    expect(await rawLogin(late, 'late', port)).not.toContain('bob');
    const carol = await link(port, 'carol');
    await carol.connect();
    await until(() => carol.contacts().length === 3, "carol's list");
    expect(carol.contacts().map((c) => c.name).sort()).toEqual(['alice', 'late', 'old']);
    // bob still sees everyone, and stays logged in.
    await until(() => bob.contacts().some((c) => c.name === 'carol'), 'bob to see carol');

    const back = nextEvent<{ name: string; status: string }>(alice, 'joined', (c) => c.name === 'bob');
    bob.setStatus('busy');
    expect(await back).toMatchObject({ name: 'bob', status: 'busy' });
    expect((await old.nextText('login,bob')).text).toMatch(/^login,bob,/);
  });

  it('keeps its status across a new login', async () => {
    const first = await server();
    const port = first.endpoint.port;
    const bob = await link(port, 'bob', { status: 'busy' });
    await bob.connect();
    expect(first.users()[0]?.status).toBe('busy');
    bob.setStatus('away');
    await until(() => first.users()[0]?.status === 'away', 'the server to hear the STATUS');
    await first.stop();
    const second = await server({ port });
    await until(() => second.users().length === 1, 'bob to log in again');
    expect(second.users()[0]?.status).toBe('away');
  });

  it('introduces a user to a peer (a PUNCH with its endpoints) and relays peer datagrams within a budget', async () => {
    const s = await server({ limits: { ...fast, relayBytesPerSecond: 1, relayBurstBytes: 1000 } });
    const port = s.endpoint.port;
    const alice = await link(port, 'alice');
    const bob = await link(port, 'bob');
    await alice.connect();
    await bob.connect();
    const punch = nextEvent<{ peer: string; observed: { port: number }; privateEndpoint: { port: number } }>(bob, 'punch');
    alice.introduce('bob');
    const p = await punch;
    expect(p.peer).toBe('alice');
    expect(p.observed.port).toBe(portOf.get(alice));
    expect(p.privateEndpoint.port).toBe(portOf.get(alice));
    alice.introduce('nobody');
    await until(() => s.counters.drops['unknown-peer'] === 1, 'an introduction to no one dropped');

    const relayed: Buffer[] = [];
    bob.on('relayed', ({ peer, inner }) => peer === 'alice' && relayed.push(inner));
    const inner = encodeV2({ type: 'data', receiver: 1, counter: 1, ciphertext: Buffer.alloc(400, 7) });
    for (let i = 0; i < 4; i++) alice.relay('bob', inner);
    await until(() => (s.counters.drops['relay-limit'] ?? 0) >= 1, 'the budget to run out');
    expect(relayed.length).toBeLessThan(4);
    await until(() => relayed.length === 4 - (s.counters.drops['relay-limit'] ?? 0), 'what fitted the budget');
    expect(relayed.every((b) => b.equals(inner))).toBe(true);
    expect(s.counters.relayed).toBe(relayed.length);
    // A RELAY for a session nobody holds is dropped, and sends nothing anywhere.
    const stray = await RawPeer.bind();
    closers.push(() => stray.close());
    await stray.send(encodeV2({ type: 'relay', session: Buffer.alloc(8, 9), peer: 'bob', inner, mac: Buffer.alloc(16) }), port);
    await until(() => s.counters.drops['not-logged-in'] === 1, 'the stray RELAY dropped');
  });

  describe('when TCP does not serve the list', () => {
    it('keeps asking over TCP while a busy server turns it away, and only then asks over UDP', async () => {
      const s = await server({ limits: { ...fast, leaseMs: 10_000, maxTcpConnections: 1, tcpIdleMs: 60_000 } });
      // One idle connection holds the server's only slot: every fetch is turned away.
      const idle = connect({ host: '127.0.0.1', port: s.endpoint.port });
      closers.push(() => void idle.destroy());
      await new Promise((r) => idle.once('connect', r));
      const classic = await RawPeer.bind();
      closers.push(() => classic.close());
      await classic.send(`login,old,${classic.endpoint}`, s.endpoint.port);
      const alice = await link(s.endpoint.port, 'alice', { tcpRetryMs: 1 });
      await alice.connect();
      await until(() => alice.contacts().some((c) => c.name === 'old'), 'the list, as datagrams');
      expect(s.counters.drops['tcp-too-many']).toBe(12);
    });

    it('asks over UDP after two fetches fail otherwise (no TCP connection at all)', async () => {
      const s = await server();
      const path = await SlowPath.open(s.endpoint.port);
      closers.push(() => path.close());
      await path.refuseTcp();
      const classic = await RawPeer.bind();
      closers.push(() => classic.close());
      await classic.send(`login,old,${classic.endpoint}`, s.endpoint.port);
      const alice = await link(path.port, 'alice', { tcpRetryMs: 1 });
      await alice.connect();
      await until(() => alice.contacts().some((c) => c.name === 'old'), 'the list, as datagrams');
      expect(s.counters.tcpConnections).toBe(0);
    });
  });

  describe('in a login storm', () => {
    /** 120 classic users log in at once: with a long batch window, one batch, and a hold. */
    async function storm(port: number): Promise<void> {
      const peers = await Promise.all(Array.from({ length: 120 }, () => RawPeer.bind()));
      closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
      await Promise.all(peers.map((p, i) => p.send(`login,user${i},${p.endpoint}`, port)));
    }

    it('waits for the list to settle, then fetches it once over TCP (heartbeats ahead meanwhile are no gap)', async () => {
      // Heartbeats every 200 ms, not 50: the storm's classic users cost the server 14,400 sends at
      // once, and acknowledgements 175 ms late would have alice log in again (and then fetch the
      // whole list, being new).
      const s = await server({ limits: { ...fast, heartbeatMs: 200, leaseMs: 5000, presenceBatchMs: 500 } });
      const alice = await link(s.endpoint.port, 'alice');
      await alice.connect();
      await until(() => alice.version > 0, 'the first list');
      await storm(s.endpoint.port);
      await until(() => alice.contacts().length === 120, 'every user of the storm', 8000);
      expect(s.counters.presenceHolds).toBe(1);
      // Alice had a list before the storm: she fetched the hold's batches, not the whole list.
      expect(alice.resyncs).toEqual({ tcp: 0, udp: 0, held: 1, caughtUp: 1 });
      expect(alice.version).toBe(s.counters.logins + 1);
    });

    it('logs in during a hold without a fetch: the WELCOME names the hold, and the list comes once it settles', async () => {
      const s = await server({ limits: { ...fast, leaseMs: 10_000, presenceBatchMs: 500 } });
      await storm(s.endpoint.port);
      await until(() => s.counters.presenceHolds === 1, 'the hold');
      const connections = s.counters.tcpConnections;
      const alice = await link(s.endpoint.port, 'alice');
      await alice.connect();
      await until(() => alice.contacts().length === 120, 'every user of the storm', 8000);
      // One connection: the fetch after the settle (none during the hold, to be told of the hold).
      expect(s.counters.tcpConnections - connections).toBe(1);
      // She had no list yet: the whole list.
      expect(alice.resyncs).toEqual({ tcp: 0, udp: 0, held: 1, caughtUp: 0 });
    });

    it('fetches the list at the settle even when a fetch made during the hold is answered late, with the hold', async () => {
      // Alice's notice of the hold is lost, so a heartbeat acknowledgement ahead of her list sends
      // her to fetch it during the hold; that answer (a LIST-HOLD) is held on the way until the
      // settle has come over UDP and her spread has passed: read then, it is stale.
      const s = await server({ limits: { ...fast, leaseMs: 10_000, presenceBatchMs: 500 } });
      const path = await SlowPath.open(s.endpoint.port);
      closers.push(() => path.close());
      const notice = (b: Buffer): boolean => b[1] === Type.ListHold && b.readUInt16BE(14) > 0;
      const alice = await link(path.port, 'alice', {}, (b) => !notice(b));
      await alice.connect();
      await until(() => alice.version > 0, 'the first list');
      path.holdTcp = true;
      await storm(s.endpoint.port);
      const isSettle = (b: Buffer): boolean => b[1] === Type.ListHold && b.readUInt16BE(14) === 0;
      await until(() => path.toClient.some(isSettle), 'the settle');
      await new Promise((r) => setTimeout(r, 200)); // past the spread (a few ms for 121 users)
      expect(alice.contacts()).toHaveLength(0);
      path.release();
      // The stale hold's wait would be over 5 s (what was left of MAX_HOLD_MS, a window, a second).
      await until(() => alice.contacts().length === 120, 'every user of the storm, fetched again after the stale answer', 3000);
      expect(alice.resyncs.held).toBe(1);
    });

    it('fetches the list when its wait runs out, if the settle was lost', async () => {
      // Heartbeats every 200 ms: late acknowledgements in the storm must not log alice in again.
      const s = await server({ limits: { ...fast, heartbeatMs: 200, leaseMs: 10_000, presenceBatchMs: 300 } });
      // The settle (a LIST-HOLD with no wait) never arrives.
      const settle = (b: Buffer): boolean => b[1] === Type.ListHold && b.readUInt16BE(14) === 0;
      const alice = await link(s.endpoint.port, 'alice', {}, (b) => !settle(b));
      await alice.connect();
      await until(() => alice.version > 0, 'the first list');
      const held = Date.now();
      await storm(s.endpoint.port);
      await until(() => alice.contacts().length === 120, 'every user of the storm, after the wait', 12_000);
      // The hold's wait: what was left of MAX_HOLD_MS, a batch window and a second.
      expect(Date.now() - held).toBeGreaterThan(4000);
      expect(alice.resyncs).toEqual({ tcp: 0, udp: 0, held: 1, caughtUp: 1 });
    });
  });
});
