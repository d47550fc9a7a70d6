/**
 * The classic online list, sent once over TCP: `name1,IP1:port1;name2,IP2:port2;...;end`, framed
 * as .NET `BinaryWriter.Write(string)` frames a string (a 7-bit variable-length byte count, low
 * group first, then UTF-8).
 *
 * Pure: the incremental reader takes chunks as they arrive, split anywhere.
 */
import { formatEndpoint, parseEndpoint, type Endpoint } from '../endpoint.js';
import type { Decoded, DropReason } from '../result.js';

/** One user in the classic list. */
export interface ListEntry {
  readonly name: string;
  readonly endpoint: Endpoint;
}

/** The largest list we accept, in UTF-8 bytes (LIMITS.md: `classicMaxListBytes`). */
export const CLASSIC_MAX_LIST_BYTES = 16 * 1024 * 1024;

/** .NET's 7-bit encoded int is an Int32: at most five groups. */
const MAX_VARINT_BYTES = 5;

/** Formats the list text, including the `end` terminator. */
export function formatList(entries: Iterable<ListEntry>): string {
  let text = '';
  for (const e of entries) text += `${e.name},${formatEndpoint(e.endpoint)};`;
  return `${text}end`;
}

/** The 7-bit variable-length prefix .NET writes before a string's UTF-8 bytes. */
export function encodeLengthPrefix(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** Frames `text` as `BinaryWriter.Write(string)` does. */
export function encodeDotNetString(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([encodeLengthPrefix(body.length), body]);
}

/** The list as it goes on the wire. */
export function encodeList(entries: Iterable<ListEntry>): Buffer {
  return encodeDotNetString(formatList(entries));
}

/**
 * Parses list text. Each entry is split at its *last* comma, so a name with a comma (which a
 * seed server would happily list) still parses; an entry without a valid endpoint fails the list.
 */
export function parseList(text: string): Decoded<ListEntry[]> {
  if (!text.endsWith('end')) return { ok: false, reason: 'bad-list' };
  const body = text.slice(0, -3);
  if (body.length > 0 && !body.endsWith(';')) return { ok: false, reason: 'bad-list' };
  const entries: ListEntry[] = [];
  if (body.length === 0) return { ok: true, value: entries };
  for (const item of body.slice(0, -1).split(';')) {
    const comma = item.lastIndexOf(',');
    if (comma < 0) return { ok: false, reason: 'bad-list' };
    const endpoint = parseEndpoint(item.slice(comma + 1));
    if (endpoint === null) return { ok: false, reason: 'bad-endpoint' };
    entries.push({ name: item.slice(0, comma), endpoint });
  }
  return { ok: true, value: entries };
}

/** Progress of a {@link DotNetStringReader}. */
export type StringReadState =
  | { readonly status: 'more' }
  | { readonly status: 'done'; readonly text: string }
  | { readonly status: 'error'; readonly reason: DropReason };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads one `BinaryWriter.Write(string)` frame from a byte stream split at arbitrary points.
 * States: reading the length prefix, reading the body, done, failed. Once done or failed it stays
 * so; bytes after the frame are an error (the classic server closes right after the list).
 */
export class DotNetStringReader {
  #length = 0;
  #shift = 0;
  #prefixBytes = 0;
  #prefixDone = false;
  #chunks: Buffer[] = [];
  #received = 0;
  #final: StringReadState | null = null;
  readonly #maxBytes: number;

  constructor(maxBytes = CLASSIC_MAX_LIST_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds the next chunk and returns where the frame stands. */
  push(chunk: Uint8Array): StringReadState {
    if (this.#final !== null) {
      if (chunk.length > 0 && this.#final.status === 'done') this.#final = { status: 'error', reason: 'bad-length' };
      return this.#final;
    }
    let offset = 0;
    while (!this.#prefixDone && offset < chunk.length) {
      const byte = chunk[offset++] as number;
      this.#length += (byte & 0x7f) * 2 ** this.#shift;
      this.#shift += 7;
      this.#prefixBytes++;
      if ((byte & 0x80) === 0) {
        this.#prefixDone = true;
      } else if (this.#prefixBytes >= MAX_VARINT_BYTES) {
        return this.#fail('bad-length');
      }
    }
    if (!this.#prefixDone) return { status: 'more' };
    if (this.#length > this.#maxBytes) return this.#fail('oversized');
    if (offset < chunk.length) {
      const body = Buffer.from(chunk.buffer, chunk.byteOffset + offset, chunk.length - offset);
      this.#chunks.push(body);
      this.#received += body.length;
    }
    if (this.#received > this.#length) return this.#fail('bad-length');
    if (this.#received < this.#length) return { status: 'more' };
    let text: string;
    try {
      text = utf8.decode(Buffer.concat(this.#chunks, this.#received));
    } catch {
      return this.#fail('bad-encoding');
    }
    this.#chunks = [];
    this.#final = { status: 'done', text };
    return this.#final;
  }

  /** Call when the stream ends: a frame still incomplete then is truncated. */
  end(): StringReadState {
    if (this.#final !== null) return this.#final;
    return this.#fail('bad-length');
  }

  #fail(reason: DropReason): StringReadState {
    this.#chunks = [];
    this.#final = { status: 'error', reason };
    return this.#final;
  }
}
