import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACK_DELAY_MS, ACK_EVERY, PeerSession, type PeerRoute, type PeerSessionDeps } from '../../src/client/peer-session.js';
import { ed25519KeyPair, type KeyPair } from '../../src/crypto/keys.js';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import { decodeV2, type V2Message } from '../../src/protocol/v2/messages.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { ImpairProxy } from '../helpers/impair.js';
import { nextEvent, until } from '../helpers/wait.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** One peer: a socket, an identity, its sessions, and a capture of every datagram it sent. */
async function peer(name: string, identity = ed25519KeyPair()) {
  const udp = await UdpTransport.bind({ host: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 });
  const sent: Buffer[] = [];
  const p = {
    name,
    identity,
    udp,
    sent,
    expects: new Map<string, Buffer>(), // peer name → key, as the server would list it
    sessions: new Map<number, PeerSession>(),
    deps(peerKey: Buffer): PeerSessionDeps {
      return {
        identity,
        name,
        peerKey,
        send: (bytes: Buffer, to: PeerRoute) => {
          sent.push(bytes);
          if (to !== 'relay') udp.send(bytes, to);
        },
        now: Date.now,
        handshakeRetryMs: 100,
      };
    },
    responded: [] as PeerSession[],
    /** Messages received on sessions this peer answered, listened to from their first moment. */
    inbox: [] as string[],
  };
  udp.onDatagram((bytes, from) => {
    const d = decodeV2(bytes);
    if (!d.ok) return;
    const m = d.value;
    if (m.type === 'handshake-init') {
      const key = p.expects.get(m.name);
      if (key === undefined) return;
      for (const s of p.sessions.values()) if (s.route !== 'relay' && s.route.port === from.port && s.state === 'established') return s.resendResponse();
      const s = PeerSession.respond(p.deps(key), m, from);
      if (typeof s === 'string') return;
      p.sessions.set(s.localIndex, s);
      p.responded.push(s);
      s.on('message', (msg) => p.inbox.push(msg.text));
    } else if (m.type === 'handshake-response') {
      p.sessions.get(m.receiver)?.onResponse(m);
    } else if (m.type === 'data') {
      p.sessions.get(m.receiver)?.onData(m, from);
    }
  });
  closers.push(async () => {
    for (const s of p.sessions.values()) s.close();
    await udp.close();
  });
  return p;
}

type Peer = Awaited<ReturnType<typeof peer>>;

function connect(a: Peer, b: Peer, via?: Endpoint, expected = b.identity.publicKey): PeerSession {
  b.expects.set(a.name, a.identity.publicKey);
  const s = PeerSession.initiate(a.deps(expected), via ?? b.udp.local());
  a.sessions.set(s.localIndex, s);
  return s;
}

const texts = (s: PeerSession, into: string[]) => s.on('message', (m) => into.push(m.text));

