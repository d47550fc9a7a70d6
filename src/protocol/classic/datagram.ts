/**
 * The classic UDP datagrams (docs/PROTOCOL.md, "Classic protocol"): comma-separated text in
 * UTF-16LE (.NET `Encoding.Unicode`), no BOM, no terminator, no escaping.
 *
 * Pure: no sockets, no clocks. Decoding never throws; it returns a typed drop reason instead.
 */
import { QimError } from '../../errors.js';
import { formatEndpoint, parseEndpoint, parsePort, type Endpoint } from '../endpoint.js';
import type { Decoded } from '../result.js';

/** Every datagram of the classic protocol. */
export type ClassicDatagram =
  | { readonly kind: 'login'; readonly name: string; readonly endpoint: Endpoint }
  | { readonly kind: 'logout'; readonly name: string; readonly endpoint: Endpoint }
  | { readonly kind: 'accept'; readonly tcpPort: number }
  | { readonly kind: 'refuse'; readonly reason: string }
  | { readonly kind: 'talk'; readonly time: string; readonly sender: string; readonly text: string };

/** The largest classic datagram we read or write, in bytes (LIMITS.md: `classicMaxDatagramBytes`). */
export const CLASSIC_MAX_DATAGRAM_BYTES = 8192;

// `fatal` makes a lone surrogate an error instead of a silent U+FFFD, so what we decode is exactly
// what was sent and a re-encode gives the same bytes.
const utf16 = new TextDecoder('utf-16le', { fatal: true });

/** True when the first two bytes look like the start of a classic datagram (a UTF-16LE letter). */
export function looksClassic(bytes: Uint8Array): boolean {
  const lo = bytes[0];
  const hi = bytes[1];
  if (lo === undefined || hi !== 0) return false;
  return (lo >= 0x41 && lo <= 0x5a) || (lo >= 0x61 && lo <= 0x7a);
}

/**
 * Decodes one classic datagram.
 *
 * Field rules (what a comma does where the seed has no escaping):
 * - `login` / `logout`: the first field is the command, the last is `IP:port`, everything between is
 *   the name. A name with a comma therefore decodes whole, and the caller refuses it by policy.
 * - `talk`: time, sender, then everything after the third comma is the text, commas included.
 * - `Accept`: exactly one port. `Refuse`: everything after the first comma is the reason.
 */
export function decodeClassic(bytes: Uint8Array, maxBytes = CLASSIC_MAX_DATAGRAM_BYTES): Decoded<ClassicDatagram> {
  if (bytes.length === 0) return { ok: false, reason: 'empty' };
  if (bytes.length > maxBytes) return { ok: false, reason: 'oversized' };
  if (bytes.length % 2 !== 0) return { ok: false, reason: 'odd-length' };
  let text: string;
  try {
    text = utf16.decode(bytes);
  } catch {
    return { ok: false, reason: 'bad-encoding' };
  }
  const comma = text.indexOf(',');
  const command = comma < 0 ? text : text.slice(0, comma);
  const rest = comma < 0 ? '' : text.slice(comma + 1);
  switch (command) {
    case 'login':
    case 'logout': {
      const last = rest.lastIndexOf(',');
      if (comma < 0 || last < 0) return { ok: false, reason: 'missing-field' };
      const endpoint = parseEndpoint(rest.slice(last + 1));
      if (endpoint === null) return { ok: false, reason: 'bad-endpoint' };
      return { ok: true, value: { kind: command, name: rest.slice(0, last), endpoint } };
    }
    case 'Accept': {
      if (comma < 0) return { ok: false, reason: 'missing-field' };
      const tcpPort = parsePort(rest);
      if (tcpPort === null) return { ok: false, reason: 'bad-port' };
      return { ok: true, value: { kind: 'accept', tcpPort } };
    }
    case 'Refuse':
      if (comma < 0) return { ok: false, reason: 'missing-field' };
      return { ok: true, value: { kind: 'refuse', reason: rest } };
    case 'talk': {
      const second = rest.indexOf(',');
      const third = second < 0 ? -1 : rest.indexOf(',', second + 1);
      if (comma < 0 || third < 0) return { ok: false, reason: 'missing-field' };
      return {
        ok: true,
        value: {
          kind: 'talk',
          time: rest.slice(0, second),
          sender: rest.slice(second + 1, third),
          text: rest.slice(third + 1),
        },
      };
    }
    default:
      return { ok: false, reason: 'unknown-command' };
  }
}

/**
 * Encodes one classic datagram. Throws {@link QimError} (`ERR_BAD_NAME`) when a field that cannot
 * hold a comma does (a talk's time or sender): such a datagram would be misread by every receiver.
 */
export function encodeClassic(d: ClassicDatagram): Buffer {
  return Buffer.from(classicText(d), 'utf16le');
}

function classicText(d: ClassicDatagram): string {
  switch (d.kind) {
    case 'login':
    case 'logout':
      return `${d.kind},${d.name},${formatEndpoint(d.endpoint)}`;
    case 'accept':
      return `Accept,${d.tcpPort}`;
    case 'refuse':
      return `Refuse,${d.reason}`;
    case 'talk':
      if (d.time.includes(',') || d.sender.includes(',')) {
        throw new QimError('ERR_BAD_NAME', 'a talk datagram cannot carry a comma in its time or sender');
      }
      return `talk,${d.time},${d.sender},${d.text}`;
  }
}

/**
 * The sender's local time as the seed prints it (`DateTime.Now.ToLongTimeString()` in a culture
 * with a 24-hour clock, e.g. `14:05:33`). Receivers must treat the field as free text: other
 * cultures print `6:19:01` or `6:19:01 AM`.
 */
export function classicTime(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
