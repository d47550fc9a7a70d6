/**
 * Offline messages: sealed to the recipient's prekey, kept by the server (SQLite in its data
 * folder), delivered once when they log in (across a server restart too), deleted once
 * acknowledged, and shown to the sender as stored, then delivered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QimChatClient, type ChatMessage, type QimChatOptions } from '../../src/client/qim-client.js';
import { ed25519KeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { QimServer } from '../../src/index.js';
import { openServerData } from '../../src/server/storage.js';
import type { SqliteOffline } from '../../src/server/offline.js';
import { nextEvent, until } from '../helpers/wait.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const limits = { heartbeatMs: 100, leaseMs: 1000 };

async function serverOn(dir: string, port = 0, serverLimits: typeof limits = limits): Promise<QimServer> {
  const data = await openServerData(dir);
  const server = new QimServer({ host: '127.0.0.1', port, limits: serverLimits, ...data });
  await server.start();
  closers.push(async () => {
    await server.stop();
    data.accounts.close();
    data.offline.close();
  });
  return server;
}

/** The server's offline store (SQLite here: it answers at once). */
function store(server: QimServer): SqliteOffline {
  return server.options.offline as SqliteOffline;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qim-offline-'));
  closers.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function client(port: number, name: string, identity: KeyPair, extra: Partial<QimChatOptions> = {}): Promise<QimChatClient> {
  const c = new QimChatClient({ server: { host: '127.0.0.1', port }, name, identity, host: '127.0.0.1', ...extra });
  closers.push(() => c.close());
  await c.login();
  return c;
}

type Delivery = { to: string; id: number; state: string };

describe('offline messages', () => {
  it('are stored sealed, delivered once at the next login even across a server restart, and reported stored then delivered', async () => {
    const dir = tempDir();
    let server = await serverOn(dir);
    const port = server.endpoint.port;
    const aliceKey = ed25519KeyPair();
    const bobKey = ed25519KeyPair();
    // bob has logged in once (the server knows his key and prekey), and left.
    const bob0 = await client(port, 'bob', bobKey);
    await until(() => server.users().length === 1, 'bob online');
    await bob0.logout();
    await until(() => server.users().length === 0, 'bob gone');

    const alice = await client(port, 'alice', aliceKey);
    const deliveries: Delivery[] = [];
    alice.on('delivery', (d) => deliveries.push(d));
    const text = '你不在的时候我来过 📮 — secret 7731';
    const id = alice.send('bob', text);
    await until(() => deliveries.some((d) => d.id === id && d.state === 'stored'), 'stored', 15_000);

    // The server restarts (same data folder); the message is still there.
    await alice.close();
    await server.stop();
    server = await serverOn(dir, port);
    const alice2 = await client(port, 'alice', aliceKey);
    const later: Delivery[] = [];
    alice2.on('delivery', (d) => later.push(d));

    const seen: string[] = [];
    const seenIds = new Set<number>();
    const bob = new QimChatClient({
      server: { host: '127.0.0.1', port },
      name: 'bob',
      identity: bobKey,
      host: '127.0.0.1',
      seenOffline: { has: (i) => seenIds.has(i), add: (i) => void seenIds.add(i) },
    });
    closers.push(() => bob.close());
    const got = nextEvent<ChatMessage>(bob, 'message');
    bob.on('message', (m) => seen.push(m.text));
    await bob.login();
    expect(await got).toMatchObject({ from: 'alice', text, encrypted: true, offline: true });
    await until(() => later.some((d) => d.id === id && d.state === 'delivered'), 'the receipt at alice', 15_000);
    // Shown once, and gone from the server.
    await new Promise((r) => setTimeout(r, 4 * limits.heartbeatMs));
    expect(seen).toEqual([text]);
    expect(store(server).waiting('bob', 10)).toEqual([]);
  });

  it('come right after the WELCOME, not with the next heartbeat', async () => {
    // Heartbeats a minute apart: a message that missed the login would come a minute later.
    const server = await serverOn(tempDir(), 0, { heartbeatMs: 60_000, leaseMs: 420_000 });
    const port = server.endpoint.port;
    const bobKey = ed25519KeyPair();
    const bob0 = await client(port, 'bob', bobKey);
    await bob0.logout();
    await until(() => server.users().length === 0, 'bob gone');
    const alice = await client(port, 'alice', ed25519KeyPair());
    const deliveries: Delivery[] = [];
    alice.on('delivery', (d) => deliveries.push(d));
    const id = alice.send('bob', '回来就能看到');
    await until(() => deliveries.some((d) => d.id === id && d.state === 'stored'), 'stored', 15_000);
    const bob = new QimChatClient({ server: { host: '127.0.0.1', port }, name: 'bob', identity: bobKey, host: '127.0.0.1' });
    closers.push(() => bob.close());
    const got = nextEvent<ChatMessage>(bob, 'message', undefined, 5000);
    await bob.login();
    expect(await got).toMatchObject({ from: 'alice', text: '回来就能看到', offline: true });
  });

  it('fails, with a warning, for a name that never logged in with qim', async () => {
    const server = await serverOn(tempDir());
    const alice = await client(server.endpoint.port, 'alice', ed25519KeyPair());
    const failed = nextEvent<Delivery>(alice, 'delivery');
    const warned = nextEvent<{ code: string }>(alice, 'warning');
    alice.send('nobody', 'hello?');
    expect(await failed).toMatchObject({ to: 'nobody', state: 'failed' });
    expect(await warned).toMatchObject({ code: 'offline-failed' });
    expect(() => alice.send('nobody', 'x'.repeat(701))).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LONG' }));
  });

  it('tells the sender of a delivery that happened while the sender was away, at its next login', async () => {
    const server = await serverOn(tempDir());
    const port = server.endpoint.port;
    const aliceKey = ed25519KeyPair();
    const bobKey = ed25519KeyPair();
    await (await client(port, 'bob', bobKey)).logout();
    const alice = await client(port, 'alice', aliceKey);
    const stored = nextEvent<Delivery>(alice, 'delivery');
    const id = alice.send('bob', 'read me later');
    expect(await stored).toMatchObject({ state: 'stored' });
    await alice.logout();
    // Listening before the login: the message may come before the list does.
    const bob = new QimChatClient({ server: { host: '127.0.0.1', port }, name: 'bob', identity: bobKey, host: '127.0.0.1' });
    closers.push(() => bob.close());
    const message = nextEvent(bob, 'message');
    await bob.login();
    await message;
    await until(() => store(server).receipts('alice', 10).length === 1, 'the receipt kept for alice');
    const alice2 = new QimChatClient({ server: { host: '127.0.0.1', port }, name: 'alice', identity: aliceKey, host: '127.0.0.1' });
    closers.push(() => alice2.close());
    const delivered = nextEvent<Delivery>(alice2, 'delivery');
    await alice2.login();
    expect(await delivered).toEqual({ to: 'bob', id, state: 'delivered' });
    await until(() => store(server).receipts('alice', 10).length === 0, 'the receipt acknowledged');
  });

  it('refuses a message sealed by someone other than who it claims', async () => {
    const server = await serverOn(tempDir());
    const port = server.endpoint.port;
    const bobKey = ed25519KeyPair();
    await (await client(port, 'bob', bobKey)).logout();
    // mallory, logged in as herself, leaves a message that claims (inside) to be from alice.
    await (await client(port, 'alice', ed25519KeyPair())).logout();
    const mallory = await client(port, 'mallory', ed25519KeyPair());
    const { sealOffline } = await import('../../src/crypto/offline.js');
    const { prekeyPair } = await import('../../src/crypto/offline.js');
    const forged = sealOffline({ id: 42, from: 'alice', sender: mallory.options.identity, recipientIdentity: bobKey.publicKey, prekey: prekeyPair(bobKey).publicKey, sentAt: Date.now(), text: 'I am alice, honest' });
    store(server).put({ id: 42, to: 'bob', from: 'alice', sealed: forged as Buffer, storedAt: Date.now() }, 100);
    const bob = new QimChatClient({ server: { host: '127.0.0.1', port }, name: 'bob', identity: bobKey, host: '127.0.0.1' });
    closers.push(() => bob.close());
    const messages: string[] = [];
    bob.on('message', (m) => messages.push(m.text));
    const warned = nextEvent<{ code: string; peer?: string }>(bob, 'warning');
    await bob.login();
    expect(await warned).toMatchObject({ code: 'offline-rejected', peer: 'alice' });
    await until(() => store(server).waiting('bob', 10).length === 0, 'the forgery dropped');
    expect(messages).toEqual([]);
  });
});
