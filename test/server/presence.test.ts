import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeV2, type PresenceEntry, type V2Message } from '../../src/protocol/v2/messages.js';
import { QimServer } from '../../src/index.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';
import { V2Peer } from '../helpers/v2-peer.js';
import { frameDatagrams, splitFrames } from '../../src/protocol/v2/stream.js';
import { tcpExchange } from '../helpers/raw-peer.js';
import { until } from '../helpers/wait.js';

type Presence = Extract<V2Message, { type: 'presence' }>;

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

async function qim(name: string): Promise<V2Peer> {
  const p = await V2Peer.create(port);
  closers.push(() => p.close());
  await p.login(name);
  return p;
}

/** Every PRESENCE datagram queued at `p` so far, each checked against the server's signature and epoch. */
function presences(p: V2Peer): Presence[] {
  const out: Presence[] = [];
  for (let i = p.raw.received.length - 1; i >= 0; i--) {
    const r = p.raw.received[i];
    if (r === undefined || r.bytes[1] !== 0x09) continue;
    p.raw.received.splice(i, 1);
    expect(p.fromServer(r.bytes)).toBe(true);
    out.unshift(decodePresence(r.bytes));
  }
  return out;
}

function decodePresence(bytes: Buffer): Presence {
  const d = decodeV2(bytes);
  if (!d.ok || d.value.type !== 'presence') throw new Error('not a presence datagram');
  return d.value;
}

/** Applies deltas in order and checks that versions chain without a gap. */
function apply(list: Map<string, PresenceEntry>, deltas: Presence[], fromVersion: number): number {
  let version = fromVersion;
  const batches = new Map<number, Presence[]>();
  for (const d of deltas) batches.set(d.fromVersion, [...(batches.get(d.fromVersion) ?? []), d]);
  for (const [from, parts] of [...batches].sort((a, b) => a[0] - b[0])) {
    expect(from).toBe(version);
    expect(parts.length).toBe(parts[0]?.parts);
    for (const p of parts) for (const e of p.entries) (e.op === 'upsert' ? list.set(e.name, e) : list.delete(e.name));
    version = parts[0]?.toVersion ?? version;
  }
  return version;
}

