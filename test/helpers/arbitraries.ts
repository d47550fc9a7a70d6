/** fast-check generators for the protocol's values: any Unicode text, Chinese and emoji included. */
import fc from 'fast-check';
import type { ClassicDatagram } from '../../src/protocol/classic/datagram.js';
import { canonicalAddress, type Endpoint } from '../../src/protocol/endpoint.js';
import { encodeV2, MAX_PEER_DATAGRAM, MAX_SEALED_BYTES } from '../../src/protocol/v2/messages.js';

/** Any text: every code point, plus a bias towards Chinese and emoji. */
export const arbText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom('你', '好', '剑', '痴', '😀', '👨‍👩‍👧', ' ', ',', 'a', ';'), { maxLength: 20 }).map((a) => a.join('')),
);

/** Text without the field separator. */
export const arbField = arbText.map((s) => s.replaceAll(',', ''));

/** A valid user name: no `,` or `;`, non-empty. */
export const arbName = fc
  .oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }), fc.constantFrom('剑痴', '张三', 'alice', 'Li Lei', '😀bob'))
  .map((s) => s.replace(/[,;]/g, '_'))
  .filter((s) => s.length > 0);

/** A canonical endpoint, IPv4 or IPv6. */
export const arbEndpoint: fc.Arbitrary<Endpoint> = fc.record({
  address: fc.oneof(fc.ipV4(), fc.ipV6().map((a) => canonicalAddress(a) ?? '::1')),
  port: fc.integer({ min: 1, max: 65535 }),
});

/** Any classic datagram that can be encoded. */
export const arbClassicDatagram: fc.Arbitrary<ClassicDatagram> = fc.oneof(
  fc.record({ kind: fc.constant('login' as const), name: arbText, endpoint: arbEndpoint }),
  fc.record({ kind: fc.constant('logout' as const), name: arbText, endpoint: arbEndpoint }),
  fc.record({ kind: fc.constant('accept' as const), tcpPort: fc.integer({ min: 1, max: 65535 }) }),
  fc.record({ kind: fc.constant('refuse' as const), reason: arbText }),
  fc.record({ kind: fc.constant('talk' as const), time: arbField, sender: arbField, text: arbText }),
);

import type { V2Message } from '../../src/protocol/v2/messages.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const status = fc.constantFrom('online' as const, 'away' as const, 'busy' as const, 'invisible' as const);
/** A name that fits the wire's 96 UTF-8 bytes. */
const wireName = arbText.filter((s) => Buffer.byteLength(s) <= 96);

const sealed = fc.uint8Array({ minLength: 0, maxLength: MAX_SEALED_BYTES }).map((b) => Buffer.from(b));

/** A peer datagram as a RELAY carries it: an INIT, a RESP, or a DATA of up to 1,077 bytes. */
const arbPeerDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ sender: u32, name: wireName, ephemeral: bytes(32), identity: bytes(32), signature: bytes(64) }).map((m) => encodeV2({ type: 'handshake-init', ...m })),
  fc.record({ sender: u32, receiver: u32, ephemeral: bytes(32), identity: bytes(32), signature: bytes(64) }).map((m) => encodeV2({ type: 'handshake-response', ...m })),
  fc
    .record({ receiver: u32, counter: u48, ciphertext: fc.uint8Array({ minLength: 16, maxLength: MAX_PEER_DATAGRAM - 14 }).map((b) => Buffer.from(b)) })
    .map((m) => encodeV2({ type: 'data', ...m })),
);

