/**
 * qim across real NATs: `qim server` on the public network, `qim chat` clients behind NAT routers
 * (helpers/netns.ts). What works without any NAT traversal: presence, which goes through the
 * server only.
 *
 * The NAT traversal tests build on the same helpers, each in a file of its own:
 * - test/net/punch.test.ts: two clients behind two endpoint-independent NATs chat directly after
 *   the server's introduction, and a capture at the server/relay holds none of their datagrams
 *   (`net.capture(net.server)`, then `udp.filter(d => d.src === ... )`); a binding that expires
 *   (`nat.expireBindings(host)`) recovers within a few heartbeats; a host that changes network
 *   (`host.changeAddress()`) keeps its sessions.
 * - test/net/relay.test.ts: two clients behind symmetric NATs chat through the relay, and the
 *   relay's capture (`pcap` bytes) holds no plaintext.
 * - test/net/offline.test.ts: a message to someone offline is delivered once when they log in,
 *   across a server restart (`net.startServer(['--data', tempDir()])` twice).
 */
import { describe, expect, it } from 'vitest';
import { isEvent, type JsonObject, type QimProcess } from '../helpers/cli.js';
import { useInternet } from './helpers/netns.js';

interface ListedUser {
  readonly name: string;
  readonly endpoint: string;
}

/** Waits until `p` lists `name`: in its first `list`, or in a `joined` after it. */
async function sees(p: QimProcess, name: string): Promise<JsonObject> {
  const list = await p.waitForJson(isEvent('list'), 30_000);
  const listed = (list.users as ListedUser[]).find((u) => u.name === name);
  if (listed !== undefined) return { ...listed };
  return p.waitForJson(isEvent('joined', { name }), 30_000);
}

describe('qim behind NATs', () => {
  const internet = useInternet({ nats: [{ kind: 'endpoint-independent' }, { kind: 'symmetric' }] });

  it('two clients behind two different NATs log in to a public server and each sees the other', async () => {
    const net = internet();
    const [h1, h2] = net.hosts;
    if (h1 === undefined || h2 === undefined) throw new Error('no h1 or h2');
    const server = await net.startServer();
    const alice = net.startChat(h1, 'alice');
    const bob = net.startChat(h2, 'bob');

    const [bobAtAlice, aliceAtBob] = await Promise.all([sees(alice, 'bob'), sees(bob, 'alice')]);
    expect(bobAtAlice.name).toBe('bob');
    expect(aliceAtBob.name).toBe('alice');
    // The server saw both logins arrive from the NATs' public addresses.
    const logins = [
      await server.process.waitForJson(isEvent('login', { name: 'alice' })),
      await server.process.waitForJson(isEvent('login', { name: 'bob' })),
    ];
    expect(logins.map((l) => JSON.stringify(l))).toEqual([expect.stringContaining(h1.nat.address), expect.stringContaining(h2.nat.address)]);

    alice.send('/quit');
    await bob.waitForJson(isEvent('left', { name: 'alice' }), 30_000);
  });
});
