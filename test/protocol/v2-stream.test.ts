import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeV2, encodeV2 } from '../../src/protocol/v2/messages.js';
import { firstFrameBytes, frameDatagrams, splitFrames } from '../../src/protocol/v2/stream.js';
import { arbV2Message } from '../helpers/arbitraries.js';
import { fixture } from '../helpers/fixtures.js';

describe('qim datagrams over TCP', () => {
  it('splits exactly what it frames', () => {
    fc.assert(
      fc.property(fc.array(arbV2Message, { minLength: 0, maxLength: 6 }), (messages) => {
        const datagrams = messages.map(encodeV2);
        const stream = frameDatagrams(datagrams);
        expect(splitFrames(stream)).toEqual(datagrams);
        if (datagrams.length > 0) expect(firstFrameBytes(stream)).toBe(2 + (datagrams[0]?.length ?? 0));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a stream cut short, a zero length, or a length above 1,200', () => {
    const one = frameDatagrams([encodeV2({ type: 'hello', nonce: Buffer.alloc(16) })]);
    expect(splitFrames(one.subarray(0, one.length - 1))).toBeNull();
    expect(splitFrames(one.subarray(0, 1))).toBeNull();
    expect(splitFrames(Buffer.from([0, 0]))).toBeNull();
    expect(splitFrames(Buffer.concat([Buffer.from([0x04, 0xb1]), Buffer.alloc(1201, 2)]))).toBeNull();
    expect(firstFrameBytes(Buffer.from([0x04]))).toBeNull();
    expect(() => frameDatagrams([Buffer.alloc(0)])).toThrow(RangeError);
  });

  it('matches the golden bytes of a framed LIST-REQUEST', () => {
    const seq = (n: number, from: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));
    const request = encodeV2({ type: 'list-request', session: seq(8, 1), counter: 7, listVersion: 42, mac: seq(16, 0xf0) });
    expect(frameDatagrams([request]).toString('hex')).toBe(fixture('v2/tcp-list-request').toString('hex'));
    const [only] = splitFrames(fixture('v2/tcp-list-request')) ?? [];
    expect(only !== undefined && decodeV2(only).ok).toBe(true);
  });
});
