/**
 * What travels inside an encrypted DATA datagram between two peers: one frame per datagram.
 *
 *   01 MSG     seq u32, floor u32, part u16, parts u16, bytes (the rest): one fragment of a message
 *   02 ACK     cumulative u32, count u8, count × (start u32, end u32)
 *   03 TYPING  typing u8 (0 or 1)
 *   04 SKIP    floor u32: every seq below it was given up by the sender
 *   05 PING    nothing: keeps a path and its NAT bindings alive (never acknowledged)
 *
 * Pure; decoding never throws.
 */
import type { Ack } from '../../reliability/ack.js';
import type { Decoded } from '../result.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { MAX_PEER_DATAGRAM } from './messages.js';

export type Frame =
  | { kind: 'msg'; seq: number; floor: number; part: number; parts: number; bytes: Buffer }
  | { kind: 'ack'; ack: Ack }
  | { kind: 'typing'; typing: boolean }
  | { kind: 'skip'; floor: number }
  | { kind: 'ping' };

/** DATA overhead: header 14 bytes, tag 16. */
const DATA_OVERHEAD = 30;
/** MSG frame header bytes. */
const MSG_HEADER = 13;
/** The most message bytes one fragment carries, so that its DATA fits a peer datagram (and a RELAY). */
export const MAX_FRAGMENT_BYTES = MAX_PEER_DATAGRAM - DATA_OVERHEAD - MSG_HEADER;
/** Ack ranges in one ACK frame. */
export const MAX_ACK_RANGES = 16;
/**
 * Where a MSG's part, parts and bytes start: from here on the frame is the reliable layer's
 * payload as PeerSession fragments a message (part u16, parts u16, bytes), read in place.
 */
export const MSG_PAYLOAD_AT = 9;

/** A MSG frame around `payload` (part u16, parts u16, bytes): one buffer, one copy. */
export function encodeMsgFrame(seq: number, floor: number, payload: Uint8Array): Buffer {
  if (payload.length < 4) throw new RangeError('a MSG payload starts with part and parts');
  if (payload.length - 4 > MAX_FRAGMENT_BYTES) throw new RangeError('fragment too large');
  const out = Buffer.allocUnsafe(MSG_PAYLOAD_AT + payload.length);
  out[0] = 1;
  out.writeUInt32BE(seq >>> 0, 1);
  out.writeUInt32BE(floor >>> 0, 5);
  out.set(payload, MSG_PAYLOAD_AT);
  return out;
}

export function encodeFrame(f: Frame): Buffer {
  const w = new ByteWriter(frameBytes(f));
  switch (f.kind) {
    case 'msg':
      if (f.bytes.length > MAX_FRAGMENT_BYTES) throw new RangeError('fragment too large');
      w.u8(1).u32(f.seq).u32(f.floor).u16(f.part).u16(f.parts).raw(f.bytes);
      break;
    case 'ack': {
      const ranges = f.ack.ranges.slice(0, MAX_ACK_RANGES);
      w.u8(2).u32(f.ack.cumulative).u8(ranges.length);
      for (const [a, b] of ranges) w.u32(a).u32(b);
      break;
    }
    case 'typing':
      w.u8(3).u8(f.typing ? 1 : 0);
      break;
    case 'skip':
      w.u8(4).u32(f.floor);
      break;
    case 'ping':
      w.u8(5);
      break;
  }
  return w.finish();
}

/** The encoded size of `f` (so that it is written into one buffer of exactly that size). */
function frameBytes(f: Frame): number {
  switch (f.kind) {
    case 'msg':
      return MSG_HEADER + f.bytes.length;
    case 'ack':
      return 6 + 8 * Math.min(f.ack.ranges.length, MAX_ACK_RANGES);
    case 'typing':
      return 2;
    case 'skip':
      return 5;
    case 'ping':
      return 1;
  }
}

export function decodeFrame(bytes: Uint8Array): Decoded<Frame> {
  const r = new ByteReader(bytes);
  let f: Frame;
  switch (r.u8()) {
    case 1: {
      const seq = r.u32();
      const floor = r.u32();
      const part = r.u16();
      const parts = r.u16();
      if (parts === 0 || part >= parts) r.fail();
      f = { kind: 'msg', seq, floor, part, parts, bytes: r.rest() };
      break;
    }
    case 2: {
      const cumulative = r.u32();
      const n = r.u8();
      if (n > MAX_ACK_RANGES) r.fail();
      const ranges: [number, number][] = [];
      for (let i = 0; i < n && r.ok; i++) ranges.push([r.u32(), r.u32()]);
      f = { kind: 'ack', ack: { cumulative, ranges } };
      break;
    }
    case 3: {
      const t = r.u8();
      if (t > 1) r.fail();
      f = { kind: 'typing', typing: t === 1 };
      break;
    }
    case 4:
      f = { kind: 'skip', floor: r.u32() };
      break;
    case 5:
      f = { kind: 'ping' };
      break;
    default:
      return { ok: false, reason: 'unknown-command' };
  }
  return r.done() ? { ok: true, value: f } : { ok: false, reason: 'missing-field' };
}
