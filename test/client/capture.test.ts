/**
 * The server never sees a message, and nobody on the wire does: a capture of every UDP datagram on
 * loopback during a qim chat (server, two qim clients, typing, a long fragmented message) holds no
 * plaintext of any message. A classic message sent in the same capture is found in clear, which
 * proves the capture saw the traffic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QimChatClient } from '../../src/client/qim-client.js';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { QimClient, QimServer } from '../../src/index.js';
import { captureLoopbackUdp } from '../helpers/capture.js';
import { until } from '../helpers/wait.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Every way a text could appear in a datagram: UTF-8, UTF-16LE, and a 12-byte slice of each. */
function needles(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const enc of ['utf8', 'utf16le'] as const) {
    const b = Buffer.from(text, enc);
    out.push(b);
    if (b.length > 24) out.push(b.subarray(b.length >> 1, (b.length >> 1) + 12));
  }
  return out;
}

describe('a capture of every datagram during a chat', () => {
  it('contains no plaintext of any qim message, while a classic one shows in clear', async () => {
    const server = new QimServer({ host: '127.0.0.1', port: 0 });
    await server.start();
    closers.push(() => server.stop());
    const port = server.endpoint.port;
    const qim = async (name: string, directPaths = true) => {
      const c = new QimChatClient({ server: { host: '127.0.0.1', port }, name, identity: ed25519KeyPair(), host: '127.0.0.1', directPaths });
      closers.push(() => c.close());
      await c.login();
      return c;
    };
    const alice = await qim('alice');
    const bob = await qim('鲍勃');
    const hidden = await qim('藏', false); // everything through the server's relay
    const old = new QimClient({ server: { host: '127.0.0.1', port }, name: 'old', host: '127.0.0.1' });
    closers.push(() => old.close());
    await old.login();
    await until(() => alice.contact('鲍勃') !== undefined && bob.contact('alice') !== undefined && alice.contact('old') !== undefined && hidden.contact('alice') !== undefined, 'everyone listed');
    // Every datagram to or from any of them (the server included), from here to the end.
    const capture = await captureLoopbackUdp([port, alice.endpoint.port, bob.endpoint.port, hidden.endpoint.port, old.endpoint.port]);
    let stopped = false;
    closers.push(async () => {
      if (!stopped) await capture.stop();
    });

    const secrets = [
      'the launch code is 4471-ZEBRA',
      '周五下午三点在老地方见面，别告诉别人 🤫',
      `a long letter: ${'Sphinx of black quartz, judge my vow. '.repeat(120)}`,
    ];
    const replies = ['ack: ZEBRA received, burning this note', '好的，不见不散 👍'];
    const atBob: string[] = [];
    const atAlice: string[] = [];
    bob.on('message', (m) => atBob.push(m.text));
    alice.on('message', (m) => atAlice.push(m.text));
    for (const s of secrets) alice.send('鲍勃', s);
    alice.typing('鲍勃', true);
    for (const r of replies) bob.send('alice', r);
    const atHidden: string[] = [];
    hidden.on('message', (m) => atHidden.push(m.text));
    const relayedSecret = '中继也读不到：the vault opens at 03:00';
    alice.send('藏', relayedSecret);
    await until(() => atBob.length === secrets.length && atAlice.length === replies.length && atHidden.length === 1, 'every message both ways');
    expect(atBob).toEqual(secrets);
    expect(atAlice).toEqual(replies);
    expect(atHidden).toEqual([relayedSecret]);
    expect(server.counters.relayed, 'the relayed conversation went through the server').toBeGreaterThan(0);
    const control = 'classic travels in clear: CONTROL-7731';
    const gotControl = new Promise<void>((resolve) => old.on('message', (m) => m.text === control && resolve()));
    alice.send('old', control);
    await gotControl;

    const { pcap, dropped } = await capture.stop();
    stopped = true;
    expect(dropped, 'packets the kernel dropped before tcpdump read them').toBe(0);
    expect(pcap.includes(Buffer.from(control, 'utf16le')), 'the capture saw the classic control message').toBe(true);
    for (const text of [...secrets, ...replies, relayedSecret]) {
      for (const needle of needles(text)) {
        expect(pcap.includes(needle), `plaintext of "${text.slice(0, 30)}" on the wire`).toBe(false);
      }
    }
  });
});
