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
    const capture = await captureLoopbackUdp();
    let pcap: Buffer | null = null;
    closers.push(async () => {
      if (pcap === null) await capture.stop();
    });
    const server = new QimServer({ host: '127.0.0.1', port: 0 });
    await server.start();
    closers.push(() => server.stop());
    const port = server.endpoint.port;
    const qim = async (name: string) => {
      const c = new QimChatClient({ server: { host: '127.0.0.1', port }, name, identity: ed25519KeyPair(), host: '127.0.0.1' });
      closers.push(() => c.close());
      await c.login();
      return c;
    };
    const alice = await qim('alice');
    const bob = await qim('鲍勃');
    const old = new QimClient({ server: { host: '127.0.0.1', port }, name: 'old', host: '127.0.0.1' });
    closers.push(() => old.close());
    await old.login();
    await until(() => alice.contact('鲍勃') !== undefined && bob.contact('alice') !== undefined && alice.contact('old') !== undefined, 'everyone listed');

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
    await until(() => atBob.length === secrets.length && atAlice.length === replies.length, 'every message both ways');
    expect(atBob).toEqual(secrets);
    expect(atAlice).toEqual(replies);
    const control = 'classic travels in clear: CONTROL-7731';
    const gotControl = new Promise<void>((resolve) => old.on('message', (m) => m.text === control && resolve()));
    alice.send('old', control);
    await gotControl;

    pcap = await capture.stop();
    expect(pcap.includes(Buffer.from(control, 'utf16le')), 'the capture saw the classic control message').toBe(true);
    for (const text of [...secrets, ...replies]) {
      for (const needle of needles(text)) {
        expect(pcap.includes(needle), `plaintext of "${text.slice(0, 30)}" on the wire`).toBe(false);
      }
    }
  });
});
