import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QimChatClient, type ChatMessage, type QimChatOptions } from '../../src/client/qim-client.js';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { QimClient, QimServer } from '../../src/index.js';
import { nextEvent, until } from '../helpers/wait.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { encodeV2 } from '../../src/protocol/v2/messages.js';

let server: QimServer;
let port: number;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  server = new QimServer({ host: '127.0.0.1', port: 0 });
  await server.start();
  port = server.endpoint.port;
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await server.stop();
});

async function qim(name: string, extra: Partial<QimChatOptions> = {}): Promise<QimChatClient> {
  const c = new QimChatClient({ server: { host: '127.0.0.1', port }, name, identity: ed25519KeyPair(), host: '127.0.0.1', ...extra });
  closers.push(() => c.close());
  await c.login();
  return c;
}

async function classic(name: string): Promise<QimClient> {
  const c = new QimClient({ server: { host: '127.0.0.1', port }, name, host: '127.0.0.1' });
  closers.push(() => c.close());
  await c.login();
  return c;
}

describe('qim chat client', () => {
  it('chats end to end encrypted with another qim user, with delivery reports and fingerprints', async () => {
    const alice = await qim('alice');
    const bob = await qim('剑痴');
    await until(() => alice.contact('剑痴') !== undefined, 'alice to see 剑痴');
    expect(alice.contact('剑痴')).toMatchObject({ protocol: 'qim', fingerprint: bob.fingerprint });
    const got = nextEvent<ChatMessage>(bob, 'message');
    const delivered = nextEvent<{ state: string }>(alice, 'delivery');
    alice.send('剑痴', '你好, 世界 😀');
    expect(await got).toMatchObject({ from: 'alice', text: '你好, 世界 😀', encrypted: true });
    expect(await delivered).toMatchObject({ to: '剑痴', state: 'delivered' });
  });

  it('loses nothing when both sides send their first message at once', async () => {
    const alice = await qim('alice');
    const bob = await qim('bob');
    await until(() => alice.contact('bob') !== undefined && bob.contact('alice') !== undefined, 'both lists');
    const atAlice: string[] = [];
    const atBob: string[] = [];
    alice.on('message', (m) => atAlice.push(m.text));
    bob.on('message', (m) => atBob.push(m.text));
    for (let i = 0; i < 5; i++) {
      alice.send('bob', `a${i}`);
      bob.send('alice', `b${i}`);
    }
    await until(() => atAlice.length === 5 && atBob.length === 5, `all ten (${atAlice.length}, ${atBob.length})`);
    expect(atBob).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(atAlice).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
  });

  it('keeps a chat going across a server outage and loses nothing', async () => {
    const alice = await qim('alice');
    const bob = await qim('bob');
    await until(() => alice.contact('bob') !== undefined, 'alice to see bob');
    const got: string[] = [];
    bob.on('message', (m) => got.push(m.text));
    alice.send('bob', 'before');
    await until(() => got.length === 1, 'the first message');
    await server.stop();
    for (let i = 0; i < 20; i++) alice.send('bob', `during ${i}`);
    server = new QimServer({ host: '127.0.0.1', port });
    await server.start();
    alice.send('bob', 'after');
    await until(() => got.length === 22, `every message (${got.length})`);
    expect(got).toEqual(['before', ...Array.from({ length: 20 }, (_, i) => `during ${i}`), 'after']);
  });

  it('ignores forged presence and forged peer data (checked after a sentinel)', async () => {
    const alice = await qim('alice');
    const bob = await qim('bob');
    await until(() => alice.contact('bob') !== undefined, 'alice to see bob');
    const got: string[] = [];
    bob.on('message', (m) => got.push(m.text));
    const mallory = await RawPeer.bind('127.0.0.1');
    closers.push(() => mallory.close());
    alice.send('bob', 'one');
    await until(() => got.length === 1, 'the first message');
    // A forged PRESENCE claiming mallory joined: not from the server, and without its signature.
    const forged = encodeV2({
      type: 'presence',
      epoch: Buffer.alloc(8),
      fromVersion: 2,
      toVersion: 3,
      part: 0,
      parts: 1,
      entries: [{ op: 'upsert', name: 'mallory', protocol: 'qim', status: 'online', fingerprint: Buffer.alloc(16, 7), endpoint: { address: '127.0.0.1', port: mallory.port }, privateEndpoint: { address: '127.0.0.1', port: mallory.port } }],
      signature: Buffer.alloc(64),
    });
    await mallory.send(forged, alice.endpoint.port);
    // Forged DATA to every plausible session index, and garbage.
    for (let i = 0; i < 20; i++) {
      await mallory.send(encodeV2({ type: 'data', receiver: i, counter: i, ciphertext: Buffer.alloc(32, i) }), bob.endpoint.port);
    }
    // Sentinel: a real message after all of that arrives, and nothing else did.
    alice.send('bob', 'two');
    await until(() => got.length === 2, 'the sentinel');
    expect(got).toEqual(['one', 'two']);
    expect(alice.contact('mallory')).toBeUndefined();
  });

  it('lists classic users as classic and chats with them over classic, both ways', async () => {
    const old = await classic('old');
    const alice = await qim('alice');
    await until(() => alice.contact('old') !== undefined && old.contact('alice') !== undefined, 'both to see each other');
    expect(alice.contact('old')).toEqual({ name: 'old', endpoint: old.endpoint, protocol: 'classic', status: 'online' });
    const warnings: { code: string; peer?: string }[] = [];
    alice.on('warning', (w) => warnings.push(w));
    const toOld = nextEvent<{ text: string }>(old, 'message');
    alice.send('old', 'hello, classic');
    expect(await toOld).toMatchObject({ from: 'alice', text: 'hello, classic' });
    const toAlice = nextEvent<ChatMessage>(alice, 'message');
    old.send('alice', 'hi, qim');
    expect(await toAlice).toMatchObject({ from: 'old', text: 'hi, qim', encrypted: false });
    // The user is told once that this conversation is in clear text.
    expect(warnings).toEqual([expect.objectContaining({ code: 'unencrypted', peer: 'old' })]);
  });

  it('pins a peer key at first contact and holds messages back when it changes, until trusted', async () => {
    const serverIdentity = ed25519KeyPair();
    await server.stop();
    server = new QimServer({ host: '127.0.0.1', port, identity: serverIdentity, limits: { heartbeatMs: 100, leaseMs: 1000 } });
    await server.start();
    const pins = new Map<string, Buffer>();
    const peerPins = { get: (n: string) => pins.get(n), pin: (n: string, k: Buffer) => void pins.set(n, k) };
    const alice = await qim('alice', { peerPins });
    const bob = await qim('bob');
    await until(() => alice.contact('bob') !== undefined, 'bob listed');
    // The list carries fingerprints only: bob's key is fetched and pinned when alice first writes.
    expect(alice.contact('bob')?.fingerprint).toBe(bob.fingerprint);
    expect(pins.has('bob')).toBe(false);
    const hello = nextEvent<ChatMessage>(bob, 'message');
    alice.send('bob', 'hello');
    expect((await hello).text).toBe('hello');
    expect(pins.get('bob')?.equals(bob.options.identity.publicKey)).toBe(true);

    // The server forgets its accounts (a new machine, or a server that lies), and someone else
    // logs in as bob with another key.
    await bob.close();
    await server.stop();
    server = new QimServer({ host: '127.0.0.1', port, identity: serverIdentity, limits: { heartbeatMs: 100, leaseMs: 1000 } });
    await server.start();
    const warned = nextEvent<{ code: string; peer?: string }>(alice, 'warning', (w: { code: string }) => w.code === 'peer-key-changed');
    const impostor = await qim('bob');
    expect(await warned).toMatchObject({ code: 'peer-key-changed', peer: 'bob' });
    await until(() => alice.contact('bob')?.keyChanged === true, 'bob marked as changed');
    expect(() => alice.send('bob', 'secret')).toThrow(expect.objectContaining({ code: 'ERR_KEY_CHANGED' }));
    await until(() => impostor.contact('alice') !== undefined, 'the impostor to see alice');
    const atImpostor: string[] = [];
    impostor.on('message', (m) => atImpostor.push(m.text));

    alice.trust('bob');
    await until(() => pins.get('bob')?.equals(impostor.options.identity.publicKey) === true, 'the new key pinned');
    expect(alice.contact('bob')?.keyChanged).toBeUndefined();
    alice.send('bob', 'sentinel');
    await until(() => atImpostor.includes('sentinel'), 'the sentinel after trusting');
  });

  it('reports a direct path on a shared network, and goes through the relay for a client that keeps its address', async () => {
    const alice = await qim('alice');
    const bob = await qim('bob');
    const hidden = await qim('hidden', { directPaths: false });
    await until(() => ['bob', 'hidden'].every((n) => alice.contact(n) !== undefined) && hidden.contact('alice') !== undefined, 'everyone listed');

    const path = nextEvent<{ name: string; path: string }>(alice, 'path', (p: { name: string }) => p.name === 'bob');
    const got = nextEvent<ChatMessage>(bob, 'message');
    alice.send('bob', 'straight to you');
    expect(await path).toEqual({ name: 'bob', path: 'direct' });
    expect((await got).text).toBe('straight to you');
    expect(alice.contact('bob')?.path).toBe('direct');
    expect(server.counters.relayed).toBe(0);

    // hidden never sends to or takes from a peer directly: both directions go through the server.
    const atAlice: string[] = [];
    alice.on('message', (m) => atAlice.push(m.text));
    const atHidden: string[] = [];
    hidden.on('message', (m) => atHidden.push(m.text));
    const delivered = nextEvent<{ state: string }>(hidden, 'delivery');
    hidden.send('alice', '经由服务器中继 🛰️');
    await until(() => atAlice.length === 1, 'the relayed message');
    expect(atAlice).toEqual(['经由服务器中继 🛰️']);
    expect(await delivered).toMatchObject({ state: 'delivered' });
    alice.send('hidden', 'and back');
    await until(() => atHidden.length === 1, 'the relayed answer');
    expect(alice.contact('hidden')?.path).toBe('relayed');
    expect(hidden.contact('alice')?.path).toBe('relayed');
    expect(server.counters.relayed).toBeGreaterThan(3);
  });
});
