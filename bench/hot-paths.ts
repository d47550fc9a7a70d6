/**
 * Per-operation costs of the server's hot paths, measured in isolation, as evidence for where a
 * login storm's and a list fetch's server CPU goes (see README "Performance"):
 *
 *   npx tsx bench/hot-paths.ts
 *
 * Each line: the operation, the source it stands for, and its mean cost per call.
 */
import {
  createCipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ed25519KeyPair, sign, verify, x25519, x25519KeyPair } from '../src/crypto/keys.js';
import { trailingMac } from '../src/crypto/control.js';
import { seal } from '../src/crypto/channel.js';
import { encodeV2, type PresenceEntry } from '../src/protocol/v2/messages.js';
import { ByteWriter } from '../src/protocol/v2/bytes.js';

const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

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
const theirs = x25519KeyPair().publicKey;

// Ours (libsodium, crypto/keys.ts and channel.ts), each followed by what node:crypto takes for the
// same operation on raw keys (keys imported as JWK, the fastest import; what qim used before).
const jwk = (crv: string, x: Buffer) => createPublicKey({ key: { kty: 'OKP', crv, x: x.toString('base64url') }, format: 'jwk' });
const nodeIdentity = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: id.secret.toString('base64url'), x: '' }, format: 'jwk' });
const nodePeer = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: peer.secret.toString('base64url'), x: '' }, format: 'jwk' });
time('x25519KeyPair() — a fresh pair, once per LOGIN in v2.ts #admit and per peer handshake', 2000, () => x25519KeyPair());
time('  node:crypto: JWK import of the secret, public half exported', 2000, () => {
  const k = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: randomBytes(32).toString('base64url'), x: '' }, format: 'jwk' });
  createPublicKey(k).export({ format: 'jwk' });
});
time("  node:crypto: generateKeyPairSync('x25519'), never used: exporting its keys deadlocks Node 20", 2000, () => generateKeyPairSync('x25519'));
time('ed25519KeyPair() — an identity from its seed', 2000, () => ed25519KeyPair(randomBytes(32)));
time('verify() — Ed25519 signature check (LOGIN on the sync path, PRESENCE at clients)', 2000, () => verify(id.publicKey, msg, sig));
time('  node:crypto: JWK import + verify (verifyAsync does this on the thread pool)', 2000, () => nodeVerify(null, msg, jwk('Ed25519', id.publicKey), sig));
time('sign() — WELCOME, PRESENCE, LOGIN signature', 2000, () => sign(id, msg));
time('  node:crypto: sign with the key already imported', 2000, () => nodeSign(null, msg, nodeIdentity));
time('x25519() — the login DH', 2000, () => x25519(peer, theirs));
time('  node:crypto: JWK import of theirs + diffieHellman', 2000, () => diffieHellman({ privateKey: nodePeer, publicKey: jwk('X25519', theirs) }));
time('createPublicKey from SPKI DER — slower than the JWK import verifyAsync() uses', 2000, () => createPublicKey({ key: Buffer.concat([X25519_SPKI, theirs]), format: 'der', type: 'spki' }));
{
  const aeadKey = randomBytes(32);
  const plain = randomBytes(60);
  const header = randomBytes(14);
  time('seal() — ChaCha20-Poly1305 of a 60-byte frame, per peer DATA datagram', 50_000, (i) => seal(aeadKey, i, plain, header));
  time('  node:crypto: createCipheriv + setAAD + update + final + getAuthTag', 50_000, (i) => {
    const iv = Buffer.alloc(12);
    iv.writeUIntLE(i, 4, 6);
    const c = createCipheriv('chacha20-poly1305', aeadKey, iv, { authTagLength: 16 });
    c.setAAD(header, { plaintextLength: plain.length });
    Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  });
}

const key = randomBytes(32);
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
  // ACKs leave at the end of a turn of the event loop (setImmediate) or later: each round trip
  // yields one turn so they go out as they would, which adds the turn's own cost (about 1 µs).
  const flush = (): void => {
    while (inboxA.length > 0 || inboxB.length > 0) {
      deliver(inboxB, 'b');
      deliver(inboxA, 'a');
    }
  };
  const roundTrips = async (n: number, from: number): Promise<void> => {
    for (let i = from; i < from + n; i++) {
      sa.send(`p${i}`);
      flush();
      await new Promise((resolve) => setImmediate(resolve));
      flush();
    }
  };
  await roundTrips(2000, 0);
  const t0 = performance.now();
  await roundTrips(20_000, 2000);
  const us = ((performance.now() - t0) * 1000) / 20_000;
  process.stdout.write(`${us.toFixed(2).padStart(10)} µs  PeerSession message + echo, in process (seal/open/ack both ways; client/peer-session.ts), ${echoed} echoes\n`);
  sa.close();
  (sb as Session | null)?.close();
  if (echoed === 0) throw new Error('no echo: the in-process sessions did not connect');
}
