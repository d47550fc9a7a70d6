/**
 * The relay across real NATs that defeat hole punching (symmetric: a new public port for every
 * destination): two clients chat through the server, which carries only ciphertext, and a capture
 * at the server holds no plaintext of any message.
 */
import { describe, expect, it } from 'vitest';
import { isEvent, type QimProcess } from '../helpers/cli.js';
import { useInternet } from './helpers/netns.js';

async function online(p: QimProcess, peer: string): Promise<void> {
  const list = await p.waitForJson(isEvent('list'), 30_000);
  if (!(list.users as { name: string }[]).some((u) => u.name === peer)) await p.waitForJson(isEvent('joined', { name: peer }), 30_000);
}

describe('the relay between two symmetric NATs', () => {
  const internet = useInternet({ nats: [{ kind: 'symmetric' }, { kind: 'symmetric' }] });

  it('carries the chat both ways as ciphertext only', { timeout: 90_000 }, async () => {
    const net = internet();
    const [h1, h2] = net.hosts;
    if (h1 === undefined || h2 === undefined) throw new Error('two hosts expected');
    await net.startServer();
    const capture = await net.capture(net.server);
    const alice = net.startChat(h1, 'alice');
    const bob = net.startChat(h2, 'bob');
    await online(alice, 'bob');
    await online(bob, 'alice');

    const secrets = ['中继只看得到密文：the key is under the mat', 'reply: 收到 ✅'];
    alice.send(`/msg bob ${secrets[0]}`);
    await bob.waitForJson(isEvent('message', { from: 'alice', text: secrets[0] }), 40_000);
    expect(await alice.waitForJson(isEvent('delivery', { to: 'bob' }), 40_000)).toMatchObject({ state: 'delivered' });
    expect(await alice.waitForJson(isEvent('path', { name: 'bob' }))).toMatchObject({ path: 'relayed' });
    bob.send(`/msg alice ${secrets[1]}`);
    await alice.waitForJson(isEvent('message', { from: 'bob', text: secrets[1] }), 40_000);

    const { udp, pcap } = await capture.stop();
    expect(udp.filter((d) => d.payload[0] === 2 && (d.payload[1] === 0x30 || d.payload[1] === 0x31)).length).toBeGreaterThan(4);
    for (const s of secrets) {
      expect(pcap.includes(Buffer.from(s, 'utf8')), `plaintext of "${s}" at the relay`).toBe(false);
      expect(pcap.includes(Buffer.from(s, 'utf16le'))).toBe(false);
    }
  });
});
