import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { open, ReplayWindow, seal, SecureChannel } from '../../src/crypto/channel.js';
import { DATA_HEADER_BYTES, dataHeader, decodeV2, encodeV2, writeDataHeader } from '../../src/protocol/v2/messages.js';

const key = randomBytes(32);
const aad = Buffer.from('header');

describe('encrypted channel', () => {
  it('opens what it seals, and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 2 ** 40 }), (plain, counter) => {
        const sealed = seal(key, counter, plain, aad);
        expect(open(key, counter, sealed, aad)).toEqual(Buffer.from(plain));
        expect(open(key, counter + 1, sealed, aad)).toBeNull();
        expect(open(key, counter, sealed, Buffer.from('other'))).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('seals the very bytes node:crypto does (RFC 8439 ChaCha20-Poly1305, the counter nonce)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), fc.nat({ max: 2 ** 47 }), (plain, header, counter) => {
        const iv = Buffer.alloc(12);
        iv.writeUIntLE(counter, 4, 6);
        const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 });
        c.setAAD(header, { plaintextLength: plain.length });
        const expected = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
        expect(seal(key, counter, plain, header).equals(expected)).toBe(true);
        expect(open(key, counter, expected, header)?.equals(plain)).toBe(true);
      }),
    );
  });

  it('rejects every single-bit flip of a sealed message', () => {
    const sealed = seal(key, 7, Buffer.from('message 你好'), aad);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(open(key, 7, bad, aad)).toBeNull();
    }
  });

  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer(), (bytes, counter) => {
        expect(open(key, counter, bytes, aad)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('accepts each message once, in any order within the window', () => {
    const a2b = randomBytes(32);
    const b2a = randomBytes(32);
    const alice = new SecureChannel(a2b, b2a);
    const bob = new SecureChannel(b2a, a2b);
    const sent = Array.from({ length: 50 }, (_, i) => alice.seal(Buffer.from(`m${i}`), aad));
    const shuffled = [...sent].reverse();
    for (const m of shuffled) expect(bob.open(m.counter, m.ciphertext, aad)?.toString()).toBe(`m${m.counter}`);
    for (const m of sent) expect(bob.open(m.counter, m.ciphertext, aad)).toBeNull();
  });

  it('seals a DATA datagram in place exactly as seal and encodeV2 would make it', () => {
    const a2b = randomBytes(32);
    const alice = new SecureChannel(a2b, randomBytes(32));
    const bob = new SecureChannel(randomBytes(32), a2b);
    for (let i = 0; i < 20; i++) {
      const plain = randomBytes(i * 7);
      const datagram = alice.sealDatagram(plain, DATA_HEADER_BYTES, (out, counter) => writeDataHeader(out, 0xfedcba98, counter));
      const expected = encodeV2({ type: 'data', receiver: 0xfedcba98, counter: i, ciphertext: seal(a2b, i, plain, dataHeader(0xfedcba98, i)) });
      expect(datagram.equals(expected)).toBe(true);
      const d = decodeV2(datagram);
      if (!d.ok || d.value.type !== 'data') throw new Error('not a DATA');
      expect(bob.open(d.value.counter, d.value.ciphertext, dataHeader(d.value.receiver, d.value.counter))?.equals(plain)).toBe(true);
    }
  });

  it('refuses a counter older than the replay window', () => {
    const w = new ReplayWindow(64);
    w.accept(1000);
    expect(w.fresh(936)).toBe(false);
    expect(w.fresh(937)).toBe(true);
    w.accept(937);
    expect(w.fresh(937)).toBe(false);
    w.accept(5000);
    expect(w.fresh(4999)).toBe(true);
    expect(w.fresh(1000)).toBe(false);
  });

  it('does not let a forged message burn a counter', () => {
    const k = randomBytes(32);
    const rx = new SecureChannel(randomBytes(32), k);
    const good = seal(k, 3, Buffer.from('real'), aad);
    expect(rx.open(3, randomBytes(good.length), aad)).toBeNull();
    expect(rx.open(3, good, aad)?.toString()).toBe('real');
  });
});