/** Any qim-protocol message that can be encoded. */
export const arbV2Message: fc.Arbitrary<V2Message> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), nonce: bytes(16) }),
  fc.record({ type: fc.constant('cookie' as const), nonce: bytes(16), cookie: bytes(16) }),
  fc.record({
    type: fc.constant('login' as const),
    cookie: bytes(16),
    nonce: bytes(16),
    identity: bytes(32),
    ephemeral: bytes(32),
    time: u48,
    status,
    name: wireName,
    endpoint: arbEndpoint,
    signature: bytes(64),
  }),
  fc.record({
    type: fc.constant('welcome' as const),
    session: bytes(8),
    leaseMs: u32,
    heartbeatMs: u32,
    listVersion: u32,
    epoch: bytes(8),
    observed: arbEndpoint,
    serverIdentity: bytes(32),
    serverEphemeral: bytes(32),
    holdWaitMs: fc.integer({ min: 0, max: 0xffff }),
    holdSpreadMs: fc.integer({ min: 0, max: 0xffff }),
    signature: bytes(64),
  }),
  fc.record({ type: fc.constant('refused' as const), code: fc.integer({ min: 0, max: 255 }), reason: arbText.filter((s) => Buffer.byteLength(s) <= 64) }),
  fc.record({
    type: fc.constant('list-hold' as const),
    epoch: bytes(8),
    version: u32,
    waitMs: fc.integer({ min: 0, max: 0xffff }),
    spreadMs: fc.integer({ min: 0, max: 0xffff }),
    signature: bytes(64),
  }),
  fc
    .record({
      type: fc.constant('presence' as const),
      epoch: bytes(8),
      fromVersion: u32,
      toVersion: u32,
      part: fc.integer({ min: 0, max: 254 }),
      parts: fc.constant(255),
      entries: fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('remove' as const), name: fc.constantFrom('alice', '剑痴', '😀') }),
          fc.record({
            op: fc.constant('upsert' as const),
            name: fc.constantFrom('bob', '张三', 'Li Lei'),
            protocol: fc.constantFrom('classic' as const, 'qim' as const),
            status,
            fingerprint: bytes(16),
            endpoint: arbEndpoint,
            privateEndpoint: arbEndpoint,
          }),
        ),
        { maxLength: 12 },
      ),
      signature: bytes(64),
    }),
  fc.record({ type: fc.constantFrom('heartbeat' as const, 'heartbeat-ack' as const, 'logout' as const, 'list-request' as const), session: bytes(8), counter: u48, listVersion: u32, mac: bytes(16) }),
  fc.record({ type: fc.constant('status' as const), session: bytes(8), counter: u48, status, mac: bytes(16) }),
  fc.record({ type: fc.constant('introduce' as const), session: bytes(8), counter: u48, peer: wireName, mac: bytes(16) }),
  fc.record({ type: fc.constant('punch' as const), peer: wireName, observed: arbEndpoint, privateEndpoint: arbEndpoint, mac: bytes(16) }),
  fc.record({ type: fc.constant('prekey' as const), session: bytes(8), counter: u48, prekey: bytes(32), signature: bytes(64), mac: bytes(16) }),
  fc.record({ type: fc.constant('key-request' as const), session: bytes(8), counter: u48, peer: wireName, mac: bytes(16) }),
  fc.record({ type: fc.constant('key-answer' as const), peer: wireName, identity: bytes(32), prekey: bytes(32), signature: bytes(64), mac: bytes(16) }),
  fc.record({ type: fc.constant('offline-put' as const), session: bytes(8), counter: u48, id: u48, to: wireName, sealed: sealed, mac: bytes(16) }),
  fc.record({ type: fc.constant('offline-ack' as const), id: u48, result: fc.integer({ min: 0, max: 255 }), mac: bytes(16) }),
  fc.record({ type: fc.constant('offline-deliver' as const), id: u48, from: wireName, storedAt: u48, sealed: sealed, mac: bytes(16) }),
  fc.record({ type: fc.constant('offline-done' as const), session: bytes(8), counter: u48, id: u48, mac: bytes(16) }),
  fc.record({ type: fc.constant('offline-receipt' as const), id: u48, to: wireName, mac: bytes(16) }),
  fc.record({ type: fc.constant('relay' as const), session: bytes(8), peer: wireName, inner: arbPeerDatagram, mac: bytes(16) }),
  fc.record({ type: fc.constant('relayed' as const), peer: wireName, inner: arbPeerDatagram, mac: bytes(16) }),
  fc.record({ type: fc.constant('handshake-init' as const), sender: u32, name: wireName, ephemeral: bytes(32), identity: bytes(32), signature: bytes(64) }),
  fc.record({ type: fc.constant('handshake-response' as const), sender: u32, receiver: u32, ephemeral: bytes(32), identity: bytes(32), signature: bytes(64) }),
  fc.record({ type: fc.constant('data' as const), receiver: u32, counter: u48, ciphertext: fc.uint8Array({ minLength: 16, maxLength: 1100 }).map((b) => Buffer.from(b)) }),
);
