import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { x25519KeyPair } from '../../src/crypto/keys.js';
import { decodeV2, encodeV2 } from '../../src/protocol/v2/messages.js';
import { SqliteAccounts } from '../../src/server/accounts.js';
import { QimServer, type ServerOptions } from '../../src/index.js';
import { RawPeer, rawLogin, tcpExchange } from '../helpers/raw-peer.js';
import { frameDatagrams, splitFrames } from '../../src/protocol/v2/stream.js';
import { V2Peer } from '../helpers/v2-peer.js';
import { nextEvent, until } from '../helpers/wait.js';

let server: QimServer;
let port: number;
const closers: (() => Promise<void> | void)[] = [];

async function start(opts: ServerOptions = {}): Promise<void> {
  server = new QimServer({ host: '127.0.0.1', port: 0, ...opts });
  await server.start();
  port = server.endpoint.port;
}

async function v2peer(opts: Parameters<typeof V2Peer.create>[1] = {}): Promise<V2Peer> {
  const p = await V2Peer.create(port, opts);
  closers.push(() => p.close());
  return p;
}

async function raw(address = '127.0.0.1'): Promise<RawPeer> {
  const p = await RawPeer.bind(address);
  closers.push(() => p.close());
  return p;
}

beforeEach(() => start());
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await server.stop();
});