describe('peer sessions', () => {
  it('shake hands, then chat both ways with delivery reports, long messages included', async () => {
    const alice = await peer('alice');
    const bob = await peer('剑痴');
    const a = connect(alice, bob);
    const long = '长'.repeat(3000) + ' end';
    const delivered = nextEvent<{ id: number; state: string }>(a, 'delivery', (d) => d.id === 2);
    a.send('你好 😀, bob');
    a.send(long);
    await until(() => bob.inbox.length === 2, 'both messages');
    const b = bob.responded[0] as PeerSession;
    expect(bob.inbox).toEqual(['你好 😀, bob', long]);
    expect(await delivered).toMatchObject({ state: 'delivered' });
    const gotByAlice: string[] = [];
    texts(a, gotByAlice);
    b.send('收到');
    await until(() => gotByAlice.length === 1, 'the reply');
    expect(gotByAlice).toEqual(['收到']);
  });

  it('puts no plaintext on the wire', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    const a = connect(alice, bob);
    const secret = 'the launch code is 0000 你好';
    a.send(secret);
    await until(() => bob.inbox.length === 1, 'the message');
    const wire = Buffer.concat([...alice.sent, ...bob.sent]);
    expect(wire.includes(Buffer.from('launch code'))).toBe(false);
    expect(wire.includes(Buffer.from('你好'))).toBe(false);
  });

  it('detects a key swapped by a man in the middle and fails the pending messages', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    const mallory = ed25519KeyPair();
    // The server (compromised) lists Mallory's key as Bob's.
    const a = connect(alice, bob, undefined, mallory.publicKey);
    const failure = nextEvent<{ error: string }>(a, 'failure');
    const failed = nextEvent<{ state: string }>(a, 'delivery');
    a.send('for bob only');
    expect((await failure).error).toMatch(/key-mismatch|bad-signature|timeout/);
    expect(await failed).toMatchObject({ state: 'failed' });
    expect(bob.responded).toEqual([]);
  });

  it('refuses an INIT from an identity other than the one listed for its name', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    const impostor: KeyPair = ed25519KeyPair();
    bob.expects.set('alice', impostor.publicKey);
    const s = PeerSession.initiate(alice.deps(bob.identity.publicKey), bob.udp.local());
    alice.sessions.set(s.localIndex, s);
    s.send('hi');
    await until(() => alice.sent.length >= 2, 'the INIT to be repeated');
    expect(bob.responded).toEqual([]);
    s.close();
  });

  it('delivers 10,000 messages each way exactly once and in order through loss, duplication, reordering and corruption', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    const proxy = await ImpairProxy.start({ target: bob.udp.local(), loss: 0.2, duplicate: 0.1, reorder: 0.1, corrupt: 0.05, delayMs: [0, 5] });
    closers.push(() => proxy.close());
    const a = connect(alice, bob, proxy.front);
    const N = Number(process.env.QIM_SOAK ?? 10_000);
    const toBob = bob.inbox;
    const toAlice: string[] = [];
    texts(a, toAlice);
    // Past `maxQueued` a sender pushes back (ERR_QUEUE_FULL): wait and go on, as a UI would.
    const sendAll = async (s: PeerSession, prefix: string): Promise<void> => {
      for (let i = 0; i < N; ) {
        try {
          s.send(`${prefix}${i}`);
          i++;
        } catch (err) {
          if ((err as { code?: string }).code !== 'ERR_QUEUE_FULL') throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const sendingA = sendAll(a, 'a');
    await until(() => bob.responded.length > 0, 'the handshake through the proxy', 10_000);
    const b = bob.responded[0] as PeerSession;
    await Promise.all([sendingA, sendAll(b, 'b')]);
    await until(() => toBob.length >= N && toAlice.length >= N, `all messages (${toBob.length}, ${toAlice.length})`, 90_000);
    expect(toBob).toEqual(Array.from({ length: N }, (_, i) => `a${i}`));
    expect(toAlice).toEqual(Array.from({ length: N }, (_, i) => `b${i}`));
  }, 120_000);
});

describe('peer session paths', () => {
  /** Two sessions wired in memory: each datagram is handed over with the route it "came by". */
  function pair() {
    const a = { identity: ed25519KeyPair() };
    const b = { identity: ed25519KeyPair() };
    const here = { address: '192.0.2.1', port: 1000 };
    const there = { address: '198.51.100.7', port: 2000 };
    let sa: PeerSession | null = null;
    let sb: PeerSession | null = null;
    /** When set, a's datagrams are handed to it instead of to b. */
    let intercept: ((bytes: Buffer) => void) | null = null;
    const depsB: PeerSessionDeps = {
      identity: b.identity,
      name: 'b',
      peerKey: a.identity.publicKey,
      now: Date.now,
      send: (bytes, to) => {
        const d = decodeV2(bytes);
        if (!d.ok) return;
        const m = d.value;
        if (m.type === 'handshake-response') queueMicrotask(() => sa?.onResponse(m, to === 'relay' ? 'relay' : there));
        else if (d.value.type === 'data') sa?.onData(d.value, to === 'relay' ? 'relay' : there);
      },
    };
    const depsA: PeerSessionDeps = {
      identity: a.identity,
      name: 'a',
      peerKey: b.identity.publicKey,
      now: Date.now,
      send: (bytes, to) => {
        if (intercept !== null) return intercept(bytes);
        const d = decodeV2(bytes);
        if (!d.ok) return;
        const from: PeerRoute = to === 'relay' ? 'relay' : here;
        if (d.value.type === 'handshake-init') {
          const r = PeerSession.respond(depsB, d.value, from);
          if (typeof r !== 'string') sb = r;
        } else if (d.value.type === 'data') sb?.onData(d.value, from);
      },
    };
    return {
      here,
      start: (routes: PeerRoute[]) => (sa = PeerSession.initiate(depsA, () => routes)),
      responder: () => sb,
      /** The DATA a's session seals next (a typing frame), caught before it goes anywhere. */
      nextData(): Extract<V2Message, { type: 'data' }> {
        let caught: Buffer | null = null;
        intercept = (bytes) => (caught = bytes);
        sa?.typing(false);
        intercept = null;
        const d = decodeV2(caught ?? Buffer.alloc(0));
        if (!d.ok || d.value.type !== 'data') throw new Error('no DATA sealed');
        return d.value;
      },
    };
  }

  it('takes the route of the first answer, moves to a direct path when one delivers, and is not pulled back by the relay', async () => {
    const p = pair();
    const sa = p.start(['relay']);
    await until(() => sa.state === 'established', 'the handshake');
    expect(sa.route).toBe('relay');
    const sb = p.responder() as PeerSession;
    expect(sb.route).toBe('relay');
    const routes: PeerRoute[] = [];
    sb.on('route', (r) => routes.push(r));
    // A direct path opens: a datagram from a's side arrives straight from its endpoint.
    sb.onData(p.nextData(), p.here);
    expect(sb.route).toEqual(p.here);
    expect(routes).toEqual([p.here]);
    // Relayed datagrams still in flight do not pull the session back to the relay.
    sb.onData(p.nextData(), 'relay');
    expect(sb.route).toEqual(p.here);
    sa.close();
    sb.close();
  });

  it('tries every candidate route with each INIT', () => {
    const sent: PeerRoute[] = [];
    const s = PeerSession.initiate(
      { identity: ed25519KeyPair(), name: 'a', peerKey: ed25519KeyPair().publicKey, now: Date.now, send: (_b, to) => void sent.push(to), handshakeRetryMs: 60_000 },
      () => [{ address: '10.0.0.2', port: 1 }, { address: '203.0.113.9', port: 2 }, 'relay'],
    );
    expect(sent).toEqual([{ address: '10.0.0.2', port: 1 }, { address: '203.0.113.9', port: 2 }, 'relay']);
    s.close();
  });
});

