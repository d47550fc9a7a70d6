import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, encodeMsgFrame, MAX_FRAGMENT_BYTES, MSG_PAYLOAD_AT, type Frame } from '../../src/protocol/v2/frames.js';
import { encodeV2, MAX_DATAGRAM, MAX_PEER_DATAGRAM } from '../../src/protocol/v2/messages.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const arbFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({ seq: u32, floor: u32, parts: fc.integer({ min: 1, max: 9 }), bytes: fc.uint8Array({ maxLength: MAX_FRAGMENT_BYTES }) })
    .chain((r) => fc.integer({ min: 0, max: r.parts - 1 }).map((part) => ({ kind: 'msg' as const, ...r, part, bytes: Buffer.from(r.bytes) }))),
  fc.record({ kind: fc.constant('ack' as const), ack: fc.record({ cumulative: u32, ranges: fc.array(fc.tuple(u32, u32), { maxLength: 16 }) }) }),
  fc.record({ kind: fc.constant('typing' as const), typing: fc.boolean() }),
  fc.record({ kind: fc.constant('skip' as const), floor: u32 }),
  fc.constant({ kind: 'ping' as const }),
);

describe('peer frames', () => {
  it('decode what they encode', () => {
    fc.assert(
      fc.property(arbFrame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 2000 },
    );
  });

  it('build a MSG around its payload (part, parts, bytes) byte for byte, and read the payload back in place', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), fc.uint8Array({ maxLength: MAX_FRAGMENT_BYTES }), (seq, floor, part, parts, bytes) => {
        const payload = Buffer.alloc(4 + bytes.length);
        payload.writeUInt16BE(part, 0);
        payload.writeUInt16BE(parts, 2);
        payload.set(bytes, 4);
        const frame = encodeMsgFrame(seq, floor, payload);
        expect(frame.equals(encodeFrame({ kind: 'msg', seq, floor, part, parts, bytes: Buffer.from(bytes) }))).toBe(true);
        expect(frame.subarray(MSG_PAYLOAD_AT).equals(payload)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(() => encodeMsgFrame(1, 0, Buffer.alloc(4 + MAX_FRAGMENT_BYTES + 1))).toThrow(RangeError);
    expect(() => encodeMsgFrame(1, 0, Buffer.alloc(3))).toThrow(RangeError);
  });

  it('never throw on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(typeof decodeFrame(b).ok).toBe('boolean');
      }),
      { numRuns: 5000 },
    );
  });

  it('fit a full fragment in one peer datagram, which a RELAY with the longest name still carries in 1,200 bytes', () => {
    const f = encodeFrame({ kind: 'msg', seq: 1, floor: 0, part: 0, parts: 1, bytes: Buffer.alloc(MAX_FRAGMENT_BYTES) });
    const data = encodeV2({ type: 'data', receiver: 1, counter: 1, ciphertext: Buffer.alloc(f.length + 16) });
    expect(data.length).toBe(MAX_PEER_DATAGRAM);
    const longest = '字'.repeat(32); // 96 bytes of UTF-8
    expect(encodeV2({ type: 'relay', session: Buffer.alloc(8), peer: longest, inner: data, mac: Buffer.alloc(16) }).length).toBeLessThanOrEqual(MAX_DATAGRAM);
    expect(encodeV2({ type: 'relayed', peer: longest, inner: data, mac: Buffer.alloc(16) }).length).toBeLessThanOrEqual(MAX_DATAGRAM);
    expect(() => encodeFrame({ kind: 'msg', seq: 1, floor: 0, part: 0, parts: 1, bytes: Buffer.alloc(MAX_FRAGMENT_BYTES + 1) })).toThrow(RangeError);
  });
});
