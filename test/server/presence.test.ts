import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeV2, type PresenceEntry, type V2Message } from '../../src/protocol/v2/messages.js';
import { QimServer } from '../../src/index.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';
import { V2Peer } from '../helpers/v2-peer.js';
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
    const peers = await Promise.all(Array.from({ length: 100 }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
    await Promise.all(peers.map((p, i) => p.send(`login,user${i},${p.endpoint}`, port)));
    await until(() => server.directory.size === 101, 'every login');
    const list = new Map<string, PresenceEntry>();
    let got: Presence[] = [];
    await until(() => {
      got = got.concat(presences(observer));
      const names = new Set(got.flatMap((p) => p.entries.map((e) => e.name)));
      return names.size >= 101;
    }, 'every join to reach the observer');
    expect(apply(list, got, 1)).toBe(102);
    expect(list.size).toBe(101);
    expect(got.length).toBeLessThan(25);
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
