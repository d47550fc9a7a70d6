/**
 * Bounded big-endian byte reading and writing for the qim protocol's binary codecs. The reader
 * never throws: any read past the end marks it failed and returns zeros, and the decoder checks
 * `ok` once at the end. That keeps decoders short and makes "random bytes never throw" structural.
 */
import { canonicalAddress, type Endpoint } from '../endpoint.js';
import { isIPv4 } from 'node:net';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A copy of `bytes` in a memory block of its own. Small buffers made by Buffer.from() are slices of
 * a shared 8 KiB pool, and one kept for long (a user's key, for a whole session) keeps its whole
 * slab alive: a server holding a key per user would hold a slab per few users.
 */
export function ownBytes(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}

/** Reads fields from a byte array, failing softly. */
export class ByteReader {
  #at = 0;
  #ok = true;

  constructor(private readonly bytes: Uint8Array) {}

  /** False once any read ran past the end or met a malformed field. */
  get ok(): boolean {
    return this.#ok;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  /** Marks the input malformed. */
  fail(): void {
    this.#ok = false;
  }

  /** Where the next `n` bytes start, consumed; -1 (and failed) when they are not there. */
  #need(n: number): number {
    const at = this.#at;
    if (!this.#ok || at + n > this.bytes.length) {
      this.#ok = false;
      return -1;
    }
    this.#at = at + n;
    return at;
  }

  #take(n: number): Uint8Array | null {
    const at = this.#need(n);
    return at < 0 ? null : this.bytes.subarray(at, at + n);
  }

  // The integers are read straight from the array: no view per field (a decoder reads several
  // per datagram, and a server decodes every datagram it gets).

  u8(): number {
    const at = this.#need(1);
    return at < 0 ? 0 : (this.bytes[at] as number);
  }

  u16(): number {
    const at = this.#need(2);
    const b = this.bytes;
    return at < 0 ? 0 : ((b[at] as number) << 8) | (b[at + 1] as number);
  }

  u32(): number {
    const at = this.#need(4);
    const b = this.bytes;
    return at < 0 ? 0 : (b[at] as number) * 0x100_0000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number));
  }

  /** A 48-bit unsigned integer stored in 8 bytes (the top two must be zero). */
  u64(): number {
    const hi = this.u16();
    if (hi !== 0) this.fail();
    const high = this.u16();
    const low = this.u32();
    return high * 0x1_0000_0000 + low;
  }

  /** The next byte without reading it, or -1 at the end. */
  peek(): number {
    return this.#ok ? (this.bytes[this.#at] ?? -1) : -1;
  }

  /** Exactly `n` bytes, copied. */
  fixed(n: number): Buffer {
    const b = this.#take(n);
    return b === null ? Buffer.alloc(n) : Buffer.from(b);
  }

  /** The rest of the input, copied. */
  rest(): Buffer {
    return this.fixed(this.remaining);
  }

  /** UTF-8 text with a one-byte length, at most `max` bytes. */
  str8(max = 255): string {
    const n = this.u8();
    if (n > max) this.fail();
    const b = this.#take(n);
    if (b === null) return '';
    try {
      return utf8.decode(b);
    } catch {
      this.fail();
      return '';
    }
  }

  /** Bytes with a two-byte length, at most `max`. */
  bytes16(max = 0xffff): Buffer {
    const n = this.u16();
    if (n > max) this.fail();
    return this.fixed(n);
  }

  /** An endpoint: family (4 or 6), address bytes, port (1 to 65535). */
  endpoint(): Endpoint {
    const family = this.u8();
    if (family !== 4 && family !== 6) this.fail();
    const raw = this.fixed(family === 6 ? 16 : 4);
    const port = this.u16();
    if (port === 0) this.fail();
    const text = family === 6 ? (raw.toString('hex').match(/.{4}/g) ?? []).join(':') : [...raw].join('.');
    const address = canonicalAddress(text);
    if (address === null) this.fail();
    return { address: address ?? '0.0.0.0', port };
  }

  /** True when everything was read and nothing failed. */
  done(): boolean {
    return this.#ok && this.#at === this.bytes.length;
  }
}

/** Appends fields to a growing buffer. */
export class ByteWriter {
  #buf: Buffer;
  #at = 0;

  constructor(initial = 128) {
    this.#buf = Buffer.allocUnsafe(initial);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(next, 0, 0, this.#at);
    this.#buf = next;
  }

  u8(v: number): this {
    this.#room(1);
    this.#buf[this.#at++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.#room(2);
    this.#buf.writeUInt16BE(v, this.#at);
    this.#at += 2;
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#buf.writeUInt32BE(v >>> 0, this.#at);
    this.#at += 4;
    return this;
  }

  /** A non-negative integer below 2^48, in 8 bytes. */
  u64(v: number): this {
    this.#room(8);
    this.#buf.writeUInt16BE(0, this.#at);
    this.#buf.writeUIntBE(v, this.#at + 2, 6);
    this.#at += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
    return this;
  }

  /** UTF-8 text with a one-byte length; throws RangeError past `max` bytes (a caller bug). */
  str8(text: string, max = 255): this {
    const b = Buffer.from(text, 'utf8');
    if (b.length > max) throw new RangeError(`text of ${b.length} bytes exceeds ${max}`);
    return this.u8(b.length).raw(b);
  }

  bytes16(bytes: Uint8Array): this {
    if (bytes.length > 0xffff) throw new RangeError('field longer than 65535 bytes');
    return this.u16(bytes.length).raw(bytes);
  }

  endpoint(ep: Endpoint): this {
    if (isIPv4(ep.address)) return this.u8(4).raw(Uint8Array.from(ep.address.split('.').map(Number))).u16(ep.port);
    const groups = expandIPv6(ep.address);
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
    return this.u8(6).raw(b).u16(ep.port);
  }

  /** The bytes written so far (a view). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#at);
  }
}

function expandIPv6(address: string): number[] {
  const bare = address.split('%')[0] ?? address;
  const [head = '', tail] = bare.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
