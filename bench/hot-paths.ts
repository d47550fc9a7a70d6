/**
 * Per-operation costs of the server's hot paths, measured in isolation, as evidence for where a
 * login storm's and a list fetch's server CPU goes (see README "Performance"):
 *
 *   npx tsx bench/hot-paths.ts
 *
 * Each line: the operation, the source it stands for, and its mean cost per call.
 */
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';

const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
import { performance } from 'node:perf_hooks';
import { ed25519KeyPair, sign, verify, x25519, x25519KeyPair } from '../src/crypto/keys.js';
import { trailingMac } from '../src/crypto/control.js';
import { seal } from '../src/crypto/channel.js';
import { encodeV2, type PresenceEntry } from '../src/protocol/v2/messages.js';
import { ByteWriter } from '../src/protocol/v2/bytes.js';

function time(label: string, iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(i); // warm up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  const us = ((performance.now() - t0) * 1000) / iterations;
  process.stdout.write(`${us.toFixed(2).padStart(10)} µs  ${label}\n`);
  return us;
}

const id = ed25519KeyPair();
const msg = randomBytes(200);
const sig = sign(id, msg);
const peer = x25519KeyPair();

time('x25519KeyPair() — a fresh pair, once per LOGIN in v2.ts #login', 2000, () => x25519KeyPair());
time('ed25519KeyPair() — an identity from a seed (JWK import, JWK export of its public half)', 2000, () => ed25519KeyPair(randomBytes(32)));
time("generateKeyPairSync('x25519') — node:crypto's generator, not used: exporting its keys deadlocks Node 20 (keys.ts)", 2000, () => generateKeyPairSync('x25519'));
time('verify() — Ed25519 LOGIN signature, JWK import each call', 2000, () => verify(id.publicKey, msg, sig));
time('sign() — WELCOME signature', 2000, () => sign(id, msg));
const theirs = x25519KeyPair().publicKey;
time('x25519() — the login DH, JWK import each call', 2000, () => x25519(peer, theirs));
time('createPublicKey from SPKI DER — the import verify() and x25519() no longer use', 2000, () => createPublicKey({ key: Buffer.concat([X25519_SPKI, theirs]), format: 'der', type: 'spki' }));
time('createPublicKey from JWK — the same key, as verify() and x25519() import it', 2000, () => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: theirs.toString('base64url') }, format: 'jwk' }));

const key = randomBytes(32);
const randomKey = randomBytes(32);
const smallFrame = randomBytes(20);
const aad = randomBytes(14);
const datagram = randomBytes(1180);
time('trailingMac() on a 1,180-byte PRESENCE — per recipient per datagram (presence.ts #sign)', 50_000, () => trailingMac(key, datagram));
time('Buffer.from(template) copy of a 1,180-byte PRESENCE — per recipient per datagram (presence.ts #sign)', 50_000, () => Buffer.from(datagram));
time('createHmac alone (no update) — the fixed part of every MAC', 50_000, () => createHmac('sha256', key));

const entries: PresenceEntry[] = Array.from({ length: 10_000 }, (_, i) => ({
  op: 'upsert',
  name: `user${i}`,
  protocol: 'qim',
  status: 'online',
  fingerprint: randomBytes(16),
  endpoint: { address: `127.1.${(i >> 8) & 255}.${i & 255}`, port: 20000 + i },
  privateEndpoint: { address: `127.1.${(i >> 8) & 255}.${i & 255}`, port: 20000 + i },
})) as PresenceEntry[];
const per = 12;
time('encodeV2 PRESENCE of 12 entries — presence.ts #encode, per datagram of every snapshot', 2000, (i) => {
  const at = (i * per) % (entries.length - per);
  encodeV2({ type: 'presence', epoch: Buffer.alloc(8), fromVersion: 0, toVersion: 1, part: 0, parts: 1, entries: entries.slice(at, at + per), signature: Buffer.alloc(64) });
});
const snapshotUs = time('a whole 10,000-user snapshot encoded (834 datagrams) — presence.ts snapshot(), per LIST-REQUEST', 20, () => {
  for (let at = 0; at < entries.length; at += per) {
    encodeV2({ type: 'presence', epoch: Buffer.alloc(8), fromVersion: 0, toVersion: 1, part: 0, parts: 1, entries: entries.slice(at, at + per), signature: Buffer.alloc(64) });
  }
});
time('ByteWriter.endpoint() for an IPv4 endpoint — split/map/Uint8Array.from per entry', 100_000, (i) => new ByteWriter(16).endpoint({ address: `127.1.0.${i & 255}`, port: 4000 }));
process.stdout.write(`\nsnapshot of 10,000: ${(snapshotUs / 1000).toFixed(1)} ms to encode, before the ${Math.ceil(10_000 / per)} MACs and sends\n`);

// A qim message and its echo between two PeerSessions wired back to back (no sockets): the CPU a
// round trip costs in the sessions themselves (sealing, opening, acknowledging, both ways).
{
  const { PeerSession } = await import('../src/client/peer-session.js');
  const { decodeV2 } = await import('../src/protocol/v2/messages.js');
  const a = ed25519KeyPair();
  const b = ed25519KeyPair();
  const epA = { address: '127.0.0.1', port: 1 };
  const epB = { address: '127.0.0.1', port: 2 };
  const inboxB: Buffer[] = [];
  const inboxA: Buffer[] = [];
  type Session = ReturnType<typeof PeerSession.initiate>;
  let sb: Session | null = null;
  const sa = PeerSession.initiate({ identity: a, name: 'a', peerKey: b.publicKey, send: (bytes: Buffer) => inboxB.push(bytes), now: () => performance.now() }, epB);
  const deliver = (inbox: Buffer[], to: 'a' | 'b'): void => {
    while (inbox.length > 0) {
      const d = decodeV2(inbox.shift() as Buffer);
      if (!d.ok) continue;
      const m = d.value;
      if (m.type === 'handshake-init' && to === 'b') {
        const s = PeerSession.respond({ identity: b, name: 'b', peerKey: a.publicKey, send: (bytes: Buffer) => inboxA.push(bytes), now: () => performance.now() }, m, epA);
        if (typeof s !== 'string') {
          sb = s;
          s.on('message', ({ text }) => s.send(text));
        }
      } else if (m.type === 'handshake-response' && to === 'a') sa.onResponse(m);
      else if (m.type === 'data') (to === 'a' ? sa : sb)?.onData(m, to === 'a' ? epB : epA);
    }
  };
  deliver(inboxB, 'b');
  deliver(inboxA, 'a');
  let echoed = 0;
  sa.on('message', () => echoed++);
  time('PeerSession message + echo, in process (seal/open/ack both ways; client/peer-session.ts)', 5000, (i) => {
    sa.send(`p${i}`);
    while (inboxA.length > 0 || inboxB.length > 0) {
      deliver(inboxB, 'b');
      deliver(inboxA, 'a');
    }
  });
  time('seal() alone: createCipheriv per DATA (crypto/channel.ts)', 20_000, (i) => seal(randomKey, i, smallFrame, aad));
  sa.close();
  (sb as Session | null)?.close();
  if (echoed === 0) throw new Error('no echo: the in-process sessions did not connect');
}
