import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classicTime, decodeClassic, encodeClassic, looksClassic, type ClassicDatagram } from '../../src/protocol/classic/datagram.js';
import { fixture } from '../helpers/fixtures.js';
import { arbClassicDatagram } from '../helpers/arbitraries.js';

describe('classic datagram codec', () => {
  const golden: [string, ClassicDatagram][] = [
    ['classic/login-alice', { kind: 'login', name: 'alice', endpoint: { address: '127.0.0.1', port: 9001 } }],
    ['classic/logout-alice', { kind: 'logout', name: 'alice', endpoint: { address: '127.0.0.1', port: 9001 } }],
    ['classic/accept-40123', { kind: 'accept', tcpPort: 40123 }],
    ['classic/refuse-name-taken', { kind: 'refuse', reason: 'name taken' }],
    ['classic/talk-chinese', { kind: 'talk', time: '14:05:33', sender: '剑痴', text: '你好' }],
  ];

  it.each(golden)('encodes %s to its golden bytes', (name, message) => {
    expect(encodeClassic(message).toString('hex')).toBe(fixture(name).toString('hex'));
  });

  it.each(golden)('decodes the golden bytes of %s', (name, message) => {
    expect(decodeClassic(fixture(name))).toEqual({ ok: true, value: message });
  });

  it('decodes what it encodes, Chinese names and emoji included', () => {
    fc.assert(
      fc.property(arbClassicDatagram, (m) => {
        expect(decodeClassic(encodeClassic(m))).toEqual({ ok: true, value: m });
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = decodeClassic(bytes);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on mutations of valid datagrams', () => {
    fc.assert(
      fc.property(arbClassicDatagram, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (m, edits, cut) => {
        const bytes = Buffer.from(encodeClassic(m));
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        decodeClassic(bytes);
        decodeClassic(bytes.subarray(0, cut % (bytes.length + 1)));
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps everything after the third comma of a talk', () => {
    const bytes = Buffer.from('talk,6:19:01 AM,bob,one, two, three', 'utf16le');
    expect(decodeClassic(bytes)).toEqual({
      ok: true,
      value: { kind: 'talk', time: '6:19:01 AM', sender: 'bob', text: 'one, two, three' },
    });
  });

  it('reads a login name with a comma whole, so the server can refuse it', () => {
    const bytes = Buffer.from('login,a,b,127.0.0.1:9001', 'utf16le');
    expect(decodeClassic(bytes)).toMatchObject({ ok: true, value: { kind: 'login', name: 'a,b' } });
  });

  it('reads an IPv6 endpoint written the .NET way', () => {
    const bytes = Buffer.from('login,alice,[::1]:9001', 'utf16le');
    expect(decodeClassic(bytes)).toMatchObject({ ok: true, value: { endpoint: { address: '::1', port: 9001 } } });
  });

  const bad: [string, Uint8Array, string][] = [
    ['an empty datagram', new Uint8Array(0), 'empty'],
    ['an odd length', Buffer.from([0x6c, 0x00, 0x6f]), 'odd-length'],
    ['an oversized datagram', Buffer.alloc(8194, 0x61), 'oversized'],
    ['a lone surrogate', Buffer.from([0x6c, 0x00, 0x00, 0xd8]), 'bad-encoding'],
    ['an unknown command', Buffer.from('hello', 'utf16le'), 'unknown-command'],
    ['a login without an endpoint', Buffer.from('login,alice', 'utf16le'), 'missing-field'],
    ['a bare login', Buffer.from('login', 'utf16le'), 'missing-field'],
    ['port 0', Buffer.from('login,alice,127.0.0.1:0', 'utf16le'), 'bad-endpoint'],
    ['a port over 65535', Buffer.from('login,alice,127.0.0.1:65536', 'utf16le'), 'bad-endpoint'],
    ['a shortened IPv4 address', Buffer.from('login,alice,127.1:9001', 'utf16le'), 'bad-endpoint'],
    ['an IPv6 address without brackets', Buffer.from('login,alice,::1:9001', 'utf16le'), 'bad-endpoint'],
    ['an Accept without a number', Buffer.from('Accept,http', 'utf16le'), 'bad-port'],
    ['a talk with two fields', Buffer.from('talk,12:00:00,bob', 'utf16le'), 'missing-field'],
    ['a command in the wrong case', Buffer.from('LOGIN,alice,127.0.0.1:9001', 'utf16le'), 'unknown-command'],
  ];

  it.each(bad)('drops %s with a reason', (_what, bytes, reason) => {
    expect(decodeClassic(bytes)).toEqual({ ok: false, reason });
  });

  it('refuses to encode a talk whose sender has a comma', () => {
    expect(() => encodeClassic({ kind: 'talk', time: '1', sender: 'a,b', text: 'x' })).toThrow(/comma/);
  });

  it('tells classic datagrams by their first UTF-16LE letter', () => {
    expect(looksClassic(fixture('classic/login-alice'))).toBe(true);
    expect(looksClassic(fixture('classic/accept-40123'))).toBe(true);
    expect(looksClassic(Uint8Array.from([0x01, 0x00]))).toBe(false);
    expect(looksClassic(Uint8Array.from([0x6c, 0x01]))).toBe(false);
    expect(looksClassic(Uint8Array.from([0x6c]))).toBe(false);
  });

  it('writes the time as a 24-hour HH:MM:SS', () => {
    expect(classicTime(new Date(2026, 0, 2, 6, 7, 8))).toBe('06:07:08');
    expect(classicTime(new Date(2026, 0, 2, 23, 59, 0))).toBe('23:59:00');
  });
});
