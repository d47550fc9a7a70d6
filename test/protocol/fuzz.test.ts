/**
 * Seeded mutation fuzzing of every parser: valid inputs are mutated (bit flips, byte overwrites,
 * truncation, extension, splices of two inputs) and fed to the parser, which must return a result
 * and never throw. 100,000 inputs per parser per run. The seed is printed; replay a failure with
 * QIM_FUZZ_SEED=<seed> npx vitest run test/protocol/fuzz.test.ts
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeClassic, encodeClassic } from '../../src/protocol/classic/datagram.js';
import { DotNetStringReader, encodeList, parseList } from '../../src/protocol/classic/list.js';
import { parseEndpoint } from '../../src/protocol/endpoint.js';
import { decodeV2, encodeV2 } from '../../src/protocol/v2/messages.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/v2/frames.js';
import { frameDatagrams, splitFrames } from '../../src/protocol/v2/stream.js';
import { mulberry32 } from '../helpers/prng.js';
import { arbClassicDatagram, arbEndpoint, arbName, arbV2Message } from '../helpers/arbitraries.js';

const RUNS = 100_000;
const seed = Number(process.env.QIM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz seed=${seed} (QIM_FUZZ_SEED=${seed} replays it)`);

function mutate(corpus: Buffer[], rand: () => number): Buffer {
  const pick = (): Buffer => corpus[Math.floor(rand() * corpus.length)] as Buffer;
  let b = Buffer.from(pick());
  const edits = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 6)) {
      case 0:
        if (b.length > 0) b[at % b.length] = (b[at % b.length] as number) ^ (1 << Math.floor(rand() * 8));
        break;
      case 1:
        if (b.length > 0) b[at % b.length] = Math.floor(rand() * 256);
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      case 3:
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)))]);
        break;
      case 4: {
        const other = pick();
        b = Buffer.concat([b.subarray(0, at), other.subarray(Math.floor(rand() * other.length))]);
        break;
      }
      default:
        if (b.length > 1) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
  }
  return b;
}

function fuzz(corpus: Buffer[], parse: (b: Buffer) => unknown, salt: number): number {
  const rand = mulberry32(seed ^ salt);
  let accepted = 0;
  for (let i = 0; i < RUNS; i++) {
    const input = mutate(corpus, rand);
    let result: unknown;
    try {
      result = parse(input);
    } catch (err) {
      throw new Error(`parser threw on input ${input.toString('hex')} (seed ${seed}, run ${i}): ${String(err)}`);
    }
    if ((result as { ok?: boolean }).ok === true) accepted++;
  }
  return accepted;
}

const sample = <T>(arb: fc.Arbitrary<T>, n: number): T[] => fc.sample(arb, { numRuns: n, seed });

describe(`mutation fuzzing, ${RUNS.toLocaleString('en')} inputs per parser`, () => {
  it('never makes the classic datagram decoder throw', () => {
    const corpus = sample(arbClassicDatagram, 200).map(encodeClassic);
    expect(fuzz(corpus, (b) => decodeClassic(b), 1)).toBeGreaterThan(0);
  });

  it('never makes the qim protocol decoder throw', () => {
    const corpus = sample(arbV2Message, 200).map(encodeV2);
    expect(fuzz(corpus, (b) => decodeV2(b), 2)).toBeGreaterThan(0);
  });

  it('never makes the list reader or list parser throw', () => {
    const lists = sample(fc.array(fc.record({ name: arbName, endpoint: arbEndpoint }), { maxLength: 5 }), 100).map(encodeList);
    const parse = (b: Buffer) => {
      const reader = new DotNetStringReader(4096);
      const mid = b.length >> 1;
      reader.push(b.subarray(0, mid));
      const state = reader.push(b.subarray(mid));
      const final = state.status === 'more' ? reader.end() : state;
      return final.status === 'done' ? parseList(final.text) : { ok: false };
    };
    expect(fuzz(lists, parse, 3)).toBeGreaterThan(0);
  });

  it('never makes the peer frame decoder throw', () => {
    const corpus = [
      encodeFrame({ kind: 'msg', seq: 7, floor: 3, part: 0, parts: 2, bytes: Buffer.from('你好, world') }),
      encodeFrame({ kind: 'ack', ack: { cumulative: 9, ranges: [[11, 12], [15, 20]] } }),
      encodeFrame({ kind: 'typing', typing: true }),
      encodeFrame({ kind: 'skip', floor: 4 }),
      encodeFrame({ kind: 'ping' }),
    ];
    expect(fuzz(corpus, (b) => decodeFrame(b), 5)).toBeGreaterThan(0);
  });

  it('never makes the TCP stream splitter throw', () => {
    const datagrams = sample(arbV2Message, 200).map(encodeV2);
    const corpus = datagrams.map((d, i) => frameDatagrams(i % 3 === 0 ? [d] : [d, datagrams[(i * 7) % datagrams.length] as Buffer]));
    const parse = (b: Buffer) => {
      const frames = splitFrames(b);
      return { ok: frames !== null && frames.every((f) => decodeV2(f).ok) };
    };
    expect(fuzz(corpus, parse, 6)).toBeGreaterThan(0);
  });

  it('never makes the endpoint parser throw', () => {
    const corpus = sample(arbEndpoint, 200).map((e) => Buffer.from(e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`));
    expect(fuzz(corpus, (b) => ({ ok: parseEndpoint(b.toString('latin1')) !== null }), 4)).toBeGreaterThan(0);
  });
});