describe('peer session acknowledgements', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** a and b wired in memory after their handshake; a's DATA is caught, to be handed to b by the test. */
  async function wired() {
    const ka = ed25519KeyPair();
    const kb = ed25519KeyPair();
    const route = { address: '192.0.2.1', port: 1000 };
    let sa: PeerSession | null = null;
    let sb: PeerSession | null = null;
    const fromA: Buffer[] = [];
    let acks = 0;
    /** Deps whose `send` hands each decoded datagram to `on`; the clock is read through, so a faked one is seen. */
    const deps = (identity: KeyPair, name: string, peerKey: Buffer, on: (m: V2Message, bytes: Buffer) => void): PeerSessionDeps => ({
      identity,
      name,
      peerKey,
      now: () => Date.now(),
      send: (bytes) => {
        const d = decodeV2(bytes);
        if (d.ok) on(d.value, bytes);
      },
    });
    const depsB = deps(kb, 'b', ka.publicKey, (m) => {
      if (m.type === 'handshake-response') queueMicrotask(() => sa?.onResponse(m, route));
      else if (m.type === 'data') acks++; // b sends nothing else here: no echo, no typing
    });
    const depsA = deps(ka, 'a', kb.publicKey, (m, bytes) => {
      if (m.type === 'handshake-init') {
        const r = PeerSession.respond(depsB, m, route);
        if (typeof r !== 'string') sb = r;
      } else if (m.type === 'data') fromA.push(bytes);
    });
    sa = PeerSession.initiate(depsA, route);
    await until(() => sa?.state === 'established', 'the handshake');
    const a = sa;
    const b = sb as unknown as PeerSession;
    const deliver = (bytes: Buffer): void => {
      const d = decodeV2(bytes);
      if (d.ok && d.value.type === 'data') b.onData(d.value, route);
    };
    return { a, b, fromA, deliver, acks: () => acks };
  }

  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('acknowledges MSGs received in order together, after a delay or once enough wait; a gap at once', async () => {
    const w = await wired();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // A few in order: no ACK this turn, one ACK_DELAY_MS after the first.
    for (const text of ['一', '二', '三']) w.a.send(text);
    for (const bytes of w.fromA.splice(0)) w.deliver(bytes);
    await turn();
    expect(w.acks()).toBe(0);
    vi.advanceTimersByTime(ACK_DELAY_MS - 1);
    expect(w.acks()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(w.acks()).toBe(1);
    // ACK_EVERY in order: one ACK at the end of the turn, no timer.
    for (let i = 0; i < ACK_EVERY; i++) w.a.send(`m${i}`);
    for (const bytes of w.fromA.splice(0)) w.deliver(bytes);
    expect(w.acks()).toBe(1);
    await turn();
    expect(w.acks()).toBe(2);
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(w.acks()).toBe(2);
    // A gap (the later one first): acknowledged at once, and again when it is filled.
    w.a.send('x');
    w.a.send('y');
    const [x, y] = w.fromA.splice(0) as [Buffer, Buffer];
    w.deliver(y);
    await turn();
    expect(w.acks()).toBe(3);
    w.deliver(x);
    await turn();
    expect(w.acks()).toBe(4);
    // A MSG again (b's ACKs never reach a here, so a resends on its timer): acknowledged at once.
    vi.advanceTimersByTime(1000);
    const resent = w.fromA.splice(0);
    expect(resent.length).toBeGreaterThan(0);
    w.deliver(resent[0] as Buffer);
    await turn();
    expect(w.acks()).toBe(5);
    w.a.close();
    w.b.close();
  });
});