describe('presence for qim users', () => {
  it('sends MACed, versioned deltas for classic and qim joins and leaves', async () => {
    const alice = await qim('alice');
    const bob = await qim('bob');
    const classic = await RawPeer.bind();
    closers.push(() => classic.close());
    await rawLogin(classic, '剑痴', port);
    await bob.send(bob.sessionBytes('logout'));
    await until(() => server.directory.size === 2, 'bob to leave');
    const list = new Map<string, PresenceEntry>();
    let got: Presence[] = [];
    // Versions start at 1: alice joins (2), bob (3), 剑痴 (4), bob leaves (5). Alice hears all four.
    await until(() => (got = got.concat(presences(alice))).some((p) => p.toVersion === 5), 'the last delta');
    expect(got.every((p) => p.fromVersion >= 1)).toBe(true); // a delta never passes for a snapshot
    expect(apply(list, got, 1)).toBe(5);
    expect([...list.keys()].sort()).toEqual(['alice', '剑痴']);
    expect(list.get('剑痴')).toMatchObject({ protocol: 'classic', endpoint: { port: classic.port } });
  });

  it('batches a login storm into far fewer datagrams than logins', async () => {
    const observer = await qim('observer');
    // Fewer than a hold takes (HOLD_MIN_ENTRIES in one batch): these go out as deltas.
    const peers = await Promise.all(Array.from({ length: 60 }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
    await Promise.all(peers.map((p, i) => p.send(`login,user${i},${p.endpoint}`, port)));
    await until(() => server.directory.size === 61, 'every login');
    const list = new Map<string, PresenceEntry>();
    let got: Presence[] = [];
    await until(() => {
      got = got.concat(presences(observer));
      const names = new Set(got.flatMap((p) => p.entries.map((e) => e.name)));
      return names.size >= 61;
    }, 'every join to reach the observer');
    expect(apply(list, got, 1)).toBe(62);
    expect(list.size).toBe(61);
    expect(got.length).toBeLessThan(15);
  });

  it('answers a LIST-REQUEST with a snapshot of everyone at the current version', async () => {
    const classic = await RawPeer.bind();
    closers.push(() => classic.close());
    await rawLogin(classic, 'old', port);
    const alice = await qim('alice');
    await alice.send(alice.sessionBytes('list-request'));
    let snap: Presence[] = [];
    await until(() => (snap = snap.concat(presences(alice))).some((p) => p.fromVersion === 0), 'the snapshot');
    // A message from version 0 is a snapshot: the whole list (deltas start from version 1).
    const s = snap.filter((p) => p.fromVersion === 0 && p.toVersion === 3);
    expect(s.length).toBeGreaterThan(0);
    for (const p of s) expect(p.entries.map((e) => e.name).sort()).toEqual(['alice', 'old']);
  });

  it('puts the version sent so far in every heartbeat acknowledgement', async () => {
    const alice = await qim('alice');
    await qim('bob');
    // Not the version of changes still gathering (that would send everyone resyncing mid-batch),
    // but that of the last batch sent: once bob's join went out, 3.
    let got: Presence[] = [];
    await until(() => (got = got.concat(presences(alice))).some((p) => p.toVersion === 3), 'the delta with bob');
    await alice.send(alice.sessionBytes('heartbeat'));
    expect(await alice.next('heartbeat-ack')).toMatchObject({ listVersion: 3 });
  });
});

type Hold = Extract<V2Message, { type: 'list-hold' }>;

/** The LIST-HOLDs queued at `p` so far (taken off its queue), each checked against the server's signature and epoch. */
function holds(p: V2Peer): Hold[] {
  const out: Hold[] = [];
  for (let i = 0; i < p.raw.received.length; i++) {
    const r = p.raw.received[i];
    if (r === undefined || r.bytes[1] !== 0x16) continue;
    p.raw.received.splice(i--, 1);
    expect(p.fromServer(r.bytes)).toBe(true);
    const d = decodeV2(r.bytes);
    if (d.ok && d.value.type === 'list-hold') out.push(d.value);
  }
  return out;
}

describe('presence in a login storm', () => {
  it('holds deltas while a storm lasts, answers list requests with the hold, then settles for everyone to fetch', async () => {
    // A long batch window, so that the whole storm lands in one batch and the hold lasts a window.
    const storm = new QimServer({ host: '127.0.0.1', port: 0, limits: { presenceBatchMs: 800 } });
    await storm.start();
    closers.push(() => storm.stop());
    const stormPort = storm.endpoint.port;
    const events: { holding: boolean; version: number }[] = [];
    storm.on('presence-hold', (e) => events.push(e));
    const observer = await V2Peer.create(stormPort);
    closers.push(() => observer.close());
    await observer.login('observer');
    const peers = await Promise.all(Array.from({ length: 120 }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
    await Promise.all(peers.map((p, i) => p.send(`login,user${i},${p.endpoint}`, stormPort)));
    await until(() => storm.directory.size === 121, 'every login');

    // The batch of 121 joins becomes one LIST-HOLD at version 122 (observer 2, then 120 more).
    let got: Hold[] = [];
    await until(() => (got = got.concat(holds(observer))).length > 0, 'the hold');
    expect(got[0]).toMatchObject({ version: 122, spreadMs: 1 });
    expect(got[0]?.waitMs).toBeGreaterThan(4000);
    expect(events).toEqual([{ holding: true, version: 122 }]);
    expect(storm.counters.presenceHolds).toBe(1);

    // While it holds, the list is asked for in vain: over UDP and over TCP the answer is the hold.
    await observer.send(observer.sessionBytes('list-request'));
    await until(() => (got = got.concat(holds(observer))).length > 1, 'the hold again, for the UDP request');
    expect(got[1]).toMatchObject({ version: 122 });
    const tcp = splitFrames(await tcpExchange(stormPort, { send: frameDatagrams([observer.sessionBytes('list-request')]) }));
    expect(tcp?.map((f) => decodeV2(f))).toMatchObject([{ ok: true, value: { type: 'list-hold', version: 122 } }]);
    expect(events).toHaveLength(1);

    // A quiet window later it settles: a LIST-HOLD with no wait, and no delta ever carried the storm.
    await until(() => (got = got.concat(holds(observer))).some((h) => h.waitMs === 0), 'the settle', 8000);
    expect(got.find((h) => h.waitMs === 0)).toMatchObject({ version: 122 });
    expect(events).toEqual([
      { holding: true, version: 122 },
      { holding: false, version: 122 },
    ]);
    expect(presences(observer).flatMap((p) => p.entries.map((e) => e.name))).not.toContain('user0');

    // Now the list comes whole, at the version the settle named.
    const frames = splitFrames(await tcpExchange(stormPort, { send: frameDatagrams([observer.sessionBytes('list-request')]) }));
    const snapshot = (frames ?? []).map((f) => decodePresence(f));
    expect(snapshot[0]).toMatchObject({ fromVersion: 0, toVersion: 122 });
    expect(snapshot.flatMap((p) => p.entries)).toHaveLength(121);
  });

  it('does not hold for a large batch that is a small part of the list', async () => {
    const big = new QimServer({ host: '127.0.0.1', port: 0, limits: { presenceBatchMs: 800 } });
    await big.start();
    closers.push(() => big.stop());
    const bigPort = big.endpoint.port;
    const settled: boolean[] = [];
    big.on('presence-hold', (e) => settled.push(!e.holding));
    const observer = await V2Peer.create(bigPort);
    closers.push(() => observer.close());
    await observer.login('observer');
    // 810 at once: a storm, held and settled.
    const first = await Promise.all(Array.from({ length: 810 }, () => RawPeer.bind()));
    const second = await Promise.all(Array.from({ length: 101 }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all([...first, ...second].map((p) => p.close()))));
    await Promise.all(first.map((p, i) => p.send(`login,a${i},${p.endpoint}`, bigPort)));
    await until(() => settled.at(-1) === true, 'the first storm to settle', 8000);
    expect(big.counters.presenceHolds).toBe(1);
    // Then 101 at once: a batch as large as a hold takes, but an eighth of the list is 114.
    presences(observer);
    await Promise.all(second.map((p, i) => p.send(`login,b${i},${p.endpoint}`, bigPort)));
    let got: Presence[] = [];
    await until(() => (got = got.concat(presences(observer))).flatMap((p) => p.entries).length >= 101, 'the delta', 8000);
    expect(new Set(got.map((p) => p.fromVersion)).size).toBe(1);
    expect(got.flatMap((p) => p.entries.map((e) => e.name)).sort()).toEqual(second.map((_, i) => `b${i}`).sort());
    expect(big.counters.presenceHolds).toBe(1);
  });
});
