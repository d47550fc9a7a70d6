import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeV2, welcomeSigned, type PresenceEntry, type V2Message } from '../../src/protocol/v2/messages.js';
import { verify } from '../../src/crypto/keys.js';
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

  it('answers a LIST-REQUEST naming a version it kept with the batches since: the very datagrams it sent, over UDP and TCP', async () => {
    // Batches of 150 ms, so that the two classic users below surely share one.
    const srv = new QimServer({ host: '127.0.0.1', port: 0, limits: { presenceBatchMs: 150 } });
    await srv.start();
    closers.push(() => srv.stop());
    const srvPort = srv.endpoint.port;
    const peer = async (name: string): Promise<V2Peer> => {
      const p = await V2Peer.create(srvPort);
      closers.push(() => p.close());
      await p.login(name);
      return p;
    };
    const alice = await peer('alice');
    const sent = new Map<number, Buffer[]>(); // each batch alice was sent, by the version it starts from
    const take = (): void => {
      for (let i = 0; i < alice.raw.received.length; i++) {
        const r = alice.raw.received[i];
        if (r === undefined || r.bytes[1] !== 0x09) continue;
        alice.raw.received.splice(i--, 1);
        const p = decodePresence(r.bytes);
        if (p.fromVersion > 0) sent.set(p.fromVersion, [...(sent.get(p.fromVersion) ?? []), r.bytes]);
      }
    };
    await until(() => (take(), sent.has(1)), 'her own join (versions 1 to 2)');
    await peer('bob');
    await until(() => (take(), sent.has(2)), 'bob (2 to 3)');
    // Two classic users in one batch (3 to 5).
    const classics = await Promise.all([RawPeer.bind(), RawPeer.bind()]);
    closers.push(async () => void (await Promise.all(classics.map((c) => c.close()))));
    await Promise.all(classics.map((c, i) => c.send(`login,old${i},${c.endpoint}`, srvPort)));
    await until(() => (take(), sent.has(3)), 'the classic users');
    expect(decodePresence(sent.get(3)?.[0] as Buffer)).toMatchObject({ fromVersion: 3, toVersion: 5 });

    // From version 2 over TCP: bob's batch, then the classic users', byte for byte as sent.
    const ask = async (version: number): Promise<Buffer[]> =>
      splitFrames(await tcpExchange(srvPort, { send: frameDatagrams([alice.sessionBytes('list-request', undefined, undefined, version)]) })) ?? [];
    expect(await ask(2)).toEqual([...(sent.get(2) ?? []), ...(sent.get(3) ?? [])]);
    expect(await ask(3)).toEqual(sent.get(3));
    expect(srv.counters.catchUps).toBe(2);
    // The same over UDP.
    await alice.send(alice.sessionBytes('list-request', undefined, undefined, 3));
    await until(() => alice.raw.received.some((r) => r.bytes.equals(sent.get(3)?.[0] as Buffer)), 'the batch again over UDP');

    // Anything else is the whole list: version 0, one inside a batch (4), the one published now
    // (5), one never published (9), and one whose batches would be as long as the list (1: four
    // changes for four users).
    for (const version of [0, 4, 5, 9, 1]) {
      const answer = (await ask(version)).map((f) => decodePresence(f));
      expect(answer[0]).toMatchObject({ fromVersion: 0, toVersion: 5 });
      expect(answer.flatMap((p) => p.entries.map((e) => e.name)).sort()).toEqual(['alice', 'bob', 'old0', 'old1']);
    }
    expect(srv.counters.catchUps).toBe(3);
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
    // The observer's own join goes out first (versions 1 to 2): the list it has before the storm.
    await until(() => presences(observer).some((p) => p.toVersion === 2), 'the observer to be listed');
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

    // Or, for a user who had the list before the storm (version 2), the hold's batches: kept
    // though never sent, and the 120 who came, not the whole list again.
    const since = (splitFrames(await tcpExchange(stormPort, { send: frameDatagrams([observer.sessionBytes('list-request', undefined, undefined, 2)]) })) ?? []).map((f) => decodePresence(f));
    expect(since[0]).toMatchObject({ fromVersion: 2 });
    expect(since.at(-1)).toMatchObject({ toVersion: 122 });
    expect(since.flatMap((p) => p.entries.map((e) => e.name)).sort()).toEqual(Array.from({ length: 120 }, (_, i) => `user${i}`).sort());
  });

  it('names the hold in a WELCOME sent during it, and signs a WELCOME repeated after the settle again without it', async () => {
    const storm = new QimServer({ host: '127.0.0.1', port: 0, limits: { presenceBatchMs: 800 } });
    await storm.start();
    closers.push(() => storm.stop());
    const stormPort = storm.endpoint.port;
    const quiet = await V2Peer.create(stormPort);
    closers.push(() => quiet.close());
    expect(await quiet.login('quiet')).toMatchObject({ holdWaitMs: 0, holdSpreadMs: 0 });
    const peers = await Promise.all(Array.from({ length: 120 }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
    await Promise.all(peers.map((p, i) => p.send(`login,user${i},${p.endpoint}`, stormPort)));
    await until(() => storm.counters.presenceHolds === 1, 'the hold');
    const late = await V2Peer.create(stormPort);
    closers.push(() => late.close());
    const held = await late.login('late');
    const notice = holds(quiet)[0];
    expect(held.holdWaitMs).toBeGreaterThan(4000);
    expect(held.holdSpreadMs).toBe(notice?.spreadMs);
    expect(held.listVersion).toBe(notice?.version);
    // After the settle, the same LOGIN again (its WELCOME was lost, say) is not told of a hold that is over.
    await until(() => holds(late).some((h) => h.waitMs === 0), 'the settle', 8000);
    await late.send(late.lastLogin as Buffer);
    const again = await late.next('welcome');
    expect(again).toMatchObject({ session: held.session, serverEphemeral: held.serverEphemeral, holdWaitMs: 0, holdSpreadMs: 0 });
    if (again.type !== 'welcome') throw new Error('unreachable');
    const signed = Buffer.concat([welcomeSigned(again), createHash('sha256').update(late.lastLogin as Buffer).digest()]);
    expect(verify(again.serverIdentity, signed, again.signature)).toBe(true);
    expect(storm.counters.loginRepeats).toBe(1);
  });

  /** A server with short batches, one qim observer, and `n` classic peers ready to log in. */
  async function shortBatches(n: number): Promise<{ s: QimServer; observer: V2Peer; peers: RawPeer[]; events: boolean[] }> {
    const s = new QimServer({ host: '127.0.0.1', port: 0, limits: { presenceBatchMs: 40 } });
    await s.start();
    closers.push(() => s.stop());
    const events: boolean[] = [];
    s.on('presence-hold', (e) => events.push(e.holding));
    const observer = await V2Peer.create(s.endpoint.port);
    closers.push(() => observer.close());
    await observer.login('observer');
    const peers = await Promise.all(Array.from({ length: n }, () => RawPeer.bind()));
    closers.push(async () => void (await Promise.all(peers.map((p) => p.close()))));
    return { s, observer, peers, events };
  }

  /** Sends each of `waves` as classic datagrams at once, the next wave `gapMs` later. */
  async function inWaves(port: number, waves: [RawPeer, string][][], gapMs: number): Promise<void> {
    for (const wave of waves) {
      await Promise.all(wave.map(([p, text]) => p.send(text, port)));
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  it('holds for a storm that comes in batches each below a hold, when the list grows by an eighth within a second', async () => {
    const { s, observer, peers, events } = await shortBatches(180);
    // 180 logins in six waves of 30, 80 ms apart: no batch of 100, but the list grows past 100 in half a second.
    const waves = Array.from({ length: 6 }, (_, w) => peers.slice(w * 30, w * 30 + 30).map((p, i): [RawPeer, string] => [p, `login,w${w}u${i},${p.endpoint}`]));
    await inWaves(s.endpoint.port, waves, 80);
    await until(() => events.includes(false), 'the hold to settle', 8000);
    expect(events[0]).toBe(true);
    expect(s.counters.presenceHolds).toBe(1);
    let got: Hold[] = [];
    await until(() => (got = got.concat(holds(observer))).some((h) => h.waitMs === 0), 'the settle at the observer');
    // The deltas before the hold began carried only the first waves (the hold begins once the list
    // has grown by 100 within the second), the last wave none.
    const delta = presences(observer).flatMap((p) => p.entries.map((e) => e.name));
    expect(delta.length).toBeLessThanOrEqual(151);
    expect(delta.filter((name) => name.startsWith('w5'))).toEqual([]);
  });

  it('does not hold for a burst smaller than half the list (as churn begins, before joiners leave)', async () => {
    const { s, observer, peers, events } = await shortBatches(390);
    // 240 online in eight waves of 30, 400 ms apart: under 100 a second.
    const first = Array.from({ length: 8 }, (_, w) => peers.slice(w * 30, w * 30 + 30).map((p, i): [RawPeer, string] => [p, `login,a${w * 30 + i},${p.endpoint}`]));
    await inWaves(s.endpoint.port, first, 400);
    // Then 150 in five waves, 80 ms apart: 100 or more within a second, but not half the list.
    const burst = Array.from({ length: 5 }, (_, w) => peers.slice(240 + w * 30, 270 + w * 30).map((p, i): [RawPeer, string] => [p, `login,b${w * 30 + i},${p.endpoint}`]));
    await inWaves(s.endpoint.port, burst, 80);
    const seen = new Set<string>();
    await until(() => {
      for (const p of presences(observer)) for (const e of p.entries) seen.add(e.name);
      return seen.has('b149');
    }, 'the burst as deltas');
    expect([...seen].filter((n) => n.startsWith('b'))).toHaveLength(150);
    expect(events).toEqual([]);
  });

  it('does not hold for churn: as many leaving as joining, however fast', async () => {
    const { s, observer, peers, events } = await shortBatches(240);
    // 120 online in six waves of 20, 400 ms apart (slower than a storm): deltas, no hold.
    const online = peers.slice(0, 120);
    const rest = peers.slice(120);
    const first = Array.from({ length: 6 }, (_, w) => online.slice(w * 20, w * 20 + 20).map((p, i): [RawPeer, string] => [p, `login,a${w * 20 + i},${p.endpoint}`]));
    await inWaves(s.endpoint.port, first, 400);
    await until(() => s.directory.size === 121, 'the first 120');
    // Then six waves, 80 ms apart, each 20 leaving and 20 others joining.
    const churn = Array.from({ length: 6 }, (_, w) => [
      ...online.slice(w * 20, w * 20 + 20).map((p, i): [RawPeer, string] => [p, `logout,a${w * 20 + i},${p.endpoint}`]),
      ...rest.slice(w * 20, w * 20 + 20).map((p, i): [RawPeer, string] => [p, `login,b${w * 20 + i},${p.endpoint}`]),
    ]);
    await inWaves(s.endpoint.port, churn, 80);
    await until(() => presences(observer).flatMap((p) => p.entries).some((e) => e.name === 'b119'), 'the last join as a delta');
    expect(events).toEqual([]);
    expect(s.counters.presenceHolds).toBe(0);
    expect(s.directory.size).toBe(121);
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
    // The observer has been told of version 812 (itself at 2, then 810 more): by the settle, or by
    // deltas after it for the logins its classic fan-out let in late.
    let told = 0;
    await until(
      () => {
        for (const h of holds(observer)) if (h.waitMs === 0) told = Math.max(told, h.version);
        for (const p of presences(observer)) told = Math.max(told, p.toVersion);
        return told === 812 && settled.at(-1) === true;
      },
      'the first storm to settle',
      12_000,
    );
    expect(big.counters.presenceHolds).toBe(1);
    // Then 101 at once: a batch as large as a hold takes, but an eighth of the list is 114.
    await Promise.all(second.map((p, i) => p.send(`login,b${i},${p.endpoint}`, bigPort)));
    let got: Presence[] = [];
    await until(() => (got = got.concat(presences(observer))).flatMap((p) => p.entries).length >= 101, 'the delta', 8000);
    // As deltas (their classic fan-out to 911 users may split them into two batches), no hold.
    expect(got.every((p) => p.fromVersion > 0)).toBe(true);
    expect(got.flatMap((p) => p.entries.map((e) => e.name)).sort()).toEqual(second.map((_, i) => `b${i}`).sort());
    expect(big.counters.presenceHolds).toBe(1);
  });
});
