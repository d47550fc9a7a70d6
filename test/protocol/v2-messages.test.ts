import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { looksClassic } from '../../src/protocol/classic/datagram.js';
import { dataHeader, decodeV2, encodeV2, HELLO_BYTES, looksV2, MAX_DATAGRAM, type V2Message } from '../../src/protocol/v2/messages.js';
import { arbV2Message } from '../helpers/arbitraries.js';
import { fixture } from '../helpers/fixtures.js';

const seq = (n: number, from = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

describe('qim protocol (v2) codec', () => {
  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(arbV2Message, (m) => {
        const bytes = encodeV2(m);
        expect(bytes.length).toBeLessThanOrEqual(MAX_DATAGRAM);
        expect(decodeV2(bytes)).toEqual({ ok: true, value: m });
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps a leading byte order mark in a string (a decoder strips it by default)', () => {
    const m: V2Message = { type: 'introduce', session: Buffer.alloc(8), counter: 0, peer: '\uFEFFbob', mac: Buffer.alloc(16) };
    expect(decodeV2(encodeV2(m))).toEqual({ ok: true, value: m });
  });

  it('never throws on random bytes, with or without the version byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, versioned) => {
        if (versioned && bytes.length > 0) bytes[0] = 2;
        expect(typeof decodeV2(bytes).ok).toBe('boolean');
      }),
      { numRuns: 5000 },
    );
  });

  it('is never mistaken for classic, nor classic for it', () => {
    fc.assert(
      fc.property(arbV2Message, (m) => {
        const bytes = encodeV2(m);
        expect(looksClassic(bytes)).toBe(false);
        expect(looksV2(bytes)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(looksV2(fixture('classic/login-alice'))).toBe(false);
  });

  it('pads a HELLO so that the COOKIE answering it is smaller', () => {
    const hello = encodeV2({ type: 'hello', nonce: seq(16) });
    const cookie = encodeV2({ type: 'cookie', nonce: seq(16), cookie: seq(16, 100) });
    expect(hello.length).toBe(HELLO_BYTES);
    expect(cookie.length).toBeLessThan(hello.length);
    expect(decodeV2(hello.subarray(0, 63))).toEqual({ ok: false, reason: 'bad-length' });
  });

  const golden: [string, V2Message][] = [
    ['v2/hello', { type: 'hello', nonce: seq(16) }],
    ['v2/cookie', { type: 'cookie', nonce: seq(16), cookie: seq(16, 0xa0) }],
    ['v2/heartbeat', { type: 'heartbeat', session: seq(8, 1), counter: 7, listVersion: 42, mac: seq(16, 0xf0) }],
    ['v2/status', { type: 'status', session: seq(8, 1), counter: 3, status: 'away', mac: seq(16, 0xf0) }],
    ['v2/data', { type: 'data', receiver: 0x01020304, counter: 1, ciphertext: seq(16, 0xe0) }],
    [
      'v2/presence',
      {
        type: 'presence',
        epoch: seq(8, 1),
        fromVersion: 5,
        toVersion: 7,
        part: 0,
        parts: 1,
        entries: [
          { op: 'upsert', name: 'bob', protocol: 'qim', status: 'away', fingerprint: seq(16, 0xa0), endpoint: { address: '192.0.2.7', port: 4000 }, privateEndpoint: { address: '192.0.2.7', port: 4000 } },
          { op: 'remove', name: 'eve' },
        ],
        signature: seq(64, 0xc0),
      },
    ],
    ['v2/list-hold', { type: 'list-hold', epoch: seq(8, 1), version: 300, waitMs: 5000, spreadMs: 1000, signature: seq(64, 0xc0) }],
  ];

  it.each(golden)('matches the golden bytes of %s', (name, m) => {
    expect(encodeV2(m).toString('hex')).toBe(fixture(name).toString('hex'));
    expect(decodeV2(fixture(name))).toEqual({ ok: true, value: m });
  });

  it('authenticates the DATA header bytes as they appear on the wire', () => {
    const d = encodeV2({ type: 'data', receiver: 9, counter: 5, ciphertext: seq(16) });
    expect(dataHeader(9, 5)).toEqual(d.subarray(0, 14));
  });

  it.each([
    ['trailing bytes', Buffer.concat([fixture('v2/cookie'), Buffer.from([0])]), 'missing-field'],
    ['a truncated heartbeat', fixture('v2/heartbeat').subarray(0, 20), 'missing-field'],
    ['an unknown type', Buffer.from([2, 0x7f]), 'unknown-command'],
    ['a counter past 2^48', Buffer.from('0222000000010100000000000001' + 'e0'.repeat(16), 'hex'), 'missing-field'],
    ['a DATA without a tag', Buffer.from('02220000000100000000000000010203', 'hex'), 'missing-field'],
    ['an oversized datagram', Buffer.concat([Buffer.from([2, 0x22]), Buffer.alloc(1300)]), 'oversized'],
  ])('drops %s', (_what, bytes, reason) => {
    expect(decodeV2(bytes)).toEqual({ ok: false, reason });
  });

  it('refuses to encode a name longer than the wire allows', () => {
    expect(() =>
      encodeV2({ type: 'handshake-init', sender: 1, name: '名'.repeat(33), ephemeral: seq(32), identity: seq(32), signature: seq(64) }),
    ).toThrow(RangeError);
  });
});