describe('qim protocol server', () => {
  it('answers a HELLO with a smaller COOKIE, to the source only', async () => {
    const p = await v2peer();
    const before = server.counters.bytesIn;
    const c = await p.cookie();
    expect(c.cookie.length).toBe(16);
    expect(server.counters.bytesOut).toBeLessThan(server.counters.bytesIn - before + 1);
  });

  it('logs in a signed user and lists them, seen by classic users as an ordinary login', async () => {
    const classic = await raw();
    await rawLogin(classic, 'old', port);
    const p = await v2peer();
    const welcome = await p.login('剑痴', server.options.identity.publicKey);
    expect(welcome.observed).toEqual({ address: '127.0.0.1', port: p.raw.port });
    expect(server.directory.byName('剑痴')).toMatchObject({ protocol: 'qim', identity: p.identity.publicKey });
    expect((await classic.nextText('login,')).text).toBe(`login,剑痴,127.0.0.1:${p.raw.port}`);
  });

  it('sends nothing for logins without a valid cookie, whatever address they claim', async () => {
    const victim = await raw('127.0.0.3');
    const attacker = await v2peer();
    let bytesSent = 0;
    for (let i = 0; i < 50; i++) {
      const bytes = attacker.loginBytes(`user${i}`, { nonce: randomBytes(16), cookie: randomBytes(16) }, x25519KeyPair(), Date.now(), {
        address: '127.0.0.3',
        port: victim.port,
      });
      bytesSent += bytes.length;
      await attacker.send(bytes);
    }
    // Dropped either for their cookie or, past the burst, by the per-source rate limit.
    await until(() => (server.counters.drops['bad-cookie'] ?? 0) + (server.counters.drops['rate-limited'] ?? 0) === 50, 'the forged logins to be dropped');
    expect(server.counters.datagramsOut).toBe(0);
    expect(server.counters.bytesOut).toBeLessThanOrEqual(bytesSent);
    // Sentinel: the victim's own HELLO is the first thing it hears.
    const own = await V2Peer.create(port, { address: '127.0.0.3' });
    closers.push(() => own.close());
    await own.cookie();
    expect(victim.received).toEqual([]);
  });

  it('limits HELLOs per source address, and other sources are still served', async () => {
    const flood = await v2peer();
    for (let i = 0; i < 200; i++) await flood.send(encodeV2({ type: 'hello', nonce: randomBytes(16) }));
    await until(() => server.counters.datagramsIn === 200, 'the flood to arrive');
    expect(server.counters.drops['rate-limited']).toBeGreaterThanOrEqual(200 - 40 - 10);
    expect(server.counters.datagramsOut).toBeLessThanOrEqual(60);
    const other = await v2peer({ address: '127.0.0.2' });
    await other.login('alice');
  });

  it('refuses a cookie issued to another source', async () => {
    const a = await v2peer();
    const b = await v2peer({ address: '127.0.0.2' });
    const c = await a.cookie();
    await b.send(b.loginBytes('bob', c, x25519KeyPair()));
    await until(() => server.counters.drops['bad-cookie'] === 1, 'the stolen cookie to be refused');
    expect(server.directory.size).toBe(0);
  });

  it('binds a name to its first key and refuses any other key', async () => {
    const alice = await v2peer();
    await alice.login('alice');
    const mallory = await v2peer();
    await expect(mallory.login('alice')).rejects.toThrow(/"code":2/);
    expect(server.directory.byName('alice')?.identity).toEqual(alice.identity.publicKey);
  });

  it('keeps the name bound across a restart with SQLite accounts', async () => {
    await server.stop();
    const dir = mkdtempSync(join(tmpdir(), 'qim-accounts-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const identity = ed25519KeyPair();
    const open = async () => {
      const accounts = await SqliteAccounts.open(join(dir, 'server.db'));
      closers.push(() => accounts.close());
      await start({ accounts, identity });
    };
    await open();
    const alice = await v2peer();
    await alice.login('alice');
    await server.stop();
    await open();
    const mallory = await v2peer();
    await expect(mallory.login('alice')).rejects.toThrow(/"code":2/);
    const again = await v2peer({ identity: alice.identity });
    await again.login('alice', identity.publicKey);
  });

  it('refuses a classic login under a name bound to a key', async () => {
    const alice = await v2peer();
    await alice.login('alice');
    const send = alice.sessionBytes('logout');
    await alice.send(send);
    await until(() => server.directory.size === 0, 'alice to log out');
    const classic = await raw();
    await classic.send(`login,alice,${classic.endpoint}`, port);
    expect((await classic.nextText('Refuse,')).text).toBe('Refuse,name taken');
  });

  it('acknowledges a heartbeat with a valid MAC, and drops forged and replayed ones', async () => {
    const p = await v2peer();
    await p.login('alice');
    await p.send(p.sessionBytes('heartbeat'));
    const ack = await p.next('heartbeat-ack');
    expect(ack).toMatchObject({ counter: 1 });
    await p.send(p.sessionBytes('heartbeat', 1)); // replay
    await p.send(p.sessionBytes('heartbeat', 5, randomBytes(32))); // wrong key
    await until(() => server.counters.drops.replayed === 1 && server.counters.drops['bad-mac'] === 1, 'both to be dropped');
  });

  it('ignores a logout that is not MACed by the session key', async () => {
    const p = await v2peer();
    await p.login('alice');
    const mallory = await v2peer({ address: '127.0.0.2' });
    mallory.session = p.session;
    mallory.macKey = randomBytes(32);
    await mallory.send(mallory.sessionBytes('logout'));
    await until(() => server.counters.drops['bad-mac'] === 1, 'the forged logout to be dropped');
    expect(server.directory.byName('alice')).toBeDefined();
    await p.send(p.sessionBytes('logout'));
    await until(() => server.directory.size === 0, 'the real logout');
  });

  it('answers a LOGIN sent again with the same WELCOME, and a replayed one cannot displace the session', async () => {
    const p = await v2peer();
    const welcome = await p.login('alice');
    // The client sends the same LOGIN again (its WELCOME was slow): the same WELCOME, no new session.
    await p.send(p.lastLogin as Buffer);
    expect(await p.next('welcome')).toEqual(welcome);
    expect(server.counters.loginRepeats).toBe(1);
    // The same bytes replayed from elsewhere: its cookie is not that address's; dropped unanswered.
    const other = await v2peer({ address: '127.0.0.2' });
    await other.raw.send(p.lastLogin as Buffer, port);
    await until(() => server.counters.drops['bad-cookie'] === 1, 'the replay to be dropped');
    expect(other.raw.received).toEqual([]);
    await p.send(p.sessionBytes('heartbeat'));
    expect(await p.next('heartbeat-ack')).toMatchObject({ counter: 1 });
    expect(server.users().map((u) => `${u.name}@${u.endpoint.address}`)).toEqual(['alice@127.0.0.1']);
  });

  it('checks a LOGIN that comes again while its signature is being checked once: one session, no refusal', async () => {
    const p = await v2peer();
    const bytes = p.loginBytes('alice', await p.cookie(), x25519KeyPair());
    // Three copies at once (a client resending to a busy server). The signature is checked off the
    // event loop; copies that come meanwhile are not checked again (a second check would find the
    // login no newer than the first and refuse it as stale), copies after it get the same WELCOME.
    await Promise.all([p.raw.send(bytes, port), p.raw.send(bytes, port), p.raw.send(bytes, port)]);
    const welcome = await p.next('welcome');
    await until(() => server.counters.loginRepeats === 2, 'both copies to be counted as repeats');
    await new Promise((r) => setTimeout(r, 200));
    const answers = p.raw.received.map((d) => decodeV2(d.bytes)).filter((m) => m.ok && (m.value.type === 'welcome' || m.value.type === 'refused'));
    expect(answers.every((m) => m.ok && JSON.stringify(m.value) === JSON.stringify(welcome))).toBe(true);
    expect(server.counters.logins).toBe(1);
    expect(server.counters.drops.stale ?? 0).toBe(0);
  });

  it('drops LOGINs past maxLoginsChecking as busy, and serves them when they are sent again', async () => {
    await server.stop();
    await start({ limits: { maxLoginsChecking: 1 } });
    const peers = await Promise.all(Array.from({ length: 8 }, () => v2peer()));
    const logins = await Promise.all(peers.map(async (p, i) => p.loginBytes(`u${i}`, await p.cookie(), x25519KeyPair())));
    // Eight at once, one checked at a time: the others that come meanwhile are dropped.
    await Promise.all(peers.map((p, i) => p.raw.send(logins[i] as Buffer, port)));
    await until(() => (server.counters.drops.busy ?? 0) >= 1, 'a LOGIN dropped busy');
    // Each client sends its LOGIN again until it is answered (ServerLink does, waiting longer each time).
    for (const [i, p] of peers.entries()) {
      const answered = (): boolean => p.raw.received.some((d) => d.bytes[1] === 0x04);
      for (let tries = 0; !answered() && tries < 20; tries++) {
        await p.raw.send(logins[i] as Buffer, port);
        await until(answered, 'a WELCOME', 300).catch(() => undefined);
      }
      expect(answered()).toBe(true);
    }
    expect(server.directory.size).toBe(8);
    expect(server.counters.logins).toBe(8);
  });

  it('checks the counters of TCP list requests among themselves: a datagram that overtook one does not make it a replay', async () => {
    const p = await v2peer();
    await p.login('alice');
    const request = p.sessionBytes('list-request', 2); // made first, as a client does before its connection opens
    await p.send(p.sessionBytes('heartbeat', 5)); // arrives first
    await p.next('heartbeat-ack');
    const answer = await tcpExchange(port, { send: frameDatagrams([request]) });
    const frames = splitFrames(answer);
    expect(frames?.length).toBeGreaterThan(0);
    expect(frames?.every((f) => p.fromServer(f))).toBe(true);
    expect(server.counters).toMatchObject({ listsSent: 1, listBytes: answer.length });
    // The same request again is a replay, over TCP too.
    expect((await tcpExchange(port, { send: frameDatagrams([request]) })).length).toBe(0);
    expect(server.counters.drops.replayed).toBe(1);
  });

  it('expires a user who stops heartbeating, and tells classic users', async () => {
    await server.stop();
    await start({ limits: { heartbeatMs: 50, leaseMs: 300 } });
    const classic = await raw();
    await rawLogin(classic, 'old', port);
    const p = await v2peer();
    await p.login('alice');
    const gone = nextEvent<{ name: string; reason: string }>(server, 'logout');
    expect(await gone).toMatchObject({ name: 'alice', reason: 'expired' });
    expect((await classic.nextText('logout,')).text).toBe(`logout,alice,127.0.0.1:${p.raw.port}`);
    expect(server.counters.expired).toBe(1);
  });

  it('keeps a heartbeating user past the lease', async () => {
    await server.stop();
    await start({ limits: { heartbeatMs: 50, leaseMs: 300 } });
    const p = await v2peer();
    await p.login('alice');
    for (let i = 0; i < 10; i++) {
      await p.send(p.sessionBytes('heartbeat'));
      await p.next('heartbeat-ack');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(server.directory.byName('alice')).toBeDefined();
  });

  it('answers a heartbeat for an unknown session with a smaller refusal, so the client logs in again', async () => {
    const p = await v2peer();
    await p.login('alice');
    await server.stop();
    await start({ identity: server.options.identity });
    (p as { serverPort: number }).serverPort = port;
    const hb = p.sessionBytes('heartbeat');
    await p.send(hb);
    const refused = await p.next('refused');
    expect(refused).toMatchObject({ code: 6 });
    expect(server.counters.bytesOut).toBeLessThan(hb.length);
  });

  it('drops malformed qim datagrams and keeps serving', async () => {
    const p = await v2peer();
    for (const bad of [Buffer.from([2]), Buffer.from([2, 0x7f]), Buffer.from([2, 1, 0]), encodeV2({ type: 'refused', code: 1, reason: 'x' })]) await p.send(bad);
    await until(() => server.counters.datagramsIn === 4, 'the datagrams to arrive');
    await p.login('alice');
  });
});
