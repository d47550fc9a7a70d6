/**
 * qim datagrams over TCP (docs/PROTOCOL.md, "Resync over TCP"): each one preceded by its length,
 * two bytes big-endian. Pure; parsing never throws.
 */
import { MAX_DATAGRAM } from './messages.js';

/** Frames datagrams for a TCP stream. */
export function frameDatagrams(datagrams: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const d of datagrams) {
    if (d.length === 0 || d.length > MAX_DATAGRAM) throw new RangeError(`cannot frame a datagram of ${d.length} bytes`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(d.length);
    parts.push(len, Buffer.from(d));
  }
  return Buffer.concat(parts);
}

/**
 * Splits a whole stream into its datagrams; null when it is not exactly a sequence of frames (a
 * length of zero or above 1,200, or bytes cut short).
 */
export function splitFrames(stream: Uint8Array): Buffer[] | null {
  const out: Buffer[] = [];
  const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  let at = 0;
  while (at < buf.length) {
    if (at + 2 > buf.length) return null;
    const len = buf.readUInt16BE(at);
    if (len === 0 || len > MAX_DATAGRAM || at + 2 + len > buf.length) return null;
    out.push(Buffer.from(buf.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
  return out;
}

/** How many bytes the first frame of `head` will take in all, once its length is known. */
export function firstFrameBytes(head: Uint8Array): number | null {
  if (head.length < 2) return null;
  return 2 + ((head[0] ?? 0) << 8 | (head[1] ?? 0));
}
