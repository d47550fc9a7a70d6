/**
 * Hole punching across real NATs (endpoint-independent mapping, filtering by peer): two clients
 * behind two NATs chat straight to each other after the server introduces them, and the relay
 * carries none of their datagrams; a NAT that forgets its bindings, or a client that moves to
 * another network, costs a few heartbeats and no message.
 */
import { describe, expect, it } from 'vitest';
import { isEvent, type QimProcess } from '../helpers/cli.js';
import { useInternet } from './helpers/netns.js';

const RELAY_TYPES = new Set([0x30, 0x31]);

async function online(p: QimProcess, peer: string): Promise<void> {
  const list = await p.waitForJson(isEvent('list'), 30_000);
  if (!(list.users as { name: string }[]).some((u) => u.name === peer)) await p.waitForJson(isEvent('joined', { name: peer }), 30_000);
}

/** Sends `texts` from `from` to `to` and waits until every one is delivered and received, in order. */
async function chat(from: QimProcess, to: QimProcess, fromName: string, toName: string, texts: string[]): Promise<void> {
  for (const t of texts) from.send(`/msg ${toName} ${t}`);
  for (const t of texts) await to.waitForJson(isEvent('message', { from: fromName, text: t }), 40_000);
  for (let i = 0; i < texts.length; i++) expect(await from.waitForJson(isEvent('delivery', { to: toName }), 40_000)).toMatchObject({ state: 'delivered' });
}

describe('hole punching between two NATs', () => {
  const internet = useInternet({ nats: [{ kind: 'endpoint-independent' }, { kind: 'endpoint-independent' }] });

  it('chats directly after the introduction, with nothing through the relay; survives a NAT that forgets and a move to another network', { timeout: 120_000 }, async () => {
    const net = internet();
    const [h1, h2] = net.hosts;
    if (h1 === undefined || h2 === undefined) throw new Error('two hosts expected');
    const server = await net.startServer();
    const capture = await net.capture(net.server);
    const alice = net.startChat(h1, 'alice');
    const bob = net.startChat(h2, 'bob');
    await online(alice, 'bob');
    await online(bob, 'alice');

    await chat(alice, bob, 'alice', 'bob', ['你好，穿过两层 NAT 👋', 'second']);
    expect(await alice.waitForJson(isEvent('path', { name: 'bob' }))).toMatchObject({ path: 'punched' });
    await chat(bob, alice, 'bob', 'alice', ['直接回复']);
    const { udp } = await capture.stop();
    // The server saw logins, heartbeats and the introduction, but carried nothing between them.
    expect(udp.filter((d) => d.payload[0] === 2 && RELAY_TYPES.has(d.payload[1] ?? 0))).toEqual([]);
    expect(udp.some((d) => d.payload[0] === 2 && d.payload[1] === 0x0c)).toBe(true); // an INTRODUCE

    // alice's NAT forgets every binding: her next heartbeat gets a new public port, the server
    // follows her there and tells bob, and the chat goes on.
    await h1.nat.expireBindings(h1);
    await chat(alice, bob, 'alice', 'bob', ['after the NAT forgot me']);
    await chat(bob, alice, 'bob', 'alice', ['still here']);

    // bob moves to another network (a new address behind his NAT): he logs in again by himself.
    await h2.changeAddress();
    await server.process.waitForJson(isEvent('login', { name: 'bob' }), 30_000).catch(() => undefined);
    await chat(bob, alice, 'bob', 'alice', ['新的 Wi-Fi']);
    await chat(alice, bob, 'alice', 'bob', ['welcome back']);
    expect([...alice.lines, ...bob.lines].some((l) => l.includes('"state":"failed"'))).toBe(false);
  });
});
