import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DotNetStringReader,
  encodeDotNetString,
  encodeLengthPrefix,
  encodeList,
  formatList,
  parseList,
  type StringReadState,
} from '../../src/protocol/classic/list.js';
import { arbEndpoint, arbName, arbText } from '../helpers/arbitraries.js';
import { fixture } from '../helpers/fixtures.js';

const aliceBob = [
  { name: 'alice', endpoint: { address: '127.0.0.1', port: 9001 } },
  { name: 'bob', endpoint: { address: '127.0.0.1', port: 9002 } },
];

/** Feeds `bytes` to a fresh reader in the given chunk sizes (cycled) and returns the last state. */
function readInChunks(bytes: Uint8Array, sizes: number[], maxBytes?: number): StringReadState {
  const reader = new DotNetStringReader(maxBytes);
  let state: StringReadState = { status: 'more' };
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    state = reader.push(bytes.subarray(at, at + size));
    at += size;
  }
  return state.status === 'more' ? reader.end() : state;
}

describe('classic list codec', () => {
  it('encodes the golden list bytes', () => {
    expect(encodeList(aliceBob).toString('hex')).toBe(fixture('classic/list-alice-bob').toString('hex'));
  });

  it('parses the golden list', () => {
    const state = readInChunks(fixture('classic/list-alice-bob'), [1000]);
    expect(state.status).toBe('done');
    if (state.status !== 'done') return;
    expect(parseList(state.text)).toEqual({ ok: true, value: aliceBob });
  });

  it('writes 300 as the two-byte prefix ac 02', () => {
    expect(encodeLengthPrefix(300).toString('hex')).toBe(fixture('classic/varint-300').toString('hex'));
    expect(encodeDotNetString('x'.repeat(300)).subarray(0, 2).toString('hex')).toBe('ac02');
  });

  it('reads the list fed one byte at a time and at every split point', () => {
    const bytes = encodeList([...aliceBob, { name: '剑痴😀', endpoint: { address: '::1', port: 1 } }]);
    expect(readInChunks(bytes, [1])).toMatchObject({ status: 'done' });
    for (let split = 0; split <= bytes.length; split++) {
      const reader = new DotNetStringReader();
      reader.push(bytes.subarray(0, split));
      expect(reader.push(bytes.subarray(split))).toMatchObject({ status: 'done', text: expect.stringMatching(/end$/) });
    }
  });

  it('reads any string fed in any chunking', () => {
    fc.assert(
      fc.property(arbText, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }), (text, sizes) => {
        expect(readInChunks(encodeDotNetString(text), sizes)).toEqual({ status: 'done', text });
      }),
      { numRuns: 1000 },
    );
  });

  it('parses what it formats', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ name: arbName, endpoint: arbEndpoint }), { maxLength: 20 }), (entries) => {
        expect(parseList(formatList(entries))).toEqual({ ok: true, value: entries });
      }),
      { numRuns: 1000 },
    );
  });

  it('reads a long list with a multi-byte length prefix', () => {
    const many = Array.from({ length: 2000 }, (_, i) => ({ name: `用户${i}`, endpoint: { address: '10.0.0.1', port: 1000 + i } }));
    const state = readInChunks(encodeList(many), [1, 13, 4096]);
    expect(state.status).toBe('done');
    if (state.status === 'done') expect(parseList(state.text)).toEqual({ ok: true, value: many });
  });

  it('never throws on random bytes in random chunks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), (bytes, sizes) => {
        const state = readInChunks(bytes, sizes, 64);
        expect(['done', 'error']).toContain(state.status);
        if (state.status === 'done') parseList(state.text);
      }),
      { numRuns: 3000 },
    );
  });

  it('fails a truncated list when the stream ends', () => {
    const bytes = fixture('classic/list-alice-bob');
    const reader = new DotNetStringReader();
    reader.push(bytes.subarray(0, 10));
    expect(reader.end()).toEqual({ status: 'error', reason: 'bad-length' });
  });

  it('fails a list larger than its limit without buffering it', () => {
    expect(readInChunks(encodeDotNetString('x'.repeat(100)), [1000], 99)).toEqual({ status: 'error', reason: 'oversized' });
  });

  it('fails a length prefix longer than five bytes', () => {
    expect(readInChunks(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), [1])).toEqual({ status: 'error', reason: 'bad-length' });
  });

  it('fails bytes after the string', () => {
    const bytes = Buffer.concat([encodeDotNetString('end'), Buffer.from([0x41])]);
    expect(readInChunks(bytes, [bytes.length])).toEqual({ status: 'error', reason: 'bad-length' });
  });

  it('fails invalid UTF-8', () => {
    expect(readInChunks(Buffer.from([0x02, 0xc3, 0x28]), [3])).toEqual({ status: 'error', reason: 'bad-encoding' });
  });

  it.each([
    ['no end marker', 'alice,127.0.0.1:1;'],
    ['an entry without an endpoint', 'alice;end'],
    ['an entry with a bad endpoint', 'alice,127.0.0.1:0;end'],
    ['a missing separator before end', 'alice,127.0.0.1:1end'],
  ])('rejects a list with %s', (_what, text) => {
    expect(parseList(text).ok).toBe(false);
  });

  it('accepts an empty list and a seed-listed name with a comma', () => {
    expect(parseList('end')).toEqual({ ok: true, value: [] });
    expect(parseList('a,b,127.0.0.1:5;end')).toEqual({ ok: true, value: [{ name: 'a,b', endpoint: { address: '127.0.0.1', port: 5 } }] });
  });
});
